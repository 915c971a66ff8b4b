import { existsSync } from 'node:fs';
import { defineCommand } from './args.js';
import { RESULTS } from './product.js';
import { WRK_BIN } from './wrk.js';

/**
 * Options of the throughput benchmark: one interface, one frozen defaults object, one merge, and
 * validation up front (lib/args.ts: one option table drives parsing, the checks and --help).
 */

/**
 * ours: this node; sdk-v1 / sdk-v2: reference servers on the official SDK 1.x and 2.x (2025-era
 * sessions); sdk-v2-cluster: the SDK 2.x stateless handler, one process per core (2026-07-28
 * requests); bare-uws: the ceiling, a bare uWebSockets.js server answering our node's bytes;
 * ours-nometrics: this node, metrics off; ours-auth: this node with authorization on (a real
 * authorization server, every request with a valid JWT access token).
 */
export const CONTENDERS = ['ours', 'sdk-v1', 'sdk-v2', 'sdk-v2-cluster', 'bare-uws', 'ours-nometrics', 'ours-auth'] as const;
export type ContenderName = (typeof CONTENDERS)[number];

/**
 * tools: 2025-era tools/call on one session; init: initialize; rss: memory per idle session;
 * call-modern: 2026-07-28 tools/call, no session, as the SDK v2 client sends it.
 */
export const SCENARIOS = ['tools', 'init', 'rss', 'call-modern'] as const;
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
  /**
   * `--workers` for our server in call-modern; null (the default) leaves the server's own (one per
   * core): a modern request needs no session, so every worker can serve it.
   */
  modernWorkers: number | null;
  /** MCP_STATELESS_SPILL for our server in call-modern; null (the default) leaves the server's own. */
  statelessSpill: number | null;
  /** Processes of sdk-v2-cluster; null (the default): os.availableParallelism(), as its guide does. */
  sdkWorkers: number | null;
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
  modernWorkers: null,
  statelessSpill: null,
  sdkWorkers: null,
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

const command = defineCommand(
  'usage: npm run bench:throughput -- [flags]',
  {
    rounds: { type: 'int', min: 1, help: 'rounds; each runs every contender once per scenario, the order rotating per round' },
    duration: { type: 'num', min: 0.5, arg: 'S', help: 'seconds per measured load run' },
    warmup: { type: 'num', min: 0, arg: 'S', help: 'seconds of warm-up load before each measured run' },
    connections: { type: 'int', min: 1, help: 'connections of the load generators' },
    sessions: { type: 'int', min: 1, help: 'idle sessions for the RSS scenario' },
    sessionConcurrency: { type: 'int', min: 1, help: 'sessions opened at once in the RSS scenario' },
    settle: { type: 'num', min: 0, arg: 'S', help: 'seconds to wait before the second RSS reading' },
    workers: {
      type: 'int',
      min: 1,
      nullWord: 'default',
      arg: 'N|default',
      help: '--workers for our server in tools, init and rss ("default": its own, one per core)',
    },
    modernWorkers: {
      type: 'int',
      min: 1,
      nullWord: 'default',
      arg: 'N|default',
      help: '--workers for our server in call-modern ("default": its own, one per core)',
    },
    statelessSpill: {
      type: 'int',
      min: 0,
      nullWord: 'default',
      arg: 'N|default',
      help: 'MCP_STATELESS_SPILL for our server in call-modern (0: round robin; "default": its own)',
    },
    sdkWorkers: {
      type: 'int',
      min: 1,
      nullWord: 'default',
      arg: 'N|default',
      help: 'processes of sdk-v2-cluster ("default": os.availableParallelism())',
    },
    contenders: { type: 'list', of: CONTENDERS, renamed: { sdk: 'sdk-v1' }, help: 'which contenders run (sdk: sdk-v1)' },
    scenarios: { type: 'list', of: SCENARIOS, help: 'which scenarios run' },
    wrk: { type: 'bool', negatable: true, help: `also measure with wrk, a C load generator (on when ${WRK_BIN} exists)` },
    wrkThreads: { type: 'int', min: 1, help: 'wrk threads' },
    quietWait: { type: 'num', min: 0, arg: 'S', help: 'before each run, wait up to S s for other processes to go quiet (0: off)' },
    quietThreshold: { type: 'num', min: 0, arg: 'C', help: 'CPU cores of other processes that still count as quiet' },
    snapshot: { type: 'bool', help: 'run the servers from a private copy of dist/ (safe against rebuilds mid-run)' },
    checkEvery: { type: 'int', min: 1, help: 'during load, parse and validate one response body in N' },
    quick: { type: 'bool', help: `smoke run: ${JSON.stringify(QUICK)}` },
    out: { type: 'text', want: 'a directory', arg: 'DIR', help: 'where JSON results go (bench/results)' },
    allowDirty: { type: 'bool', help: 'measure although the working tree differs from its commit (result flagged dirty)' },
  },
  { ...DEFAULTS, out: undefined, allowDirty: undefined, quick: undefined, snapshot: undefined, wrk: undefined },
);

/** Throws UsageError (with the usage text) on a bad or unknown flag, and for --help. */
export function parseOptions(argv: readonly string[]): BenchOptions {
  const given = command.parse(argv);
  const quick = given.quick ? QUICK : {};
  return Object.freeze({ ...DEFAULTS, ...quick, ...given });
}
