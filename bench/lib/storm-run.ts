/**
 * One storm run: a fresh cluster, the fleet set up at a bounded rate, steady load, the scenario's
 * event(s), recovery, the end check (Redis keys against the live sessions), a short tail. Progress
 * is printed on stderr every second. Returns the raw observations; storm-summary.ts reads them.
 */
import { Redis } from 'ioredis';
import type { Cluster } from './product.js';
import { startStormCluster, type ClusterCode } from './storm-cluster.js';
import { Fleet } from './storm-fleet.js';
import type { StormOptions, StormScenario } from './storm-options.js';
import { waitQuiet, type QuietCheck } from './storm-quiet.js';
import { redisCommandStats, Sampler, scrape, type Sample } from './storm-sampler.js';
import type { Recorder } from './storm-record.js';

export interface RunPlan {
  /** Unique within one invocation: kill, deploy-storm, rolling-jitter-on, rolling-jitter-off. */
  name: string;
  scenario: StormScenario;
  drainJitter: boolean;
}

/**
 * Redis against the live sessions. `converged`: the `mcp:session:*` keys are as many as the sessions
 * the nodes report live (`mcp_sessions_active`), and every client's session has its key. Sessions
 * live on a node that no client holds any more (a client re-initialized without DELETE) are real
 * live sessions: they are reported as `orphans`, not counted as a mismatch.
 */
export interface EndCheck {
  converged: boolean;
  /** ms from the last event to the first exact match (or to giving up). */
  afterMs: number;
  redisKeys: number;
  /** Sum of mcp_sessions_active over the running nodes. */
  activeSessions: number;
  /** Sessions the clients hold. */
  clientSessions: number;
  /** Client sessions without a Redis key, and Redis keys of no client session. */
  missing: number;
  extra: number;
  /** Sessions live on nodes beyond those the clients hold. */
  orphans: number;
  polls: number;
}

export interface Marks {
  rampStart: number;
  rampEnd: number;
  /** First event fired. */
  eventStart: number;
  /** The scenario's actions are over (the last node back up, the kill done, the storm fired). */
  eventEnd: number;
  /** Every affected client recovered (null: not within --recover-timeout). */
  recovered: number | null;
  endCheckDone: number;
  end: number;
}

export interface NodeAction {
  node: string;
  action: 'SIGKILL' | 'SIGTERM' | 'start';
  at: number;
  /** ms until the process exited (signals) or listened and HAProxy saw it UP (start). */
  tookMs: number;
  exitCode?: number | null;
}

export interface RunData {
  plan: RunPlan;
  /** The machine before the run (other processes' load). */
  quiet: QuietCheck;
  clients: number;
  cookieless: number;
  ownerRouting: boolean;
  startedAt: string;
  nodeNames: string[];
  lbUrl: string;
  env: Record<string, string>;
  marks: Marks;
  actions: NodeAction[];
  rec: Recorder;
  samples: Sample[];
  endCheck: EndCheck;
  /** INFO commandstats calls just before the first event and after the end check. */
  commandStats: { before: Record<string, number>; after: Record<string, number> };
  /** Last lines of each node's log (warn and above), for post-mortems. */
  nodeLogs: Record<string, string[]>;
}

const SETUP_TIMEOUT_MS = 120_000;
/**
 * Pause between the cluster being up and the first client: a node's directory of its peers is
 * refreshed every second, and a cold cluster answers a cookie-less client's request for a peer's
 * session with 404 until it has heard from that peer. The storm is measured on a warm cluster.
 */
const SETTLE_MS = 2000;

/** Runs in progress, stopped by abortRuns() on SIGINT/SIGTERM. */
const running = new Set<{ fleet: Fleet | null; cluster: Cluster }>();

/** Stops the clients, then every process a run in progress started (redis-server, nodes, haproxy). */
export async function abortRuns(): Promise<void> {
  const runs = [...running];
  running.clear();
  await Promise.all(runs.map((r) => (r.fleet ? r.fleet.stop() : Promise.resolve())));
  await Promise.all(runs.map((r) => r.cluster.stop().catch(() => {})));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function scanSessionKeys(redis: Redis): Promise<Set<string>> {
  const out = new Set<string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', 'mcp:session:*', 'COUNT', 1000);
    cursor = next;
    for (const k of keys) out.add(k);
  } while (cursor !== '0');
  return out;
}

