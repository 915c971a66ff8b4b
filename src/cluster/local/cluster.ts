/**
 * A real local cluster: one redis-server, N nodes on consecutive ports, and HAProxy in front. Used by
 * `npm run cluster`, the cluster tests and the storm benchmarks. Every process it starts is stopped
 * by stop().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { haproxyConfig, parseShowStat } from './haproxy.js';

const MAIN = fileURLToPath(new URL('../../main.js', import.meta.url));

export interface ClusterOptions {
  nodes: number;
  basePort: number;
  lbPort: number;
  redisPort: number;
  /** Extra environment for every node. */
  env?: Record<string, string>;
  /** Workers per node (default 1: three nodes on two cores). */
  workers?: number;
  /** Where node logs go: 'inherit' prints them, 'pipe' keeps them (see ClusterNode.logs). */
  nodeOutput?: 'inherit' | 'pipe' | 'ignore';
  /** Announce progress (the CLI prints; tests stay quiet). */
  say?: (line: string) => void;
  /** HAProxy health-check interval, ms (default 500: a dead node is out after two failed checks). */
  checkIntervalMs?: number;
  /** HAProxy routes requests on their session id's owner tag (default true). */
  ownerRouting?: boolean;
  /**
   * Authorization on every node: the issuer URLs (comma list, MCP_AUTH_ISSUER) and the scopes every
   * request needs (MCP_AUTH_SCOPES). Clients reach the nodes through the balancer, so that is the
   * resource they ask tokens for: every node's public URL is the balancer's (set either way).
   */
  auth?: { issuer: string; scopes?: string };
}

export interface ClusterNode {
  name: string;
  port: number;
  proc: ChildProcess | null;
  logs: string[];
}

export interface Cluster {
  lbUrl: string;
  redisUrl: string;
  secret: string;
  nodes: ClusterNode[];
  /** The redis-server process (fault tests stop and continue it). */
  redis: ChildProcess;
  /** HAProxy's view: "backend/server" → UP, DOWN, ... */
  serverStates(): Promise<Record<string, string>>;
  /** HAProxy's process id (tests read its sockets from /proc). */
  haproxyPid(): number | null;
  /** Resolves when HAProxy sees every running node of the sticky backend UP (or `wanted` of them). */
  waitUp(ms?: number): Promise<void>;
  /** Starts (or restarts) node i and resolves when it listens. */
  startNode(i: number): Promise<void>;
  /** Signals node i and resolves when it has exited. */
  stopNode(i: number, signal?: NodeJS.Signals): Promise<number | null>;
  stop(): Promise<void>;
}

