/**
 * Registry benchmark: session registrations per second at storm rates, and Redis round trips per
 * 1,000 sessions, for the batched RedisRegistry against one command per session (`SET … EX` per
 * session on a plain ioredis client), alternating in one run against the same real redis-server.
 *
 *   rate 0     an unpaced storm: every session registered as fast as the loop allows (1,000 per turn)
 *   rate R     a paced storm of R sessions/s (released every millisecond), for about 2 s per run
 *
 * A registration counts once Redis acknowledged it. Round trips are counted on the client (a
 * pipeline or a lone command: one request awaiting one reply) and cross-checked on the server
 * (INFO stats total_reads_processed: socket reads, which Node's write coalescing can make fewer).
 * Prints min/median/max over --runs and the per-run ratio; writes JSON to <out>/registry-*.json.
 *
 *   npm run bench:registry
 *   npm run bench:registry -- --sessions 100000 --runs 7 --rates 0,50000,10000 --batch 256 --flush-ms 5
 *   npm run bench:registry -- --redis-url redis://127.0.0.1:6379   (an existing Redis: FLUSHALLed!)
 *   npm run bench:registry -- --cluster                            (a 3-master cluster started here)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { configureLog } from '../src/log.js';
import { SESSION_TTL_S, ownerValuePrefix } from '../src/registry/keys.js';
import { RedisRegistry } from '../src/registry/redis.js';
import { parseRedisUrl } from '../src/registry/redis-url.js';
import type { RegistryObserver } from '../src/registry/registry.js';
import { startRedis, startRedisCluster, stopAllRedis } from '../test/helpers/redis.js';
import { spread, type Spread } from './lib/stats.js';

interface Options {
  sessions: number;
  runs: number;
  rates: number[];
  batch: number;
  flushMs: number;
  redisUrl: string | null;
  cluster: boolean;
  out: string;
}

const DEFAULTS: Readonly<Options> = Object.freeze({
  sessions: 50_000,
  runs: 5,
  rates: [0, 50_000, 10_000],
  batch: 256,
  flushMs: 5,
  redisUrl: null,
  cluster: false,
  out: 'bench/results',
});

/** A paced run lasts about this long (fewer sessions than --sessions at low rates). */
const PACED_SECONDS = 2;
const UNPACED_CHUNK = 1000;

const USAGE = `usage: node dist/bench/registry.js [flags]
  --sessions N     sessions per run (${DEFAULTS.sessions}; paced runs: at most rate x ${PACED_SECONDS} s)
  --runs N         runs per rate and mode, alternating batched / one-per-session (${DEFAULTS.runs})
  --rates a,b      storm rates in sessions/s, 0 = unpaced (${DEFAULTS.rates.join(',')})
  --batch N        MCP_REGISTRY_BATCH for the batched registry (${DEFAULTS.batch})
  --flush-ms N     MCP_REGISTRY_FLUSH_MS for the batched registry (${DEFAULTS.flushMs})
  --redis-url URL  use this Redis (it is FLUSHALLed); default: start a redis-server here
  --cluster        start a 3-master Redis Cluster here instead of one server
  --out DIR        where JSON results go (${DEFAULTS.out})`;

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { ...DEFAULTS, rates: [...DEFAULTS.rates] };
  const int = (flag: string, raw: string | undefined, min: number): number => {
    if (raw === undefined || !/^\d+$/.test(raw) || Number(raw) < min) throw new Error(`invalid ${flag}=${JSON.stringify(raw)}: expected an integer >= ${min}\n${USAGE}`);
    return Number(raw);
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    switch (flag) {
      case '--sessions': o.sessions = int(flag, argv[++i], 1); break;
      case '--runs': o.runs = int(flag, argv[++i], 1); break;
      case '--rates': o.rates = (argv[++i] ?? '').split(',').map((r) => int(flag, r.trim(), 0)); break;
      case '--batch': o.batch = int(flag, argv[++i], 1); break;
      case '--flush-ms': o.flushMs = int(flag, argv[++i], 0); break;
      case '--redis-url': o.redisUrl = argv[++i] ?? null; break;
      case '--cluster': o.cluster = true; break;
      case '--out': o.out = argv[++i] ?? DEFAULTS.out; break;
      case '--help': case '-h': process.stdout.write(`${USAGE}\n`); process.exit(0);
      default: throw new Error(`unknown flag ${flag}\n${USAGE}`);
    }
  }
  return o;
}

