/**
 * redis-server processes for the registry benchmark: one server, or a Redis Cluster of N masters,
 * on loopback ports tried at random until one binds (never picked and released before use), data in a
 * temporary directory. Every process started here is stopped by stopAll() and, as a last resort,
 * killed when this process exits. The readiness wait (`redisReady`) is shared with the tests'
 * helper, test/helpers/redis.ts; the benchmark does not compile test code.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? 'redis-server';
const REDIS_CLI = process.env.REDIS_CLI_BIN ?? 'redis-cli';
const ATTEMPTS = 20;
const START_TIMEOUT_MS = 10_000;

export interface RedisProcs {
  /** `redis://127.0.0.1:p`, or `redis+cluster://127.0.0.1:p1,...` for a cluster. */
  url: string;
  ports: number[];
  stop(): Promise<void>;
}

interface Proc {
  proc: ChildProcess;
  dir: string;
}

function exited(p: ChildProcess): boolean {
  return p.exitCode !== null || p.signalCode !== null;
}

async function stopProc(p: Proc): Promise<void> {
  if (!exited(p.proc)) {
    const gone = once(p.proc, 'exit');
    p.proc.kill('SIGTERM');
    const t = setTimeout(() => p.proc.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  }
  rmSync(p.dir, { recursive: true, force: true });
}

/**
 * Resolves true once a just-spawned redis-server (stdout and stderr piped) says it accepts
 * connections, false when it could not bind, exited, or stayed silent for `timeoutMs`. Shared with
 * test/helpers/redis.ts. `onOutput` receives what the server printed, for error messages.
 */
export function redisReady(proc: ChildProcess, timeoutMs: number, onOutput: (text: string) => void = () => {}): Promise<boolean> {
  let output = '';
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    const finish = (v: boolean): void => {
      clearTimeout(timer);
      resolve(v);
    };
    const onData = (d: Buffer): void => {
      output += d.toString();
      onOutput(output);
      if (/Ready to accept connections/.test(output)) finish(true);
      else if (/Address already in use|Could not create server TCP listening socket/i.test(output)) finish(false);
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', () => finish(false));
    proc.once('error', () => finish(false));
  });
}

/** Starts one redis-server; resolves once it accepts connections. */
async function launch(cluster: boolean, live: Set<Proc>): Promise<{ port: number; p: Proc }> {
  let output = '';
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    // Below the ephemeral range (32768+); a cluster bus port is this + 10000, still below it.
    const port = 12000 + Math.floor(Math.random() * 10000);
    const dir = mkdtempSync(join(tmpdir(), 'mcp-bench-redis-'));
    const argv = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
      '--daemonize',
      'no',
    ];
    if (cluster) argv.push('--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '3000');
    const proc = spawn(REDIS_SERVER, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const p: Proc = { proc, dir };
    live.add(p);
    output = '';
    const ok = await redisReady(proc, START_TIMEOUT_MS, (text) => {
      output = text;
    });
    if (ok) return { port, p };
    live.delete(p);
    await stopProc(p);
  }
  throw new Error(`redis-server did not start: ${output.slice(-500)}`);
}

/** One server (`masters` 0), or a cluster of `masters` joined with `redis-cli --cluster create`. */
export async function startRedis(masters = 0): Promise<RedisProcs> {
  const live = new Set<Proc>();
  const onExit = (): void => {
    for (const p of live) p.proc.kill('SIGKILL');
  };
  process.once('exit', onExit);
  const stop = async (): Promise<void> => {
    process.off('exit', onExit);
    await Promise.all([...live].map(stopProc));
    live.clear();
  };
  try {
    if (masters === 0) {
      const { port } = await launch(false, live);
      return { url: `redis://127.0.0.1:${port}`, ports: [port], stop };
    }
    const ports: number[] = [];
    for (let i = 0; i < masters; i++) ports.push((await launch(true, live)).port);
    await run(REDIS_CLI, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: 30_000,
    });
    const deadline = Date.now() + 20_000;
    for (const port of ports) {
      for (;;) {
        const { stdout } = await run(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), 'cluster', 'info'], { timeout: 10_000 });
        if (/cluster_state:ok/.test(stdout) && new RegExp(`cluster_known_nodes:${masters}\\b`).test(stdout)) break;
        if (Date.now() > deadline) throw new Error(`cluster did not converge: ${stdout}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return { url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`, ports, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
