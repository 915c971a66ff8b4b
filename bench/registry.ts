/**
 * Registry benchmark: the product's batched RedisRegistry (from its build output, dist/) against a
 * fair simple client: ioredis with `enableAutoPipelining: true` (commands issued in the same event-loop
 * turn leave in one write), one `SET … EX` per new session and one `DEL` per ended session. Both
 * alternate in one run against the same real redis-server (or a Redis Cluster started here).
 *
 *   rate 0     an unpaced storm: every session registered as fast as the loop allows (1,000 per turn)
 *   rate R     a paced storm of R sessions/s (released every millisecond), for about 2 s per run
 *
 * Each run registers its sessions, then ends them (unregister / DEL), and measures both phases. A
 * registration counts once Redis acknowledged it. Side by side, per 1,000 sessions:
 *
 *   round trips (client side)  socket writes the measured client made to Redis (a pipeline, a script
 *                              call or a lone command is one write awaiting its replies)
 *   server-side reads          INFO stats total_reads_processed (socket reads Redis did), and with it
 *                              total_commands_processed, total_net_input_bytes, INFO commandstats
 *   connection                 the client connection's own counters from CLIENT LIST (tot-net-in,
 *                              tot-cmds) where this redis-server reports them (7.4 and later)
 *   Redis CPU                  INFO cpu used_cpu_user + used_cpu_sys
 *
 * Prints median [min .. max] over --runs; writes JSON to <out>/registry-*.json with the commit
 * measured (a dirty tree is refused unless --allow-dirty, then flagged).
 *
 *   npm run bench:registry
 *   npm run bench:registry -- --sessions 100000 --runs 7 --rates 0,50000,10000 --batch 256 --flush-ms 5
 *   npm run bench:registry -- --redis-url redis://127.0.0.1:6379   (an existing Redis: FLUSHALLed!)
 *   npm run bench:registry -- --cluster                            (a 3-master cluster started here)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { defineCommand, reportUsage } from './lib/args.js';
import {
  importProduct,
  RESULTS,
  ROOT,
  type KeysModule,
  type LogModule,
  type RedisTarget,
  type RedisUrlModule,
  type RegistryModule,
  type RegistryObserver,
} from './lib/product.js';
import { describeProvenance, errorText, provenance, requireClean, type Provenance } from './lib/provenance.js';
import { startRedis, type RedisProcs } from './lib/redis-servers.js';
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
  allowDirty: boolean;
}

const DEFAULTS: Readonly<Options> = Object.freeze({
  sessions: 50_000,
  runs: 5,
  rates: [0, 50_000, 10_000],
  batch: 256,
  flushMs: 5,
  redisUrl: null,
  cluster: false,
  out: RESULTS,
  allowDirty: false,
});

/** A paced run lasts about this long (fewer sessions than --sessions at low rates). */
const PACED_SECONDS = 2;
const UNPACED_CHUNK = 1000;
const WARMUP_SESSIONS = 5000;
const CLUSTER_MASTERS = 3;

const command = defineCommand(
  'usage: npm run bench:registry -- [flags]',
  {
    sessions: { type: 'int', min: 1, help: `sessions per run (paced runs: at most rate x ${PACED_SECONDS} s)` },
    runs: { type: 'int', min: 1, help: 'runs per rate, alternating which client goes first' },
    rates: { type: 'ints', min: 0, help: 'storm rates in sessions/s, 0 = unpaced' },
    batch: { type: 'int', min: 1, help: 'MCP_REGISTRY_BATCH for the batched registry' },
    flushMs: { type: 'int', min: 0, help: 'MCP_REGISTRY_FLUSH_MS for the batched registry' },
    redisUrl: {
      type: 'text',
      want: 'a redis:// or redis+cluster:// URL',
      arg: 'URL',
      help: 'use this Redis (it is FLUSHALLed); default: start a redis-server here',
    },
    cluster: { type: 'bool', help: `start a ${CLUSTER_MASTERS}-master Redis Cluster here instead of one server` },
    out: { type: 'text', want: 'a directory', arg: 'DIR', help: 'where JSON results go (bench/results)' },
    allowDirty: { type: 'bool', help: 'measure although the working tree differs from its commit (result flagged dirty)' },
  },
  { ...DEFAULTS, redisUrl: undefined, cluster: undefined, out: undefined, allowDirty: undefined },
);

