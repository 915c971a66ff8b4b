/**
 * Options of the reconnection-storm benchmark (bench/storm.ts): one interface, one frozen defaults
 * object, one merge, and validation up front that names the bad flag.
 */

export const STORM_SCENARIOS = ['kill', 'rolling', 'deploy-storm'] as const;
export type StormScenario = (typeof STORM_SCENARIOS)[number];

export interface StormOptions {
  scenarios: readonly StormScenario[];
  clients: number;
  nodes: number;
  /** Session workers per node. */
  workers: number;
  /** Share of clients that keep no cookie (0: all keep the sticky cookie, 1: none does). */
  cookieless: number;
  /** Each client calls a tool about this often (its phase is random). */
  callIntervalMs: number;
  tool: string;
  /** Sessions opened per second while the fleet is set up (the set-up is not the storm). */
  rampRate: number;
  /** Seconds of steady load before the event. */
  warmup: number;
  /** kill: which node (1-based) gets SIGKILL. */
  killNode: number;
  /** Node drain window (MCP_DRAIN_WINDOW_MS) for rolling restarts. */
  drainWindowMs: number;
  /** MCP_DRAIN_JITTER when the rolling scenario runs once. */
  drainJitter: boolean;
  /** rolling: run it twice in one invocation, drain jitter on then off. */
  compareJitter: boolean;
  /** rolling: seconds between one node being back up and the next one's SIGTERM. */
  restartGap: number;
  /** HAProxy health-check interval (ms); `fall 2` makes a dead node DOWN after two of these. null: the cluster runner's default. */
  checkMs: number | null;
  /** Extra environment for every node (e.g. MCP_SSE_RETRY_MS=250); the drain settings above win. */
  nodeEnv: Readonly<Record<string, string>>;
  /**
   * null (default): each client keeps its own keep-alive connection for its POSTs and DELETEs, like
   * real clients (3,000 clients: 3,000 of them plus 3,000 streams through HAProxy). N: all clients
   * share one pool of N sockets instead; the requests of clients stuck on a dead node then hold up
   * everyone else's once the pool is exhausted, and a storm must open new connections.
   */
  postSockets: number | null;
  /** Longest wait, after the last event, for every affected client to recover. */
  recoverTimeout: number;
  /** Longest wait for Redis to match the live sessions exactly. */
  convergeTimeout: number;
  /** Seconds recorded after convergence (the charts show the calm after the storm). */
  tail: number;
  /** First of a block of nodes + 2 ports (nodes, HAProxy, Redis); null: a free block is picked. */
  basePort: number | null;
  out: string;
  /** Run the cluster from a private copy of dist/ (others may rebuild the shared one mid-run). */
  snapshot: boolean;
  /** Before each run, wait at most this long (s) for other processes to use fewer than `quietCores`; 0: do not wait. */
  quietWait: number;
  quietCores: number;
}

export const STORM_DEFAULTS: Readonly<StormOptions> = Object.freeze({
  scenarios: ['kill'] as readonly StormScenario[],
  clients: 3000,
  nodes: 3,
  workers: 1,
  cookieless: 0,
  callIntervalMs: 1000,
  tool: 'test_simple_text',
  rampRate: 500,
  warmup: 5,
  killNode: 2,
  drainWindowMs: 5000,
  drainJitter: true,
  compareJitter: true,
  restartGap: 2,
  checkMs: null,
  nodeEnv: Object.freeze({}),
  postSockets: null,
  recoverTimeout: 60,
  convergeTimeout: 60,
  tail: 3,
  basePort: null,
  out: 'bench/results',
  snapshot: true,
  quietWait: 600,
  quietCores: 0.3,
});

