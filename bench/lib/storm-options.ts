/**
 * Options of the reconnection-storm benchmark (bench/storm.ts): one interface, one frozen defaults
 * object, one merge, and validation up front (node:util parseArgs, then checks that name the bad flag).
 */
import { checks, parseFlags } from './args.js';
import { RESULTS } from './product.js';

export const STORM_SCENARIOS = ['kill', 'rolling', 'deploy-storm', 'steady'] as const;
export type StormScenario = (typeof STORM_SCENARIOS)[number];

export interface StormOptions {
  scenarios: readonly StormScenario[];
  clients: number;
  nodes: number;
  /** Session workers per node. */
  workers: number;
  /** Share of clients that keep no cookie (0: all keep the sticky cookie, 1: none does). */
  cookieless: number;
  /** HAProxy routes requests on their session id's owner tag (the cluster runner's default: on). */
  ownerRouting: boolean;
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
  /** Measure on a working tree that differs from its commit (the result is flagged dirty). */
  allowDirty: boolean;
}

export const STORM_DEFAULTS: Readonly<StormOptions> = Object.freeze({
  scenarios: ['kill'] as readonly StormScenario[],
  clients: 3000,
  nodes: 3,
  workers: 1,
  cookieless: 0,
  ownerRouting: true,
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
  out: RESULTS,
  snapshot: true,
  quietWait: 600,
  quietCores: 0.3,
  allowDirty: false,
});

export const STORM_USAGE = `usage: npm run bench:storm -- [flags]
  --scenario S          kill | rolling | deploy-storm | steady | all, or a comma list (${STORM_DEFAULTS.scenarios.join(',')})
                        (steady: no event, --warmup seconds of steady load measured; all: the three storms)
  --clients N           concurrent MCP clients, each with a GET SSE stream (${STORM_DEFAULTS.clients})
  --nodes N             cluster nodes behind HAProxy (${STORM_DEFAULTS.nodes})
  --workers N           session workers per node (${STORM_DEFAULTS.workers})
  --cookieless F        share of clients that keep no cookie, 0..1 (${STORM_DEFAULTS.cookieless})
  --no-cookies          same as --cookieless 1
  --owner-routing on|off HAProxy routes on the session id's owner tag before the cookie (on)
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
  --out DIR             results directory (bench/results); each run writes DIR/storm-<scenario>-<time>/
  --no-snapshot         run the cluster from dist/ itself instead of a private copy
  --quiet-wait S        before each run, wait up to S s for the machine to be quiet; 0: do not wait (${STORM_DEFAULTS.quietWait})
  --quiet-cores C       quiet means fewer than C cores busy (${STORM_DEFAULTS.quietCores})
  --allow-dirty         measure although the working tree differs from its commit (result flagged dirty)`;

/** Client connections through HAProxy at most (its maxconn is 8,000, ulimit -n 20,000). */
const MAX_CONNECTIONS = 7500;

const FLAGS = {
  scenario: { type: 'string' },
  scenarios: { type: 'string' },
  clients: { type: 'string' },
  nodes: { type: 'string' },
  workers: { type: 'string' },
  cookieless: { type: 'string' },
  'no-cookies': { type: 'boolean' },
  'owner-routing': { type: 'string' },
  'call-interval-ms': { type: 'string' },
  tool: { type: 'string' },
  'ramp-rate': { type: 'string' },
  warmup: { type: 'string' },
  'kill-node': { type: 'string' },
  'drain-window-ms': { type: 'string' },
  'drain-jitter': { type: 'string' },
  'compare-jitter': { type: 'boolean' },
  'no-compare-jitter': { type: 'boolean' },
  'restart-gap': { type: 'string' },
  'check-ms': { type: 'string' },
  'node-env': { type: 'string', multiple: true },
  'post-sockets': { type: 'string' },
  'recover-timeout': { type: 'string' },
  'converge-timeout': { type: 'string' },
  tail: { type: 'string' },
  'base-port': { type: 'string' },
  out: { type: 'string' },
  snapshot: { type: 'boolean' },
  'no-snapshot': { type: 'boolean' },
  'quiet-wait': { type: 'string' },
  'quiet-cores': { type: 'string' },
  'allow-dirty': { type: 'boolean' },
} as const;