function parseOptions(argv: readonly string[]): Options {
  return { ...DEFAULTS, rates: [...DEFAULTS.rates], ...command.parse(argv) };
}

// --- what is measured ------------------------------------------------------------------------

/** One phase (register or unregister) of one run, per 1,000 sessions where it says so. */
interface PhaseResult {
  sessions: number;
  /** Acknowledged writes per second, first call to last acknowledgement. */
  perSecond: number;
  /** From the last call to the last acknowledgement, ms. */
  drainMs: number;
  /** Client side: socket writes to Redis, per 1,000 sessions (each a request awaiting its replies). */
  roundTripsPer1k: number;
  /** The batched registry's own count of script calls and pipelines, per 1,000 (null: the simple client). */
  ownRoundTripsPer1k: number | null;
  /** Server side: INFO stats total_reads_processed (socket reads), per 1,000 sessions, summed over masters. */
  serverReadsPer1k: number;
  /** INFO stats total_commands_processed, per 1,000 sessions. */
  commandsPer1k: number;
  /** INFO stats total_net_input_bytes, bytes per session. */
  netInputBytesPerSession: number;
  /** INFO commandstats: calls per command during the phase (the benchmark's own INFO / CLIENT left out). */
  commandCalls: Record<string, number>;
  /** CLIENT LIST counters of the measured client's connections (null: not reported by this redis-server). */
  connection: { netInBytes: number | null; commands: number | null };
  /** Redis CPU (INFO cpu used_cpu_user + used_cpu_sys), ms per 1,000 sessions, summed over masters. */
  redisCpuMsPer1k: number;
  /** Mean time inside register() / the SET call on the caller's path, per session, µs. */
  callUs: number;
  /** CPU this process used per session, µs (calls, batching, ioredis encoding and parsing). */
  clientCpuUs: number;
}

interface RunResult {
  register: PhaseResult;
  unregister: PhaseResult;
}

type Phase = keyof RunResult;
const PHASES: readonly Phase[] = ['register', 'unregister'];

/**
 * Writes by this process to the Redis ports, while `on`: both clients are ioredis on node:net, and
 * ioredis writes a pipeline (auto-pipelined commands, the registry's batches) in one socket write and
 * a lone command in one. The administrative connection only writes outside the counted windows.
 */
interface WriteCounter {
  on: boolean;
  writes: number;
  ports: Set<number>;
}

function countSocketWrites(ports: readonly number[]): WriteCounter {
  const counter: WriteCounter = { on: false, writes: 0, ports: new Set(ports) };
  // Called below with the socket as `this` (apply), never unbound.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const original = Socket.prototype.write;
  Socket.prototype.write = function (this: Socket, ...args: Parameters<Socket['write']>): boolean {
    if (counter.on && this.remotePort !== undefined && counter.ports.has(this.remotePort)) counter.writes++;
    return original.apply(this, args);
  } as Socket['write'];
  return counter;
}

type Admin = { masters: Redis[]; ids: Set<string>; close(): void };

async function adminFor(target: RedisTarget): Promise<Admin> {
  let masters: Redis[];
  let close: () => void;
  if (target.mode === 'single') {
    const r = new Redis(target.url);
    masters = [r];
    close = () => r.disconnect();
  } else {
    const c = new Cluster(target.seeds, { redisOptions: { username: target.username, password: target.password } });
    await new Promise<void>((res, rej) => {
      c.once('ready', () => res());
      c.once('error', rej);
    });
    masters = c.nodes('master');
    close = () => c.disconnect();
  }
  const ids = new Set<string>();
  for (const m of masters) ids.add(String(await m.client('ID')));
  return { masters, ids, close };
}

interface ServerStats {
  reads: number;
  commands: number;
  netInput: number;
  cpuMs: number;
  commandCalls: Record<string, number>;
  /** Per connection id (admin's left out): [tot-net-in, tot-cmds] where reported. */
  connections: Map<string, [number | null, number | null]>;
}