interface RunResult {
  sessions: number;
  /** Acknowledged registrations per second, first register() to last acknowledgement. */
  perSecond: number;
  /** From the last register() call to the last acknowledgement, ms. */
  drainMs: number;
  /** Requests awaiting one reply each (script calls or pipelines; lone commands), per 1,000 sessions. */
  roundTripsPer1k: number;
  /** Commands Redis processed, per 1,000 sessions (INFO stats, summed over masters). */
  commandsPer1k: number;
  /** Socket reads Redis processed, per 1,000 sessions (INFO stats, summed over masters). */
  serverReadsPer1k: number;
  /** Mean time spent inside register() / the SET call, per session, µs (the request's own cost). */
  callUs: number;
  /** CPU this process used per session, µs (calls, batching, ioredis encoding and parsing). */
  clientCpuUs: number;
  /** CPU Redis used per 1,000 sessions, ms (INFO cpu, summed over masters). */
  serverCpuMsPer1k: number;
}

type Admin = { masters: Redis[]; close(): void };

async function adminFor(url: string): Promise<Admin> {
  const target = parseRedisUrl(url);
  if (target.mode === 'single') {
    const r = new Redis(target.url);
    return { masters: [r], close: () => r.disconnect() };
  }
  const c = new Cluster(target.seeds, { redisOptions: { username: target.username, password: target.password } });
  await new Promise<void>((res, rej) => { c.once('ready', () => res()); c.once('error', rej); });
  const masters = c.nodes('master');
  return { masters, close: () => c.disconnect() };
}

interface ServerStats {
  commands: number;
  reads: number;
  cpuMs: number;
}

async function serverStats(admin: Admin): Promise<ServerStats> {
  const s: ServerStats = { commands: 0, reads: 0, cpuMs: 0 };
  for (const m of admin.masters) {
    const info = await m.info();
    const num = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
    s.commands += num('total_commands_processed');
    s.reads += num('total_reads_processed');
    s.cpuMs += (num('used_cpu_user') + num('used_cpu_sys')) * 1000;
  }
  return s;
}

function clientCpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

async function flushAll(admin: Admin): Promise<void> {
  for (const m of admin.masters) await m.flushall();
}

/** Calls `each(i)` for i in [0, n): unpaced in chunks per loop turn, or paced at `rate` per second. */
async function storm(n: number, rate: number, each: (i: number) => void): Promise<{ callNs: number; lastAt: number }> {
  let i = 0;
  let callNs = 0;
  const t0 = performance.now();
  while (i < n) {
    const target = rate === 0 ? Math.min(n, i + UNPACED_CHUNK) : Math.min(n, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
    const c0 = process.hrtime.bigint();
    for (; i < target; i++) each(i);
    callNs += Number(process.hrtime.bigint() - c0);
    if (i < n) await new Promise((res) => (rate === 0 ? setImmediate(res) : setTimeout(res, 1)));
  }
  return { callNs, lastAt: performance.now() };
}

async function until(check: () => boolean, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error('timed out waiting for acknowledgements');
    // A 1 ms timer, not setImmediate: the wait must not spin and steal the CPU it measures.
    await new Promise((res) => setTimeout(res, 1));
  }
}

interface Measured {
  t0: number;
  t1: number;
  lastAt: number;
  callNs: number;
  cpu0: number;
  cpu1: number;
  server0: Awaited<ReturnType<typeof serverStats>>;
  server1: Awaited<ReturnType<typeof serverStats>>;
}

function roundTripsPer1k(roundTrips: number, n: number): number {
  return (roundTrips / n) * 1000;
}

/** One run's figures, the same arithmetic for both ways of writing. */
function runResult(n: number, roundTrips1k: number, m: Measured): RunResult {
  return {
    sessions: n,
    perSecond: n / ((m.t1 - m.t0) / 1000),
    drainMs: m.t1 - m.lastAt,
    roundTripsPer1k: roundTrips1k,
    // The INFO calls themselves are one command each per master: negligible, and the same for both.
    commandsPer1k: ((m.server1.commands - m.server0.commands) / n) * 1000,
    serverReadsPer1k: ((m.server1.reads - m.server0.reads) / n) * 1000,
    callUs: m.callNs / n / 1000,
    clientCpuUs: (m.cpu1 - m.cpu0) / n,
    serverCpuMsPer1k: ((m.server1.cpuMs - m.server0.cpuMs) / n) * 1000,
  };
}