/** Polls until Redis holds exactly the clients' sessions and the nodes report the same number live. */
async function endCheck(cluster: Cluster, redis: Redis, fleet: Fleet, since: number, deadlineAt: number): Promise<EndCheck> {
  const rec = fleet.rec;
  for (let polls = 1; ; polls++) {
    const keys = await scanSessionKeys(redis).catch(() => new Set<string>());
    const running = cluster.nodes.filter((n) => n.proc);
    const readings = await Promise.all(running.map((n) => scrape(n.port)));
    const activeSessions = readings.reduce((a, r) => a + (r?.active ?? 0), 0);
    const ids = fleet.sessionIds();
    let missing = 0;
    for (const id of ids) if (!keys.has(`mcp:session:${id}`)) missing++;
    const extra = keys.size - (ids.size - missing);
    const converged = missing === 0 && keys.size === activeSessions && ids.size === fleet.clients.length;
    const now = rec.now();
    if (converged || now >= deadlineAt) {
      return {
        converged,
        afterMs: now - since,
        redisKeys: keys.size,
        activeSessions,
        clientSessions: ids.size,
        missing,
        extra,
        orphans: activeSessions - ids.size,
        polls,
      };
    }
    await sleep(500);
  }
}

class Progress {
  phase = 'start';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly name: string,
    private readonly fleet: Fleet,
    private readonly sampler: Sampler,
    private readonly nodeNames: string[],
  ) {}

  start(): void {
    this.timer = setInterval(() => this.print(), 1000);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  print(): void {
    const rec = this.fleet.rec;
    const now = rec.now();
    const prev = rec.seconds[Math.floor(now / 1000) - 1];
    const s = this.sampler.last;
    const nodes = this.nodeNames.map((n) => `${n} ${s?.nodes[n] ? s.nodes[n].active : 'down'}`).join(' ');
    const errors = rec.totals.errorsAffected + rec.totals.errorsUnaffected;
    const cpu = s?.machineBusy == null ? '?' : `${Math.round(s.machineBusy * 100)}%`;
    process.stderr.write(
      `[${this.name} ${(now / 1000).toFixed(0).padStart(4)}s] ${this.phase.padEnd(9)} sessions ${this.fleet.sessions}/${this.fleet.clients.length} streams ${this.fleet.streams}` +
        ` | calls/s ${prev?.callsOk ?? 0} inits/s ${prev?.inits ?? 0} 404/s ${prev?.notFound ?? 0} errors ${errors} lost ${rec.totals.callsLost}` +
        ` | recovering ${rec.openIncidents} | ${nodes} | cpu ${cpu} lag ${s ? s.loadgenLagMaxMs.toFixed(0) : '?'}ms\n`,
    );
  }
}