/** One snapshot: INFO stats + cpu + commandstats and CLIENT LIST on every master. */
async function serverStats(admin: Admin): Promise<ServerStats> {
  const s: ServerStats = { reads: 0, commands: 0, netInput: 0, cpuMs: 0, commandCalls: {}, connections: new Map() };
  for (const m of admin.masters) {
    const [[, infoRaw], [, listRaw]] = (await m.multi().call('INFO', 'stats', 'cpu', 'commandstats').client('LIST').exec())! as Array<
      [unknown, string]
    >;
    const info = String(infoRaw);
    const num = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
    s.reads += num('total_reads_processed');
    s.commands += num('total_commands_processed');
    s.netInput += num('total_net_input_bytes');
    s.cpuMs += (num('used_cpu_user') + num('used_cpu_sys')) * 1000;
    for (const c of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) s.commandCalls[c[1]] = (s.commandCalls[c[1]] ?? 0) + Number(c[2]);
    for (const line of String(listRaw).split('\n')) {
      const f = Object.fromEntries(
        line
          .trim()
          .split(' ')
          .map((kv) => kv.split('=', 2) as [string, string]),
      );
      if (!f.id || admin.ids.has(f.id)) continue;
      const n = (k: string): number | null => (f[k] === undefined ? null : Number(f[k]));
      s.connections.set(`${m.options.port}/${f.id}`, [n('tot-net-in'), n('tot-cmds')]);
    }
  }
  return s;
}

const ADMIN_COMMANDS = new Set(['info', 'client|list', 'client|id', 'client', 'multi', 'exec', 'flushall']);