export const STORM_USAGE = `usage: npm run bench:storm -- [flags]
  --scenario S          kill | rolling | deploy-storm | all, or a comma list (${STORM_DEFAULTS.scenarios.join(',')})
  --clients N           concurrent MCP clients, each with a GET SSE stream (${STORM_DEFAULTS.clients})
  --nodes N             cluster nodes behind HAProxy (${STORM_DEFAULTS.nodes})
  --workers N           session workers per node (${STORM_DEFAULTS.workers})
  --cookieless F        share of clients that keep no cookie, 0..1 (${STORM_DEFAULTS.cookieless})
  --no-cookies          same as --cookieless 1
  --call-interval-ms N  each client calls a tool about this often (${STORM_DEFAULTS.callIntervalMs})
  --tool NAME           the tool called (${STORM_DEFAULTS.tool})
  --ramp-rate N         sessions opened per second during set-up (${STORM_DEFAULTS.rampRate})
  --warmup S            seconds of steady load before the event (${STORM_DEFAULTS.warmup})
  --kill-node I         kill: the node (1-based) that gets SIGKILL (${STORM_DEFAULTS.killNode})
  --drain-window-ms N   rolling: MCP_DRAIN_WINDOW_MS (${STORM_DEFAULTS.drainWindowMs})
  --drain-jitter on|off rolling without --compare-jitter: MCP_DRAIN_JITTER (on)
  --compare-jitter      rolling: run twice, drain jitter on then off (default)
  --no-compare-jitter   rolling: run once, with --drain-jitter
  --restart-gap S       rolling: seconds between a node being back and the next SIGTERM (${STORM_DEFAULTS.restartGap})
  --check-ms N          HAProxy health-check interval (default: the cluster runner's)
  --node-env K=V        extra environment for every node, repeatable (e.g. MCP_SSE_RETRY_MS=250)
  --post-sockets N      all clients share a pool of N keep-alive sockets for POSTs (default: each client its own connection)
  --recover-timeout S   longest wait for every affected client to recover (${STORM_DEFAULTS.recoverTimeout})
  --converge-timeout S  longest wait for Redis keys to match the live sessions (${STORM_DEFAULTS.convergeTimeout})
  --tail S              seconds recorded after the end check (${STORM_DEFAULTS.tail})
  --base-port P         ports P .. P+nodes+1 (nodes, HAProxy, Redis); default: a free block
  --out DIR             results directory (${STORM_DEFAULTS.out}); each run writes DIR/storm-<scenario>-<time>/
  --no-snapshot         run the cluster from dist/ itself instead of a private copy
  --quiet-wait S        before each run, wait up to S s for the machine to be quiet; 0: do not wait (${STORM_DEFAULTS.quietWait})
  --quiet-cores C       quiet means fewer than C cores busy (${STORM_DEFAULTS.quietCores})`;

/** Client connections through HAProxy at most (its maxconn is 8,000, ulimit -n 20,000). */
const MAX_CONNECTIONS = 7500;

export class StormUsageError extends Error {
  readonly code = 'STORM_ERR_USAGE';
}

function bad(flag: string, raw: string | undefined, want: string): never {
  throw new StormUsageError(`invalid ${flag}=${JSON.stringify(raw)}: expected ${want}\n${STORM_USAGE}`);
}

function int(flag: string, raw: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (raw === undefined || !/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) bad(flag, raw, `an integer in ${min}..${max}`);
  return Number(raw);
}

function num(flag: string, raw: string | undefined, min: number, max: number): number {
  const v = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isFinite(v) || v < min || v > max) bad(flag, raw, `a number in ${min}..${max}`);
  return v;
}

function onOff(flag: string, raw: string | undefined): boolean {
  if (raw === 'on' || raw === '1' || raw === 'true') return true;
  if (raw === 'off' || raw === '0' || raw === 'false') return false;
  return bad(flag, raw, 'on or off');
}

function scenarios(flag: string, raw: string | undefined): StormScenario[] {
  if (raw === 'all') return [...STORM_SCENARIOS];
  const list = (raw ?? '').split(',').map((s) => s.trim());
  for (const s of list) if (!(STORM_SCENARIOS as readonly string[]).includes(s)) bad(flag, raw, `${STORM_SCENARIOS.join(' | ')} | all`);
  return [...new Set(list)] as StormScenario[];
}

