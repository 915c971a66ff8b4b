import { existsSync } from 'node:fs';
import { checks, parseFlags } from './args.js';
import { RESULTS } from './product.js';
import { WRK_BIN } from './wrk.js';

/**
 * Options of the throughput benchmark: one interface, one frozen defaults object, one merge, and
 * validation up front (node:util parseArgs, then checks that name the bad flag).
 */

export const CONTENDERS = ['ours', 'sdk', 'ours-nometrics'] as const;
export type ContenderName = (typeof CONTENDERS)[number];

export const SCENARIOS = ['tools', 'init', 'rss'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface BenchOptions {
  rounds: number;
  /** Seconds per measured autocannon run. */
  duration: number;
  /** Seconds of the same load before each measured run (JIT, pools, sockets); 0 disables. */
  warmup: number;
  connections: number;
  /** Idle sessions opened for the RSS scenario. */
  sessions: number;
  /** Sessions being opened at once in the RSS scenario. */
  sessionConcurrency: number;
  /** Seconds to wait after opening the sessions before reading RSS again. */
  settle: number;
  /**
   * `--workers` for our server; null leaves the server's default (one per core). 1 by default: with
   * the load generator on the same 2 cores, one session worker measured better than two (initialize
   * ~20% faster, ~25% less RSS per session, tools/call on one session the same: a session lives in
   * one worker, so the second one only competes for the cores).
   */
  workers: number | null;
  quick: boolean;
  out: string;
  contenders: readonly ContenderName[];
  scenarios: readonly ScenarioName[];
  /** Also measure tools/call and initialize with wrk (C load generator) as a cross-check of autocannon. */
  wrk: boolean;
  wrkThreads: number;
  /** Seconds to wait, before each run, for other processes to go quiet; 0 disables. */
  quietWait: number;
  /** CPU cores used by other processes below which the machine counts as quiet. */
  quietThreshold: number;
  /** Run the servers from a private copy of dist/ (others may rebuild the shared one mid-run). */
  snapshot: boolean;
  /** Parse and validate one response body in this many during each load run (autocannon and wrk). */
  checkEvery: number;
  /** Measure on a working tree that differs from its commit (the result is flagged dirty). */
  allowDirty: boolean;
}

export const DEFAULTS: Readonly<BenchOptions> = Object.freeze({
  rounds: 3,
  duration: 10,
  warmup: 2,
  connections: 50,
  sessions: 20_000,
  sessionConcurrency: 64,
  settle: 2,
  workers: 1,
  quick: false,
  out: RESULTS,
  contenders: CONTENDERS,
  scenarios: SCENARIOS,
  wrk: existsSync(WRK_BIN),
  wrkThreads: 1,
  quietWait: 120,
  quietThreshold: 0.25,
  snapshot: false,
  checkEvery: 64,
  allowDirty: false,
});

/** What `--quick` changes, unless the same flag is also given. */
const QUICK: Readonly<Partial<BenchOptions>> = Object.freeze({
  rounds: 1,
  duration: 2,
  warmup: 0.5,
  sessions: 500,
  settle: 0.5,
  quietWait: 5,
});

const USAGE = `usage: npm run bench:throughput -- [flags]
  --rounds N            rounds; each runs every contender once per scenario, the order rotating per round (${DEFAULTS.rounds})
  --duration S          seconds per measured autocannon run (${DEFAULTS.duration})
  --warmup S            seconds of warm-up load before each measured run (${DEFAULTS.warmup})
  --connections N       autocannon connections (${DEFAULTS.connections})
  --sessions N          idle sessions for the RSS scenario (${DEFAULTS.sessions})
  --session-concurrency N   sessions opened at once in the RSS scenario (${DEFAULTS.sessionConcurrency})
  --settle S            seconds to wait before the second RSS reading (${DEFAULTS.settle})
  --workers N|default   --workers for our server (${DEFAULTS.workers}; "default": the server's own, one per core)
  --contenders a,b      subset of ${CONTENDERS.join(',')}
  --scenarios a,b       subset of ${SCENARIOS.join(',')}
  --wrk / --no-wrk      also measure with wrk, a C load generator (default: on when ${WRK_BIN} exists)
  --wrk-threads N       wrk threads (${DEFAULTS.wrkThreads})
  --quiet-wait S        before each run, wait up to S s for other processes to go quiet (${DEFAULTS.quietWait}; 0: off)
  --quiet-threshold C   CPU cores of other processes that still count as quiet (${DEFAULTS.quietThreshold})
  --snapshot            run the servers from a private copy of dist/ (safe against rebuilds mid-run)
  --check-every N       during load, parse and validate one response body in N (${DEFAULTS.checkEvery})
  --quick               smoke run: ${JSON.stringify(QUICK)}
  --out DIR             where JSON results go (bench/results)
  --allow-dirty         measure although the working tree differs from its commit (result flagged dirty)`;

const FLAGS = {
  rounds: { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  connections: { type: 'string' },
  sessions: { type: 'string' },
  'session-concurrency': { type: 'string' },
  settle: { type: 'string' },
  workers: { type: 'string' },
  contenders: { type: 'string' },
  scenarios: { type: 'string' },
  wrk: { type: 'boolean' },
  'no-wrk': { type: 'boolean' },
  'wrk-threads': { type: 'string' },
  'quiet-wait': { type: 'string' },
  'quiet-threshold': { type: 'string' },
  'check-every': { type: 'string' },
  snapshot: { type: 'boolean' },
  quick: { type: 'boolean' },
  out: { type: 'string' },
  'allow-dirty': { type: 'boolean' },
} as const;

/** Throws UsageError (with the usage text) on a bad or unknown flag, and for --help. */
export function parseOptions(argv: readonly string[]): BenchOptions {
  const v = parseFlags(argv, FLAGS, USAGE);
  const c = checks(USAGE);
  const given: Partial<BenchOptions> = {};
  if (v.rounds !== undefined) given.rounds = c.int('rounds', v.rounds, 1);
  if (v.duration !== undefined) given.duration = c.num('duration', v.duration, 0.5);
  if (v.warmup !== undefined) given.warmup = c.num('warmup', v.warmup, 0);
  if (v.connections !== undefined) given.connections = c.int('connections', v.connections, 1);
  if (v.sessions !== undefined) given.sessions = c.int('sessions', v.sessions, 1);
  if (v['session-concurrency'] !== undefined) given.sessionConcurrency = c.int('session-concurrency', v['session-concurrency'], 1);
  if (v.settle !== undefined) given.settle = c.num('settle', v.settle, 0);
  if (v.workers !== undefined) given.workers = v.workers === 'default' ? null : c.int('workers', v.workers, 1);
  if (v.contenders !== undefined) given.contenders = c.subset('contenders', v.contenders, CONTENDERS);
  if (v.scenarios !== undefined) given.scenarios = c.subset('scenarios', v.scenarios, SCENARIOS);
  if (v.wrk && v['no-wrk']) c.fail('wrk', 'and --no-wrk', 'one of --wrk and --no-wrk');
  if (v.wrk) given.wrk = true;
  if (v['no-wrk']) given.wrk = false;
  if (v['wrk-threads'] !== undefined) given.wrkThreads = c.int('wrk-threads', v['wrk-threads'], 1);
  if (v['quiet-wait'] !== undefined) given.quietWait = c.num('quiet-wait', v['quiet-wait'], 0);
  if (v['quiet-threshold'] !== undefined) given.quietThreshold = c.num('quiet-threshold', v['quiet-threshold'], 0);
  if (v['check-every'] !== undefined) given.checkEvery = c.int('check-every', v['check-every'], 1);
  if (v.snapshot) given.snapshot = true;
  if (v.quick) given.quick = true;
  if (v.out !== undefined) given.out = c.text('out', v.out, 'a directory');
  if (v['allow-dirty']) given.allowDirty = true;
  const quick = given.quick ? QUICK : {};
  return Object.freeze({ ...DEFAULTS, ...quick, ...given });
}