function connectionDelta(a: ServerStats, b: ServerStats): PhaseResult['connection'] {
  let netIn: number | null = null;
  let cmds: number | null = null;
  for (const [id, [inB, cmdB]] of b.connections) {
    const [inA, cmdA] = a.connections.get(id) ?? [0, 0];
    if (inB !== null) netIn = (netIn ?? 0) + inB - (inA ?? 0);
    if (cmdB !== null) cmds = (cmds ?? 0) + cmdB - (cmdA ?? 0);
  }
  return { netInBytes: netIn, commands: cmds };
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

/**
 * Measures one phase with the same arithmetic for both clients: server snapshot, counted window
 * (the calls, then the wait for every acknowledgement), server snapshot.
 */
async function measure(
  admin: Admin,
  writes: WriteCounter,
  n: number,
  rate: number,
  call: (i: number) => void,
  acked: () => boolean,
  ownRoundTrips: () => number | null,
): Promise<PhaseResult> {
  const server0 = await serverStats(admin);
  const own0 = ownRoundTrips();
  const cpu0 = clientCpuUs();
  const w0 = writes.writes;
  writes.on = true;
  const t0 = performance.now();
  const { callNs, lastAt } = await storm(n, rate, call);
  await until(acked, 60_000);
  const t1 = performance.now();
  writes.on = false;
  const cpu1 = clientCpuUs();
  const own1 = ownRoundTrips();
  const server1 = await serverStats(admin);
  const commandCalls: Record<string, number> = {};
  for (const [k, v] of Object.entries(server1.commandCalls)) {
    const d = v - (server0.commandCalls[k] ?? 0);
    if (d > 0 && !ADMIN_COMMANDS.has(k)) commandCalls[k] = d;
  }
  const per1k = (x: number): number => (x / n) * 1000;
  return {
    sessions: n,
    perSecond: n / ((t1 - t0) / 1000),
    drainMs: t1 - lastAt,
    roundTripsPer1k: per1k(writes.writes - w0),
    ownRoundTripsPer1k: own0 === null || own1 === null ? null : per1k(own1 - own0),
    // The snapshots add one MULTI/EXEC of INFO and CLIENT LIST per master (2–4 commands, 1–2 reads):
    // negligible against thousands of sessions, and the same for both clients.
    serverReadsPer1k: per1k(server1.reads - server0.reads),
    commandsPer1k: per1k(server1.commands - server0.commands),
    netInputBytesPerSession: (server1.netInput - server0.netInput) / n,
    commandCalls,
    connection: connectionDelta(server0, server1),
    redisCpuMsPer1k: per1k(server1.cpuMs - server0.cpuMs),
    callUs: callNs / n / 1000,
    clientCpuUs: (cpu1 - cpu0) / n,
  };
}

const QUIET: RegistryObserver = { flushed: () => {}, queueDepth: () => {}, dropped: () => {}, degraded: () => {} };

interface Product {
  registry: RegistryModule;
  keys: KeysModule;
}

async function runBatched(
  p: Product,
  url: string,
  admin: Admin,
  writes: WriteCounter,
  o: Options,
  n: number,
  rate: number,
  tag: string,
): Promise<RunResult> {
  const live = new Set<string>();
  const reg = new p.registry.RedisRegistry(
    url,
    { nodeId: 'bench', address: '127.0.0.1:0' },
    { registryBatch: o.batch, registryFlushMs: o.flushMs, registryQueueMax: Math.max(100_000, n), registryRefreshMs: 3_600_000 },
    { liveSessions: () => live, observer: QUIET },
  );
  try {
    await until(() => reg.stats().connected && reg.stats().resyncs > 0, 10_000);
    const out = {} as RunResult;
    for (const phase of PHASES) {
      const before = reg.stats();
      out[phase] = await measure(
        admin,
        writes,
        n,
        rate,
        phase === 'register'
          ? (i) => {
              const id = `${tag}-${i}`;
              live.add(id);
              reg.register(id);
            }
          : (i) => {
              const id = `${tag}-${i}`;
              live.delete(id);
              reg.unregister(id);
            },
        () => reg.stats().written - before.written >= n,
        () => reg.stats().roundTrips,
      );
      const after = reg.stats();
      if (after.dropped !== before.dropped || after.failedFlushes !== before.failedFlushes)
        throw new Error(
          `batched ${phase} dropped ${after.dropped - before.dropped} writes, ${after.failedFlushes - before.failedFlushes} failed flushes`,
        );
    }
    return out;
  } finally {
    await reg.close();
  }
}

async function runSimple(
  p: Product,
  target: RedisTarget,
  admin: Admin,
  writes: WriteCounter,
  n: number,
  rate: number,
  tag: string,
): Promise<RunResult> {
  const options = { enableAutoPipelining: true, enableOfflineQueue: false };
  const client =
    target.mode === 'single'
      ? new Redis(target.url, options)
      : new Cluster(target.seeds, { ...options, redisOptions: { username: target.username, password: target.password } });
  try {
    await new Promise<void>((res, rej) => {
      client.once('ready', () => res());
      client.once('error', rej);
    });
    const prefix = p.keys.ownerValuePrefix('bench', '127.0.0.1:0');
    const out = {} as RunResult;
    for (const phase of PHASES) {
      let acked = 0;
      let failed = 0;
      const ok = (): void => void acked++;
      const bad = (): void => void failed++;
      out[phase] = await measure(
        admin,
        writes,
        n,
        rate,
        phase === 'register'
          ? (i) => void client.set(`mcp:session:${tag}-${i}`, `${prefix}${Date.now()}}`, 'EX', p.keys.SESSION_TTL_S).then(ok, bad)
          : (i) => void client.del(`mcp:session:${tag}-${i}`).then(ok, bad),
        () => acked + failed >= n,
        () => null,
      );
      if (failed > 0) throw new Error(`simple client ${phase}: ${failed} commands failed`);
    }
    return out;
  } finally {
    client.disconnect();
  }
}

// --- report ---------------------------------------------------------------------------------

type Field = [keyof PhaseResult, string, number];

const FIELDS: readonly Field[] = [
  ['perSecond', 'sessions/s (acknowledged)', 0],
  ['drainMs', 'drain after the last call, ms', 1],
  ['roundTripsPer1k', 'round trips / 1k (client socket writes)', 1],
  ['serverReadsPer1k', 'server socket reads / 1k (INFO)', 1],
  ['commandsPer1k', 'commands processed / 1k (INFO)', 0],
  ['netInputBytesPerSession', 'bytes Redis received / session', 1],
  ['redisCpuMsPer1k', 'Redis CPU / 1k sessions, ms', 2],
  ['callUs', 'cost per call on the caller, µs', 2],
  ['clientCpuUs', 'client CPU per session, µs', 2],
];

function fmt(s: Spread, digits: number): string {
  const f = (x: number): string =>
    Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';
  return `${f(s.median)}  [${f(s.min)} .. ${f(s.max)}]`;
}

function spreadOf(runs: RunResult[], phase: Phase, key: keyof PhaseResult): Spread {
  return spread(runs.map((r) => r[phase][key] as number));
}

/** Per-run ratio simple / batched of one figure. */
function ratio(batched: RunResult[], simple: RunResult[], phase: Phase, key: keyof PhaseResult): Spread {
  return spread(simple.map((s, i) => (s[phase][key] as number) / (batched[i][phase][key] as number)));
}

function table(label: string, batched: RunResult[], simple: RunResult[], runs: number): string {
  const lines = [`\n== ${label} (median [min .. max] over ${runs} runs)`];
  for (const phase of PHASES) {
    lines.push(`-- ${phase === 'register' ? 'register (batched SET+SADD script / SET … EX)' : 'unregister (batched DEL+SREM / DEL)'}`);
    lines.push(`${''.padEnd(42)}${'batched registry'.padEnd(36)}simple client (auto-pipelined)`);
    for (const [key, name, digits] of FIELDS)
      lines.push(`${name.padEnd(42)}${fmt(spreadOf(batched, phase, key), digits).padEnd(36)}${fmt(spreadOf(simple, phase, key), digits)}`);
    const conn = (r: RunResult[]): string => {
      const v = r.map((x) => x[phase].connection.commands);
      return v.every((x) => x === null) ? 'not reported' : fmt(spread(v.map((x) => ((x ?? NaN) / r[0][phase].sessions) * 1000)), 0);
    };
    lines.push(`${'connection commands / 1k (CLIENT LIST)'.padEnd(42)}${conn(batched).padEnd(36)}${conn(simple)}`);
    lines.push(
      `ratio simple / batched: round trips ${fmt(ratio(batched, simple, phase, 'roundTripsPer1k'), 1)}; server reads ${fmt(ratio(batched, simple, phase, 'serverReadsPer1k'), 1)}; Redis CPU ${fmt(ratio(batched, simple, phase, 'redisCpuMsPer1k'), 2)}; sessions/s ${fmt(ratio(batched, simple, phase, 'perSecond'), 2)}`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<number> {
  let o: Options;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (err) {
    const code = reportUsage(err);
    if (code === null) throw err;
    return code;
  }
  const code: Provenance = provenance(o.allowDirty);
  requireClean(code);
  const [registry, keys, redisUrl, log] = await Promise.all([
    importProduct<RegistryModule>(ROOT, 'src/registry/redis.js', ['RedisRegistry']),
    importProduct<KeysModule>(ROOT, 'src/registry/keys.js', ['SESSION_TTL_S', 'ownerValuePrefix']),
    importProduct<RedisUrlModule>(ROOT, 'src/registry/redis-url.js', ['parseRedisUrl']),
    importProduct<LogModule>(ROOT, 'src/log.js', ['configureLog']),
  ]);
  const product: Product = { registry, keys };
  // The registry's own info lines (connected, re-asserted) would interleave with the report.
  log.configureLog('warn', { node: 'bench' });
  let procs: RedisProcs | null = null;
  const stopOnSignal = (): void => void (procs?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  let url = o.redisUrl;
  if (url === null) {
    procs = await startRedis(o.cluster ? CLUSTER_MASTERS : 0);
    url = procs.url;
  }
  const target = redisUrl.parseRedisUrl(url);
  const ports = target.mode === 'single' ? [Number(new URL(target.url).port || 6379)] : target.seeds.map((s) => s.port);
  const writes = countSocketWrites(ports);
  const admin = await adminFor(target);
  const startedAt = new Date().toISOString();
  const report: Record<string, unknown> = {
    benchmark: 'registry',
    time: startedAt,
    code,
    dirty: code.dirty,
    options: o,
    redis: {
      url,
      mode: target.mode,
      version: ((await admin.masters[0].info('server')).match(/redis_version:(\S+)/) ?? [])[1] ?? 'unknown',
    },
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version },
    notes: [
      'batched: the product RedisRegistry (dist/src/registry/redis.js): one Lua script call per batch on one server (SET … EX + SADD to the node set per session; DEL + SREM on unregister), one pipeline per node in a cluster.',
      'simple: ioredis with enableAutoPipelining: true, one SET … EX per new session and one DEL per ended one; commands issued in one event-loop turn leave in one write.',
      "roundTripsPer1k: socket writes this process made to the Redis port(s) during the phase (counted on node:net Socket.prototype.write); ownRoundTripsPer1k: the registry's own count.",
      'serverReadsPer1k / commandsPer1k / netInputBytesPerSession / redisCpuMsPer1k: INFO stats and cpu deltas over the phase, summed over masters; commandCalls: INFO commandstats deltas. connection: CLIENT LIST tot-net-in / tot-cmds of the client connections, null where this redis-server does not report them.',
      'Spreads are HDR-histogram percentiles (hdr-histogram-js, 3 significant digits): median of an even count is the lower middle value.',
    ],
    rates: [] as unknown[],
  };
  process.stderr.write(
    `registry benchmark: ${o.cluster ? `${CLUSTER_MASTERS}-master cluster` : 'one redis-server'} at ${url}, batch ${o.batch}, flush ${o.flushMs} ms, ${o.runs} runs per rate; ${describeProvenance(code)}\n`,
  );
  try {
    for (const rate of o.rates) {
      const n = rate === 0 ? o.sessions : Math.min(o.sessions, rate * PACED_SECONDS);
      const batched: RunResult[] = [];
      const simple: RunResult[] = [];
      // A warm-up pair (JIT, connections, the script cached in Redis), not recorded.
      await flushAll(admin);
      await runBatched(product, url, admin, writes, o, Math.min(n, WARMUP_SESSIONS), rate, `warm-b-${rate}`);
      await runSimple(product, target, admin, writes, Math.min(n, WARMUP_SESSIONS), rate, `warm-s-${rate}`);
      for (let r = 0; r < o.runs; r++) {
        // Alternate which goes first so drift on a shared machine hits both alike.
        for (const which of r % 2 === 0 ? ['b', 's'] : ['s', 'b']) {
          await flushAll(admin);
          if (which === 'b') batched.push(await runBatched(product, url, admin, writes, o, n, rate, `b${rate}-${r}`));
          else simple.push(await runSimple(product, target, admin, writes, n, rate, `s${rate}-${r}`));
        }
        const b = batched[r].register;
        const s = simple[r].register;
        process.stderr.write(
          `  rate ${rate || 'unpaced'} run ${r + 1}/${o.runs}: register batched ${Math.round(b.perSecond)}/s ${b.roundTripsPer1k.toFixed(1)} RT/1k ${b.serverReadsPer1k.toFixed(1)} reads/1k; simple ${Math.round(s.perSecond)}/s ${s.roundTripsPer1k.toFixed(1)} RT/1k ${s.serverReadsPer1k.toFixed(1)} reads/1k\n`,
        );
      }
      const label =
        rate === 0
          ? `unpaced storm, ${n.toLocaleString('en-US')} sessions per run`
          : `paced storm ${rate.toLocaleString('en-US')} sessions/s, ${n.toLocaleString('en-US')} sessions per run`;
      process.stdout.write(`${table(label, batched, simple, o.runs)}\n`);
      const ratios = Object.fromEntries(
        PHASES.map((ph) => [
          ph,
          Object.fromEntries(
            (
              ['roundTripsPer1k', 'serverReadsPer1k', 'commandsPer1k', 'netInputBytesPerSession', 'redisCpuMsPer1k', 'perSecond'] as const
            ).map((k) => [k, ratio(batched, simple, ph, k)]),
          ),
        ]),
      );
      (report.rates as unknown[]).push({ rate, sessions: n, batched, simple, ratiosSimpleOverBatched: ratios });
    }
  } finally {
    admin.close();
    await procs?.stop();
  }
  const dir = resolve(o.out);
  mkdirSync(dir, { recursive: true });
  const file = `${dir}/registry-${startedAt.replace(/[:.]/g, '-')}.json`;
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${dir}/registry-latest.json`, `${JSON.stringify(report, null, 2)}\n`);
  process.stderr.write(`\nresults: ${file}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${errorText(err)}\n`);
    process.exit(1);
  },
);