export async function runStorm(o: StormOptions, plan: RunPlan, code: ClusterCode): Promise<RunData> {
  const say = (line: string): void => void process.stderr.write(`[${plan.name}] ${line}\n`);
  const env: Record<string, string> = {
    LOG_LEVEL: 'warn',
    ...o.nodeEnv,
    MCP_DRAIN_WINDOW_MS: String(o.drainWindowMs),
    MCP_DRAIN_JITTER: plan.drainJitter ? '1' : '0',
  };
  const quiet = o.quietWait > 0 ? await waitQuiet(o.quietCores, o.quietWait, say) : { busyCores: null, waitedS: 0, quiet: true };
  say(
    `starting redis, ${o.nodes} nodes (${o.workers} worker${o.workers > 1 ? 's' : ''} each), haproxy; ${o.clients} clients${o.cookieless > 0 ? `, ${Math.round(o.cookieless * 100)}% cookie-less` : ''}; owner routing ${o.ownerRouting ? 'on' : 'off'}`,
  );
  const cluster = await startStormCluster({
    code,
    nodes: o.nodes,
    workers: o.workers,
    basePort: o.basePort,
    checkMs: o.checkMs,
    ownerRouting: o.ownerRouting,
    env,
    say,
  });
  const entry: { fleet: Fleet | null; cluster: Cluster } = { fleet: null, cluster };
  running.add(entry);
  const redis = new Redis(cluster.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  const fleet = new Fleet({
    url: cluster.lbUrl,
    clients: o.clients,
    cookieless: o.cookieless,
    callIntervalMs: o.callIntervalMs,
    tool: o.tool,
    postSockets: o.postSockets,
  });
  entry.fleet = fleet;
  const rec = fleet.rec;
  const nodeNames = cluster.nodes.map((n) => n.name);
  const sampler = new Sampler(
    rec,
    () => cluster.nodes.map((n) => ({ name: n.name, port: n.port })),
    redis,
    () => ({ sessions: fleet.sessions, streams: fleet.streams, recovering: rec.openIncidents }),
  );
  const progress = new Progress(plan.name, fleet, sampler, nodeNames);
  const actions: NodeAction[] = [];
  const marks: Marks = { rampStart: 0, rampEnd: 0, eventStart: 0, eventEnd: 0, recovered: null, endCheckDone: 0, end: 0 };
  const startedAt = new Date().toISOString();
  const commandStats = { before: {} as Record<string, number>, after: {} as Record<string, number> };
  const nodeLogs: Record<string, string[]> = {};
  let check: EndCheck;
  try {
    sampler.start();
    progress.start();
    progress.phase = 'settle';
    await sleep(SETTLE_MS);
    progress.phase = 'ramp';
    marks.rampStart = rec.now();
    await fleet.ramp(o.rampRate, SETUP_TIMEOUT_MS);
    marks.rampEnd = rec.now();
    progress.phase = 'warmup';
    await sleep(o.warmup * 1000);
    commandStats.before = await redisCommandStats(redis);
    progress.phase = 'event';
    marks.eventStart = rec.now();
    await runEvents(o, plan, cluster, fleet, actions, progress, say);
    marks.eventEnd = rec.now();
    progress.phase = 'recover';
    const lastEventAt = rec.events.at(-1)!.at;
    const recovered = await fleet.waitRecovered(o.recoverTimeout * 1000);
    marks.recovered = recovered ? rec.now() : null;
    if (!recovered) say(`${rec.openIncidents} clients not recovered after ${o.recoverTimeout} s`);
    progress.phase = 'converge';
    check = await endCheck(
      cluster,
      redis,
      fleet,
      lastEventAt,
      lastEventAt + Math.max(o.convergeTimeout * 1000, rec.now() - lastEventAt + 1000),
    );
    marks.endCheckDone = rec.now();
    say(
      check.converged
        ? `Redis matches the live sessions (${check.redisKeys}${check.orphans ? `, of which ${check.orphans} held by no client` : ''}) ${(check.afterMs / 1000).toFixed(1)} s after the last event`
        : `Redis does NOT match: ${check.redisKeys} keys, ${check.activeSessions} active on nodes, ${check.clientSessions} client sessions (client sessions without a key ${check.missing}, keys of no client session ${check.extra})`,
    );
    commandStats.after = await redisCommandStats(redis);
    progress.phase = 'tail';
    await sleep(o.tail * 1000);
    marks.end = rec.now();
  } finally {
    // Everything this run started is stopped, whether it completed or not.
    progress.stop();
    sampler.stop();
    await fleet.stop();
    for (const n of cluster.nodes) nodeLogs[n.name] = n.logs.slice(-200);
    redis.disconnect();
    running.delete(entry);
    await cluster.stop().catch((err: Error) => say(`cluster stop: ${err.message}`));
  }
  return {
    plan,
    quiet,
    clients: o.clients,
    cookieless: o.cookieless,
    ownerRouting: o.ownerRouting,
    startedAt,
    nodeNames,
    lbUrl: cluster.lbUrl,
    env,
    marks,
    actions,
    rec,
    samples: sampler.samples,
    endCheck: check,
    commandStats,
    nodeLogs,
  };
}

async function runEvents(
  o: StormOptions,
  plan: RunPlan,
  cluster: Cluster,
  fleet: Fleet,
  actions: NodeAction[],
  progress: Progress,
  say: (l: string) => void,
): Promise<void> {
  const rec = fleet.rec;
  switch (plan.scenario) {
    case 'kill': {
      const i = o.killNode - 1;
      const name = cluster.nodes[i].name;
      const e = fleet.nodeEvent(`SIGKILL ${name}`, [name]);
      const exit = cluster.stopNode(i, 'SIGKILL');
      say(`SIGKILL ${name}: ${e.affected} clients had their session there`);
      const code = await exit;
      actions.push({ node: name, action: 'SIGKILL', at: e.at, tookMs: rec.now() - e.at, exitCode: code });
      return;
    }
    case 'rolling': {
      for (let i = 0; i < cluster.nodes.length; i++) {
        const name = cluster.nodes[i].name;
        progress.phase = `drain ${name}`;
        const e = fleet.nodeEvent(`SIGTERM ${name}`, [name]);
        say(
          `SIGTERM ${name}: ${e.affected} clients have their session there (drain window ${o.drainWindowMs} ms, jitter ${plan.drainJitter ? 'on' : 'off'})`,
        );
        const code = await cluster.stopNode(i, 'SIGTERM');
        actions.push({ node: name, action: 'SIGTERM', at: e.at, tookMs: rec.now() - e.at, exitCode: code });
        progress.phase = `start ${name}`;
        const t = rec.now();
        await cluster.startNode(i);
        await cluster.waitUp(30_000);
        fleet.nodeRestored(name);
        actions.push({ node: name, action: 'start', at: t, tookMs: rec.now() - t });
        say(
          `${name} exited with ${code} after ${((t - e.at) / 1000).toFixed(1)} s, back up after ${((rec.now() - t) / 1000).toFixed(1)} s`,
        );
        if (i < cluster.nodes.length - 1) await sleep(o.restartGap * 1000);
      }
      return;
    }
    case 'steady': {
      // No event: the steady window (set-up end to here) is what is measured.
      fleet.nodeEvent('steady load (no event)', []);
      return;
    }
    case 'deploy-storm': {
      const e = fleet.stormAll('all clients re-initialize');
      say(`storm: ${e.affected} clients re-initialize at once`);
      return;
    }
  }
}
