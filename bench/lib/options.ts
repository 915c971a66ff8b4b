import { existsSync } from 'node:fs';
import { WRK_BIN } from './wrk.js';

/**
 * Options of the throughput benchmark: one interface, one frozen defaults object, one merge, and
 * validation up front that names the bad flag.
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
  out: 'bench/results',
  contenders: CONTENDERS,
  scenarios: SCENARIOS,
  wrk: existsSync(WRK_BIN),
  wrkThreads: 1,
  quietWait: 120,
  quietThreshold: 0.25,
  snapshot: false,
});

/** What `--quick` changes, unless the same flag is also given. */
const QUICK: Readonly<Partial<BenchOptions>> = Object.freeze({ rounds: 1, duration: 2, warmup: 0.5, sessions: 500, settle: 0.5, quietWait: 5 });

const USAGE = `usage: node dist/bench/throughput.js [flags]
  --rounds N            rounds; each runs every contender once per scenario (${DEFAULTS.rounds})
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
  --quick               smoke run: ${JSON.stringify(QUICK)}
  --out DIR             where JSON results go (${DEFAULTS.out})`;

function bad(flag: string, raw: string | undefined, expected: string): never {
  throw new Error(`invalid ${flag} ${JSON.stringify(raw ?? '')}: expected ${expected}\n${USAGE}`);
}

function num(flag: string, raw: string | undefined, min: number, integer: boolean): number {
  const n = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    bad(flag, raw, `${integer ? 'an integer' : 'a number'} >= ${min}`);
  }
  return n;
}

function subset<T extends string>(flag: string, raw: string | undefined, all: readonly T[]): readonly T[] {
  const items = (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0 || items.some((i) => !all.includes(i as T))) bad(flag, raw, `a comma list of ${all.join(', ')}`);
  return Object.freeze(all.filter((a) => items.includes(a)));
}

export function parseOptions(argv: readonly string[]): BenchOptions {
  const given: Partial<BenchOptions> = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string | undefined => argv[++i];
    switch (flag) {
      case '--rounds': given.rounds = num(flag, value(), 1, true); break;
      case '--duration': given.duration = num(flag, value(), 0.5, false); break;
      case '--warmup': given.warmup = num(flag, value(), 0, false); break;
      case '--connections': given.connections = num(flag, value(), 1, true); break;
      case '--sessions': given.sessions = num(flag, value(), 1, true); break;
      case '--session-concurrency': given.sessionConcurrency = num(flag, value(), 1, true); break;
      case '--settle': given.settle = num(flag, value(), 0, false); break;
      case '--workers': {
        const v = value();
        given.workers = v === 'default' ? null : num(flag, v, 1, true);
        break;
      }
      case '--contenders': given.contenders = subset(flag, value(), CONTENDERS); break;
      case '--scenarios': given.scenarios = subset(flag, value(), SCENARIOS); break;
      case '--wrk': given.wrk = true; break;
      case '--no-wrk': given.wrk = false; break;
      case '--wrk-threads': given.wrkThreads = num(flag, value(), 1, true); break;
      case '--quiet-wait': given.quietWait = num(flag, value(), 0, false); break;
      case '--quiet-threshold': given.quietThreshold = num(flag, value(), 0, false); break;
      case '--snapshot': given.snapshot = true; break;
      case '--quick': given.quick = true; break;
      case '--out': {
        const v = value();
        if (!v || v.trim() === '') bad(flag, v, 'a directory');
        given.out = v;
        break;
      }
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
      // falls through (process.exit does not return)
      default:
        bad('argument', flag, `one of the flags below`);
    }
  }
  const quick = given.quick ? QUICK : {};
  return Object.freeze({ ...DEFAULTS, ...quick, ...given });
}