const QUIET: RegistryObserver = { flushed: () => {}, queueDepth: () => {}, dropped: () => {}, degraded: () => {} };

async function runBatched(url: string, admin: Admin, o: Options, n: number, rate: number, tag: string): Promise<RunResult> {
  const live = new Set<string>();
  const reg = new RedisRegistry(url, { nodeId: 'bench', address: '127.0.0.1:0' }, { registryBatch: o.batch, registryFlushMs: o.flushMs, registryQueueMax: Math.max(100_000, n), registryRefreshMs: 3_600_000 }, { liveSessions: () => live, observer: QUIET });
  try {
    await until(() => reg.stats().connected && reg.stats().resyncs > 0, 10_000);
    const before = reg.stats();
    const server0 = await serverStats(admin);
    const cpu0 = clientCpuUs();
    const t0 = performance.now();
    const { callNs, lastAt } = await storm(n, rate, (i) => {
      const id = `${tag}-${i}`;
      live.add(id);
      reg.register(id);
    });
    await until(() => reg.stats().written - before.written >= n, 60_000);
    const t1 = performance.now();
    const cpu1 = clientCpuUs();
    const after = reg.stats();
    const server1 = await serverStats(admin);
    if (after.dropped !== before.dropped || after.failedFlushes !== before.failedFlushes) throw new Error(`batched run dropped ${after.dropped - before.dropped} writes, ${after.failedFlushes - before.failedFlushes} failed flushes`);
    return runResult(n, roundTripsPer1k(after.roundTrips - before.roundTrips, n), { t0, t1, lastAt, callNs, cpu0, cpu1, server0, server1 });
  } finally {
    await reg.close();
  }
}

async function runPerSession(url: string, admin: Admin, n: number, rate: number, tag: string): Promise<RunResult> {
  const target = parseRedisUrl(url);
  const client = target.mode === 'single' ? new Redis(target.url, { enableOfflineQueue: false }) : new Cluster(target.seeds, { enableOfflineQueue: false });
  try {
    await new Promise<void>((res, rej) => { client.once('ready', () => res()); client.once('error', rej); });
    const prefix = ownerValuePrefix('bench', '127.0.0.1:0');
    let acked = 0;
    let failed = 0;
    const ok = (): void => void acked++;
    const bad = (): void => void failed++;
    const server0 = await serverStats(admin);
    const cpu0 = clientCpuUs();
    const t0 = performance.now();
    const { callNs, lastAt } = await storm(n, rate, (i) => {
      client.set(`mcp:session:${tag}-${i}`, `${prefix}${Date.now()}}`, 'EX', SESSION_TTL_S).then(ok, bad);
    });
    await until(() => acked + failed >= n, 60_000);
    const t1 = performance.now();
    const cpu1 = clientCpuUs();
    const server1 = await serverStats(admin);
    if (failed > 0) throw new Error(`one-per-session run: ${failed} SETs failed`);
    return runResult(n, 1000, { t0, t1, lastAt, callNs, cpu0, cpu1, server0, server1 });
  } finally {
    client.disconnect();
  }
}

const FIELDS: Array<[keyof RunResult, string, number]> = [
  ['perSecond', 'sessions/s (acknowledged)', 0],
  ['drainMs', 'drain after last session, ms', 1],
  ['roundTripsPer1k', 'round trips / 1k sessions', 1],
  ['serverReadsPer1k', 'server socket reads / 1k', 1],
  ['commandsPer1k', 'commands / 1k sessions', 0],
  ['callUs', 'cost per call on the hot path, µs', 2],
  ['clientCpuUs', 'client CPU per session, µs', 2],
  ['serverCpuMsPer1k', 'Redis CPU per 1k sessions, ms', 2],
];

