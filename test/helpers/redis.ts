/**
 * Real redis-server processes for tests: one server, or a 3-master Redis
 * Cluster, on loopback. A port is never picked and released before use: a random port is tried and,
 * if redis-server cannot bind it, another one. Data dirs live in os.tmpdir() and are removed on stop;
 * every process started here is stopped by stopAllRedis() (call it in afterAll) and, as a last resort,
 * killed when the test process exits.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { redisReady } from '../../bench/lib/redis-servers.js';

const execFileAsync = promisify(execFile);

export const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? 'redis-server';
export const REDIS_CLI = process.env.REDIS_CLI_BIN ?? 'redis-cli';

export interface RedisServer {
  port: number;
  url: string;
  dir: string;
  readonly proc: ChildProcess;
  readonly running: boolean;
  /** Runs redis-cli against this server; stdout, trimmed. */
  cli(...args: string[]): Promise<string>;
  /** SIGKILL: gone at once, no save, no goodbye to clients. */
  kill(): Promise<void>;
  /** Starts again on the same port with an empty data set (no persistence). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  /** Extra redis-server arguments (`--name value` pairs). */
  args?: string[];
  /** A fixed port; otherwise free ports are tried. */
  port?: number;
  /** Also pick a free cluster bus port (cluster mode). */
  cluster?: boolean;
}

const live = new Set<ChildProcess>();
const dirs = new Set<string>();

process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function randomPort(): number {
  // Below the Linux ephemeral range (32768+) so outgoing connections do not take our ports; a cluster
  // bus port is this + 10000, still below it.
  return 12000 + Math.floor(Math.random() * 10000);
}

function exited(proc: ChildProcess): boolean {
  return proc.exitCode !== null || proc.signalCode !== null;
}

interface Launch {
  ok: boolean;
  proc: ChildProcess;
  output: string;
}

/** Starts redis-server on `port`: ok when it accepts connections, not ok if it could not bind. */
async function launch(port: number, dir: string, args: string[], cluster: boolean): Promise<Launch> {
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
    '--loglevel',
    'notice',
    ...(cluster
      ? [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-port',
          String(port + 10000),
          '--cluster-node-timeout',
          '3000',
        ]
      : []),
    ...args,
  ];
  const proc = spawn(REDIS_SERVER, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  let output = '';
  const ok = await redisReady(proc, 10_000, (text) => {
    output = text;
  });
  if (!ok && !exited(proc)) {
    const gone = once(proc, 'exit');
    proc.kill('SIGKILL');
    await gone;
  }
  return { ok, proc, output };
}

const servers = new Set<RedisServer>();

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-redis-'));
  dirs.add(dir);
  const args = opts.args ?? [];
  const cluster = opts.cluster ?? false;
  let port = opts.port ?? randomPort();
  let proc: ChildProcess | null = null;
  let lastOutput = '';
  for (let attempt = 0; attempt < 20; attempt++) {
    const r = await launch(port, dir, args, cluster);
    if (r.ok) {
      proc = r.proc;
      break;
    }
    lastOutput = r.output;
    if (opts.port !== undefined) break;
    port = randomPort();
  }
  if (!proc) throw new Error(`redis-server did not start: ${lastOutput.slice(-500)}`);

  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    get proc() {
      return proc!;
    },
    get running() {
      return !exited(proc!);
    },
    async cli(...cmd: string[]) {
      const { stdout } = await execFileAsync(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...cmd], { timeout: 10_000 });
      return stdout.trim();
    },
    async kill() {
      if (exited(proc!)) return;
      const gone = once(proc!, 'exit');
      proc!.kill('SIGKILL');
      await gone;
    },
    async restart() {
      await server.kill();
      // Same port, empty data: a Redis without persistence after a crash. The port was ours a moment
      // ago (redis-server binds with SO_REUSEADDR), so a few retries cover a slow release.
      rmSync(join(dir, 'dump.rdb'), { force: true });
      for (let attempt = 0; attempt < 50; attempt++) {
        const r = await launch(port, dir, args, cluster);
        if (r.ok) {
          proc = r.proc;
          return;
        }
        lastOutput = r.output;
        await new Promise((res) => setTimeout(res, 100));
      }
      throw new Error(`redis-server did not restart on ${port}: ${lastOutput.slice(-500)}`);
    },
    async stop() {
      if (!exited(proc!)) {
        const gone = once(proc!, 'exit');
        proc!.kill('SIGTERM');
        const t = setTimeout(() => proc!.kill('SIGKILL'), 3000);
        await gone;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
  servers.add(server);
  return server;
}

export interface RedisCluster {
  nodes: RedisServer[];
  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3` */
  url: string;
  seeds: Array<{ host: string; port: number }>;
  stop(): Promise<void>;
}

/** Starts `masters` cluster-enabled servers and joins them with `redis-cli --cluster create`. */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  try {
    for (let i = 0; i < masters; i++) nodes.push(await startRedis({ cluster: true }));
    const addrs = nodes.map((n) => `127.0.0.1:${n.port}`);
    await execFileAsync(REDIS_CLI, ['--cluster', 'create', ...addrs, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    // Every node must agree before clients use it.
    const deadline = Date.now() + 20_000;
    for (const n of nodes) {
      for (;;) {
        const info = await n.cli('cluster', 'info');
        if (/cluster_state:ok/.test(info) && new RegExp(`cluster_known_nodes:${masters}\\b`).test(info)) break;
        if (Date.now() > deadline) throw new Error(`cluster did not converge: ${info}`);
        await new Promise((res) => setTimeout(res, 100));
      }
    }
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
  return {
    nodes,
    url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    seeds: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

/** Stops every server this process started (afterAll). */
export async function stopAllRedis(): Promise<void> {
  await Promise.all([...servers].map((s) => s.stop()));
  servers.clear();
}

export { waitFor } from './wait.js';