/** Throws UsageError (with the usage text) on a bad or unknown flag, and for --help. */
export function parseStormArgs(argv: readonly string[]): StormOptions {
  const v = parseFlags(argv, FLAGS, STORM_USAGE);
  const c = checks(STORM_USAGE);
  const given: Partial<StormOptions> = {};
  const scenario = v.scenario ?? v.scenarios;
  if (scenario !== undefined)
    given.scenarios = scenario === 'all' ? STORM_SCENARIOS.filter((s) => s !== 'steady') : c.subset('scenario', scenario, STORM_SCENARIOS);
  if (v.clients !== undefined) given.clients = c.int('clients', v.clients, 1, MAX_CONNECTIONS);
  if (v.nodes !== undefined) given.nodes = c.int('nodes', v.nodes, 2, 16);
  if (v.workers !== undefined) given.workers = c.int('workers', v.workers, 1, 64);
  if (v.cookieless !== undefined) given.cookieless = c.num('cookieless', v.cookieless, 0, 1);
  if (v['no-cookies']) given.cookieless = 1;
  if (v['owner-routing'] !== undefined) given.ownerRouting = c.onOff('owner-routing', v['owner-routing']);
  if (v['call-interval-ms'] !== undefined) given.callIntervalMs = c.int('call-interval-ms', v['call-interval-ms'], 10);
  if (v.tool !== undefined) given.tool = c.text('tool', v.tool, 'a tool name');
  if (v['ramp-rate'] !== undefined) given.rampRate = c.int('ramp-rate', v['ramp-rate'], 1);
  if (v.warmup !== undefined) given.warmup = c.num('warmup', v.warmup, 0, 3600);
  if (v['kill-node'] !== undefined) given.killNode = c.int('kill-node', v['kill-node'], 1);
  if (v['drain-window-ms'] !== undefined) given.drainWindowMs = c.int('drain-window-ms', v['drain-window-ms'], 0);
  if (v['drain-jitter'] !== undefined) given.drainJitter = c.onOff('drain-jitter', v['drain-jitter']);
  if (v['compare-jitter']) given.compareJitter = true;
  if (v['no-compare-jitter']) given.compareJitter = false;
  if (v['restart-gap'] !== undefined) given.restartGap = c.num('restart-gap', v['restart-gap'], 0, 3600);
  if (v['check-ms'] !== undefined) given.checkMs = c.int('check-ms', v['check-ms'], 50);
  for (const raw of v['node-env'] ?? []) {
    const eq = raw.indexOf('=');
    if (eq <= 0 || !/^[A-Z_][A-Z0-9_]*$/.test(raw.slice(0, eq))) c.fail('node-env', raw, 'NAME=value');
    given.nodeEnv = { ...(given.nodeEnv ?? {}), [raw.slice(0, eq)]: raw.slice(eq + 1) };
  }
  if (v['post-sockets'] !== undefined) given.postSockets = c.int('post-sockets', v['post-sockets'], 1, 8000);
  if (v['recover-timeout'] !== undefined) given.recoverTimeout = c.num('recover-timeout', v['recover-timeout'], 1, 3600);
  if (v['converge-timeout'] !== undefined) given.convergeTimeout = c.num('converge-timeout', v['converge-timeout'], 1, 3600);
  if (v.tail !== undefined) given.tail = c.num('tail', v.tail, 0, 3600);
  if (v['base-port'] !== undefined) given.basePort = c.int('base-port', v['base-port'], 1024, 65000);
  if (v.out !== undefined) given.out = c.text('out', v.out, 'a directory');
  if (v.snapshot) given.snapshot = true;
  if (v['no-snapshot']) given.snapshot = false;
  if (v['quiet-wait'] !== undefined) given.quietWait = c.num('quiet-wait', v['quiet-wait'], 0, 86400);
  if (v['quiet-cores'] !== undefined) given.quietCores = c.num('quiet-cores', v['quiet-cores'], 0.01, 1024);
  if (v['allow-dirty']) given.allowDirty = true;
  const o: StormOptions = { ...STORM_DEFAULTS, ...given };
  if (o.killNode > o.nodes) c.fail('kill-node', String(o.killNode), `a node in 1..${o.nodes}`);
  if (o.basePort !== null && o.basePort + o.nodes + 1 > 65535)
    c.fail('base-port', String(o.basePort), `a port leaving room for ${o.nodes + 2} ports`);
  // Each stream and pooled socket is one HAProxy connection (two fds there); its maxconn is 8,000.
  const connections = o.clients + (o.postSockets ?? o.clients);
  if (connections > MAX_CONNECTIONS) {
    c.fail(
      o.postSockets === null ? 'clients' : 'post-sockets',
      String(o.postSockets ?? o.clients),
      `streams + POST connections (${connections}) <= ${MAX_CONNECTIONS} (HAProxy maxconn 8000); with one connection per client, at most ${MAX_CONNECTIONS / 2} clients`,
    );
  }
  return o;
}