function fmt(s: Spread, digits: number): string {
  const f = (x: number): string => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return `${f(s.median)}  [${f(s.min)} .. ${f(s.max)}]`;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  // The registry's own info lines (connected, re-asserted) would interleave with the report.
  configureLog('warn', { node: 'bench' });
  const started: Array<() => Promise<void>> = [];
  let url = o.redisUrl;
  if (url === null) {
    if (o.cluster) {
      const c = await startRedisCluster(3);
      url = c.url;
    } else {
      url = (await startRedis()).url;
    }
    started.push(stopAllRedis);
  }
  const stopOnSignal = (): void => void stopAllRedis().finally(() => process.exit(130));
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  const admin = await adminFor(url);
  const report: Record<string, unknown> = {
    time: new Date().toISOString(),
    options: o,
    redis: url,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version },
    rates: [] as unknown[],
  };
  process.stderr.write(`registry benchmark: ${o.cluster ? '3-master cluster' : 'one redis-server'} at ${url}, batch ${o.batch}, flush ${o.flushMs} ms, ${o.runs} runs per rate\n`);
  try {
    for (const rate of o.rates) {
      const n = rate === 0 ? o.sessions : Math.min(o.sessions, rate * PACED_SECONDS);
      const batched: RunResult[] = [];
      const single: RunResult[] = [];
      // A warm-up pair (JIT, connections), not recorded.
      await flushAll(admin);
      await runBatched(url, admin, o, Math.min(n, 5000), rate, `warm-b-${rate}`);
      await runPerSession(url, admin, Math.min(n, 5000), rate, `warm-s-${rate}`);
      for (let r = 0; r < o.runs; r++) {
        // Alternate which goes first so drift on a shared machine hits both alike.
        const order = r % 2 === 0 ? ['b', 's'] : ['s', 'b'];
        for (const which of order) {
          await flushAll(admin);
          if (which === 'b') batched.push(await runBatched(url, admin, o, n, rate, `b${rate}-${r}`));
          else single.push(await runPerSession(url, admin, n, rate, `s${rate}-${r}`));
        }
        process.stderr.write(`  rate ${rate || 'unpaced'} run ${r + 1}/${o.runs}: batched ${Math.round(batched[r].perSecond)}/s, ${batched[r].roundTripsPer1k.toFixed(1)} RT/1k; one-per-session ${Math.round(single[r].perSecond)}/s\n`);
      }
      const ratioRt = single.map((s, i) => s.roundTripsPer1k / batched[i].roundTripsPer1k);
      const ratioReads = single.map((s, i) => s.serverReadsPer1k / batched[i].serverReadsPer1k);
      const ratioRate = batched.map((b, i) => b.perSecond / single[i].perSecond);
      const label = rate === 0 ? `unpaced storm, ${n.toLocaleString('en-US')} sessions per run` : `paced storm ${rate.toLocaleString('en-US')} sessions/s, ${n.toLocaleString('en-US')} sessions per run`;
      const lines = [`\n== ${label} (median [min .. max] over ${o.runs} runs)`, `${''.padEnd(36)}${'batched'.padEnd(34)}one command per session`];
      for (const [key, name, digits] of FIELDS) {
        lines.push(`${name.padEnd(36)}${fmt(spread(batched.map((x) => x[key])), digits).padEnd(34)}${fmt(spread(single.map((x) => x[key])), digits)}`);
      }
      lines.push(`ratio: round trips one-per-session / batched   ${fmt(spread(ratioRt), 1)}`);
      lines.push(`ratio: server reads one-per-session / batched  ${fmt(spread(ratioReads), 1)}`);
      lines.push(`ratio: sessions/s batched / one-per-session    ${fmt(spread(ratioRate), 2)}`);
      process.stdout.write(`${lines.join('\n')}\n`);
      (report.rates as unknown[]).push({ rate, sessions: n, batched, single, ratios: { roundTrips: spread(ratioRt), serverReads: spread(ratioReads), sessionsPerSecond: spread(ratioRate) } });
    }
  } finally {
    admin.close();
    for (const stop of started) await stop();
  }
  const dir = resolve(o.out);
  mkdirSync(dir, { recursive: true });
  const file = `${dir}/registry-${String(report.time).replace(/[:.]/g, '-')}.json`;
  writeFileSync(file, JSON.stringify(report, null, 2));
  writeFileSync(`${dir}/registry-latest.json`, JSON.stringify(report, null, 2));
  process.stderr.write(`\nresults: ${file}\n`);
}

main().catch(async (err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  await stopAllRedis().catch(() => {});
  process.exit(1);
});