export function parseStormArgs(argv: readonly string[]): StormOptions {
  const given: Partial<StormOptions> = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const next = (): string | undefined => argv[++i];
    switch (flag) {
      case '--scenario': case '--scenarios': given.scenarios = scenarios(flag, next()); break;
      case '--clients': given.clients = int(flag, next(), 1, MAX_CONNECTIONS); break;
      case '--nodes': given.nodes = int(flag, next(), 2, 16); break;
      case '--workers': given.workers = int(flag, next(), 1, 64); break;
      case '--cookieless': given.cookieless = num(flag, next(), 0, 1); break;
      case '--no-cookies': given.cookieless = 1; break;
      case '--call-interval-ms': given.callIntervalMs = int(flag, next(), 10); break;
      case '--tool': given.tool = next() ?? bad(flag, undefined, 'a tool name'); break;
      case '--ramp-rate': given.rampRate = int(flag, next(), 1); break;
      case '--warmup': given.warmup = num(flag, next(), 0, 3600); break;
      case '--kill-node': given.killNode = int(flag, next(), 1); break;
      case '--drain-window-ms': given.drainWindowMs = int(flag, next(), 0); break;
      case '--drain-jitter': given.drainJitter = onOff(flag, next()); break;
      case '--compare-jitter': given.compareJitter = true; break;
      case '--no-compare-jitter': given.compareJitter = false; break;
      case '--restart-gap': given.restartGap = num(flag, next(), 0, 3600); break;
      case '--check-ms': given.checkMs = int(flag, next(), 50); break;
      case '--node-env': {
        const raw = next();
        const eq = raw?.indexOf('=') ?? -1;
        if (raw === undefined || eq <= 0 || !/^[A-Z_][A-Z0-9_]*$/.test(raw.slice(0, eq))) bad(flag, raw, 'NAME=value');
        given.nodeEnv = { ...(given.nodeEnv ?? {}), [raw.slice(0, eq)]: raw.slice(eq + 1) };
        break;
      }
      case '--post-sockets': given.postSockets = int(flag, next(), 1, 8000); break;
      case '--recover-timeout': given.recoverTimeout = num(flag, next(), 1, 3600); break;
      case '--converge-timeout': given.convergeTimeout = num(flag, next(), 1, 3600); break;
      case '--tail': given.tail = num(flag, next(), 0, 3600); break;
      case '--base-port': given.basePort = int(flag, next(), 1024, 65000); break;
      case '--out': given.out = next() ?? bad(flag, undefined, 'a directory'); break;
      case '--no-snapshot': given.snapshot = false; break;
      case '--snapshot': given.snapshot = true; break;
      case '--quiet-wait': given.quietWait = num(flag, next(), 0, 86400); break;
      case '--quiet-cores': given.quietCores = num(flag, next(), 0.01, 1024); break;
      case '-h': case '--help': throw new StormUsageError(STORM_USAGE);
      default: throw new StormUsageError(`unknown flag ${JSON.stringify(flag)}\n${STORM_USAGE}`);
    }
  }
  const o: StormOptions = { ...STORM_DEFAULTS, ...given };
  if (o.killNode > o.nodes) bad('--kill-node', String(o.killNode), `a node in 1..${o.nodes}`);
  if (o.basePort !== null && o.basePort + o.nodes + 1 > 65535) bad('--base-port', String(o.basePort), `a port leaving room for ${o.nodes + 2} ports`);
  // Each stream and pooled socket is one HAProxy connection (two fds there); its maxconn is 8,000.
  const connections = o.clients + (o.postSockets ?? o.clients);
  if (connections > MAX_CONNECTIONS) {
    bad(o.postSockets === null ? '--clients' : '--post-sockets', String(o.postSockets ?? o.clients), `streams + POST connections (${connections}) <= ${MAX_CONNECTIONS} (HAProxy maxconn 8000); with one connection per client, at most ${MAX_CONNECTIONS / 2} clients`);
  }
  return o;
}
