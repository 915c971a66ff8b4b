/**
 * Options of the reconnection-storm benchmark (bench/storm.ts): one interface, one frozen defaults
 * object, one merge, and validation up front (lib/args.ts: one option table drives parsing, the checks and --help).
 */
import { defineCommand } from './args.js';
import { RESULTS } from './product.js';
import { MIN_HORIZON_S, TICK_SLOTS } from './storm-modern.js';

export const STORM_SCENARIOS = ['kill', 'rolling', 'deploy-storm', 'steady'] as const;
export type StormScenario = (typeof STORM_SCENARIOS)[number];
/** Which clients make up the fleet: 2025-11-25 sessions (the default), or stateless 2026-07-28 clients. */
export const STORM_ERAS = ['2025', 'modern'] as const;
export type StormEra = (typeof STORM_ERAS)[number];

export interface StormOptions {
  scenarios: readonly StormScenario[];
  /**
   * 2025: each client holds a session and its GET stream. modern: each client holds one
   * `subscriptions/listen` stream and makes stateless tools/call requests (no session, no cookie),
   * while an announcer publishes `announceRate` change events per second (kill scenario only).
   */
  era: StormEra;
  /** modern: change events announced per second (each one reaches every listen stream). */
  announceRate: number;
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
  era: '2025',
  announceRate: 5,
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

/** Client connections through HAProxy at most (its maxconn is 8,000, ulimit -n 20,000). */
const MAX_CONNECTIONS = 7500;

const command = defineCommand(
  'usage: npm run bench:storm -- [flags]',
  {
    scenarios: {
      type: 'list',
      of: STORM_SCENARIOS,
      allWord: 'all',
      allOf: STORM_SCENARIOS.filter((s) => s !== 'steady'),
      aliases: ['scenario'],
      arg: 'S',
      help: 'kill | rolling | deploy-storm | steady | all, or a comma list (steady: no event, --warmup seconds of steady load measured; all: the three storms)',
    },
    era: {
      type: 'text',
      want: '2025 | modern',
      arg: 'E',
      help: 'the clients: 2025 (sessions and GET streams) or modern (2026-07-28: listen streams and stateless calls; kill only)',
    },
    announceRate: {
      type: 'num',
      min: 0.1,
      max: TICK_SLOTS / MIN_HORIZON_S,
      arg: 'N',
      help: 'modern: change events announced per second, each delivered to every listen stream',
    },
    clients: { type: 'int', min: 1, max: MAX_CONNECTIONS, help: 'concurrent MCP clients, each with a GET SSE stream' },
    nodes: { type: 'int', min: 2, max: 16, help: 'cluster nodes behind HAProxy' },
    workers: { type: 'int', min: 1, max: 64, help: 'session workers per node' },
    cookieless: { type: 'num', min: 0, max: 1, arg: 'F', help: 'share of clients that keep no cookie, 0..1' },
    noCookies: { type: 'bool', help: 'same as --cookieless 1' },
    callIntervalMs: { type: 'int', min: 10, help: 'each client calls a tool about this often' },
    tool: { type: 'text', want: 'a tool name', arg: 'NAME', help: 'the tool called' },
    rampRate: { type: 'int', min: 1, help: 'sessions opened per second during set-up' },
    warmup: { type: 'num', min: 0, max: 3600, arg: 'S', help: 'seconds of steady load before the event' },
    killNode: { type: 'int', min: 1, arg: 'I', help: 'kill: the node (1-based) that gets SIGKILL' },
    drainWindowMs: { type: 'int', min: 0, help: 'rolling: MCP_DRAIN_WINDOW_MS' },
    drainJitter: { type: 'onOff', help: 'rolling without --compare-jitter: MCP_DRAIN_JITTER' },
    compareJitter: {
      type: 'bool',
      negatable: true,
      help: 'rolling: run twice, drain jitter on then off (--no-: once, with --drain-jitter)',
    },
    restartGap: { type: 'num', min: 0, max: 3600, arg: 'S', help: 'rolling: seconds between a node being back and the next SIGTERM' },
    ownerRouting: { type: 'onOff', help: "HAProxy routes on the session id's owner tag before the cookie" },
    checkMs: { type: 'int', min: 50, help: "HAProxy health-check interval (default: the cluster runner's)" },
    nodeEnv: {
      type: 'pairs',
      namePattern: /^[A-Z_][A-Z0-9_]*$/,
      help: 'extra environment for every node, repeatable (e.g. MCP_SSE_RETRY_MS=250)',
    },
    postSockets: {
      type: 'int',
      min: 1,
      max: 8000,
      help: 'all clients share a pool of N keep-alive sockets for POSTs (default: each client its own connection)',
    },
    recoverTimeout: { type: 'num', min: 1, max: 3600, arg: 'S', help: 'longest wait for every affected client to recover' },
    convergeTimeout: { type: 'num', min: 1, max: 3600, arg: 'S', help: 'longest wait for Redis keys to match the live sessions' },
    tail: { type: 'num', min: 0, max: 3600, arg: 'S', help: 'seconds recorded after the end check' },
    basePort: { type: 'int', min: 1024, max: 65000, arg: 'P', help: 'ports P .. P+nodes+1 (nodes, HAProxy, Redis); default: a free block' },
    out: {
      type: 'text',
      want: 'a directory',
      arg: 'DIR',
      help: 'results directory (bench/results); each run writes DIR/storm-<scenario>-<time>/',
    },
    snapshot: { type: 'bool', negatable: true, help: 'run the cluster from a private copy of dist/ (--no-: from dist/ itself)' },
    quietWait: {
      type: 'num',
      min: 0,
      max: 86400,
      arg: 'S',
      help: 'before each run, wait up to S s for the machine to be quiet; 0: do not wait',
    },
    quietCores: { type: 'num', min: 0.01, max: 1024, arg: 'C', help: 'quiet means fewer than C cores busy' },
    allowDirty: { type: 'bool', help: 'measure although the working tree differs from its commit (result flagged dirty)' },
  },
  { ...STORM_DEFAULTS, nodeEnv: undefined, out: undefined, allowDirty: undefined },
);

/** Throws UsageError (with the usage text) on a bad or unknown flag, and for --help. */
export function parseStormArgs(argv: readonly string[]): StormOptions {
  const { noCookies, ...given } = command.parse(argv);
  if (noCookies) given.cookieless = 1;
  const { era: eraGiven, ...rest } = given;
  if (eraGiven !== undefined && !(STORM_ERAS as readonly string[]).includes(eraGiven))
    command.fail('era', eraGiven, STORM_ERAS.join(' | '));
  const o: StormOptions = { ...STORM_DEFAULTS, ...rest, era: (eraGiven ?? STORM_DEFAULTS.era) as StormEra };
  if (o.era === 'modern') {
    // The modern fleet has no sessions to storm or drain, keeps no cookie, and calls the storm tool module's echo.
    if (o.scenarios.some((s) => s !== 'kill')) command.fail('scenarios', o.scenarios.join(','), 'kill (the only scenario of --era modern)');
    if (given.tool !== undefined)
      command.fail('tool', given.tool, 'no --tool with --era modern (its clients call echo of bench/storm-tools.ts)');
    if (given.postSockets !== undefined) command.fail('postSockets', String(given.postSockets), 'no --post-sockets with --era modern');
    if (given.cookieless !== undefined || noCookies)
      command.fail('cookieless', String(given.cookieless ?? 1), 'no cookie flags with --era modern (its clients never keep a cookie)');
  } else if (given.announceRate !== undefined) command.fail('announceRate', String(given.announceRate), '--era modern');
  if (o.killNode > o.nodes) command.fail('killNode', String(o.killNode), `a node in 1..${o.nodes}`);
  if (o.basePort !== null && o.basePort + o.nodes + 1 > 65535)
    command.fail('basePort', String(o.basePort), `a port leaving room for ${o.nodes + 2} ports`);
  // Each stream and pooled socket is one HAProxy connection (two fds there); its maxconn is 8,000.
  const connections = o.clients + (o.postSockets ?? o.clients);
  if (connections > MAX_CONNECTIONS) {
    command.fail(
      o.postSockets === null ? 'clients' : 'postSockets',
      String(o.postSockets ?? o.clients),
      `streams + POST connections (${connections}) <= ${MAX_CONNECTIONS} (HAProxy maxconn 8000); with one connection per client, at most ${MAX_CONNECTIONS / 2} clients`,
    );
  }
  return o;
}