function waitPort(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listens on ${port} after ${ms} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

function exitOf(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((r) => proc.once('exit', (code) => r(code)));
}

export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  const say = o.say ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'mcp-cluster-'));
  const secret = randomBytes(24).toString('base64url');
  const redisUrl = `redis://127.0.0.1:${o.redisPort}`;
  const procs: ChildProcess[] = [];

  const redis = spawn(
    'redis-server',
    ['--port', String(o.redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  procs.push(redis);
  await waitPort(o.redisPort, 5000);
  say(`redis     ${redisUrl}`);

  const nodes: ClusterNode[] = Array.from({ length: o.nodes }, (_, i) => ({
    name: `node${i + 1}`,
    port: o.basePort + i,
    proc: null,
    logs: [],
  }));

  const startNode = async (i: number): Promise<void> => {
    const n = nodes[i];
    const proc = spawn(process.execPath, [MAIN], {
      env: {
        ...process.env,
        PORT: String(n.port),
        HOST: '127.0.0.1',
        NODE_ID: n.name,
        WORKERS: String(o.workers ?? 1),
        REDIS_URL: redisUrl,
        MCP_CLUSTER_SECRET: secret,
        MCP_ADVERTISE_ADDRESS: `127.0.0.1:${n.port}`,
        // HAProxy reaches the nodes from loopback: its X-Forwarded-For names the client for the limits.
        MCP_TRUSTED_PROXIES: '127.0.0.1',
        // The URL clients use (protected resource metadata, the audience tokens must name).
        MCP_PUBLIC_URL: `http://127.0.0.1:${o.lbPort}`,
        ...(o.auth ? { MCP_AUTH_ISSUER: o.auth.issuer, ...(o.auth.scopes ? { MCP_AUTH_SCOPES: o.auth.scopes } : {}) } : {}),
        ...o.env,
      },
      stdio: [
        'ignore',
        o.nodeOutput === 'pipe' ? 'pipe' : (o.nodeOutput ?? 'ignore'),
        o.nodeOutput === 'pipe' ? 'pipe' : (o.nodeOutput ?? 'ignore'),
      ],
    });
    n.proc = proc;
    if (o.nodeOutput === 'pipe') {
      const keep = (d: Buffer): void => {
        for (const line of d.toString('utf8').split('\n')) if (line) n.logs.push(line);
        if (n.logs.length > 5000) n.logs.splice(0, n.logs.length - 5000);
      };
      proc.stdout!.on('data', keep);
      proc.stderr!.on('data', keep);
    }
    await Promise.race([
      waitPort(n.port, 15_000),
      exitOf(proc).then((code) => {
        throw new Error(`${n.name} exited with ${code} while starting`);
      }),
    ]);
    say(`${n.name.padEnd(9)} http://127.0.0.1:${n.port}/mcp`);
  };

  const stopNode = async (i: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    const proc = nodes[i].proc;
    if (!proc) return null;
    proc.kill(signal);
    // A stopped process (a fault test's SIGSTOP) acts on the signal only once it runs again.
    if (signal !== 'SIGSTOP') proc.kill('SIGCONT');
    const code = await exitOf(proc);
    nodes[i].proc = null;
    return code;
  };

  let haproxy: ChildProcess | null = null;
  const sock = join(dir, 'haproxy.sock');
  const serverStates = (): Promise<Record<string, string>> =>
    new Promise((resolve, reject) => {
      const c = connect(sock);
      let data = '';
      c.on('data', (d) => (data += d.toString()));
      c.on('end', () => resolve(parseShowStat(data)));
      c.on('error', reject);
      c.write('show stat\n');
    });
  const waitUp = async (ms = 15_000): Promise<void> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const states = await serverStates().catch((): Record<string, string> => ({}));
      const running = nodes.filter((n) => n.proc);
      if (running.length > 0 && running.every((n) => states[`mcp_sticky/${n.name}`] === 'UP')) return;
      if (Date.now() > deadline) throw new Error(`HAProxy does not see the nodes up: ${JSON.stringify(states)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((_, i) => stopNode(i, 'SIGTERM')));
    for (const p of [haproxy, ...procs]) {
      if (p && p.exitCode === null && p.signalCode === null) {
        // A fault test may have left it stopped (SIGSTOP): it must run to act on SIGTERM.
        p.kill('SIGCONT');
        p.kill('SIGTERM');
        await exitOf(p);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await Promise.all(nodes.map((_, i) => startNode(i)));
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(
      cfg,
      haproxyConfig({
        lbPort: o.lbPort,
        nodes: nodes.map((n) => ({ name: n.name, host: '127.0.0.1', port: n.port })),
        checkIntervalMs: o.checkIntervalMs ?? 500,
        statsSocket: sock,
        ownerRouting: o.ownerRouting ?? true,
      }),
    );
    haproxy = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    let haproxyErr = '';
    haproxy.stderr!.on('data', (d: Buffer) => (haproxyErr += d.toString()));
    await Promise.race([
      waitPort(o.lbPort, 5000),
      exitOf(haproxy).then((code) => {
        throw new Error(`haproxy exited with ${code}: ${haproxyErr}`);
      }),
    ]);
    await waitUp();
    say(
      `haproxy   http://127.0.0.1:${o.lbPort}/mcp  (${o.ownerRouting === false ? '' : 'owner routing on the session id, then '}sticky cookie _mcp_backend on /mcp)`,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    lbUrl: `http://127.0.0.1:${o.lbPort}/mcp`,
    redisUrl,
    secret,
    nodes,
    redis,
    serverStates,
    haproxyPid: () => haproxy?.pid ?? null,
    waitUp,
    startNode,
    stopNode,
    stop,
  };
}
