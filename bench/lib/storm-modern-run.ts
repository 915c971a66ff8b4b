/**
 * One storm run with the modern fleet (`--era modern`, kill scenario): a fresh cluster whose nodes load
 * the storm's tool module, every client listening and calling, the announcer publishing change events,
 * steady load, SIGKILL to one node, recovery (every affected client listening again, every client's
 * calls served again), a short tail, then the announcer stops and the streams get what is still on its
 * way before the clients stop. Progress on stderr every second; returns the raw observations
 * (storm-modern-summary.ts reads them).
 */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { BENCH, type Cluster } from './product.js';
import { startStormCluster, type ClusterCode } from './storm-cluster.js';
import { ModernFleet, type ModernRecorder } from './storm-modern-fleet.js';
import type { StormOptions } from './storm-options.js';
import { waitQuiet, type QuietCheck } from './storm-quiet.js';
import type { NodeAction, RunPlan } from './storm-run.js';
import { Sampler, type Sample } from './storm-sampler.js';

export interface ModernMarks {
  rampStart: number;
  rampEnd: number;
  /** The kill. */
  event: number;
  /** Every affected client listening again and every client's calls served again (null: not within --recover-timeout). */
  recovered: number | null;
  /** The announcer stopped (its last event sent). */
  announceEnd: number;
  /** Open streams had every event announced, or the wait gave up. */
  drained: number;
  end: number;
}

export interface ModernRunData {
  era: 'modern';
  plan: RunPlan;
  quiet: QuietCheck;
  clients: number;
  callIntervalMs: number;
  announceRate: number;
  startedAt: string;
  nodeNames: string[];
  lbUrl: string;
  env: Record<string, string>;
  killed: string;
  marks: ModernMarks;
  /** Event notifications still not on open streams when the wait for them gave up (0: all arrived). */
  drainPending: number;
  actions: NodeAction[];
  rec: ModernRecorder;
  samples: Sample[];
  nodeLogs: Record<string, string[]>;
}

const SETUP_TIMEOUT_MS = 120_000;
/** As in the 2025 run: the nodes' directories of their peers fill within a second or two. */
const SETTLE_MS = 2000;
/** Longest wait, after the announcer stops, for the events on their way to reach open streams. */
const DRAIN_MS = 5000;

/** The tool module every node loads: echo and storm_tick (bench/storm-tools.ts, built to bench/dist). */
export const STORM_TOOLS = join(BENCH, 'dist/storm-tools.js');

/** Runs in progress, stopped by abortModernRuns() on SIGINT/SIGTERM. */
const running = new Set<{ fleet: ModernFleet; cluster: Cluster }>();

export async function abortModernRuns(): Promise<void> {
  const runs = [...running];
  running.clear();
  await Promise.all(runs.map((r) => r.fleet.stop()));
  await Promise.all(runs.map((r) => r.cluster.stop().catch(() => {})));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function progressLine(name: string, phase: string, fleet: ModernFleet, sampler: Sampler, nodeNames: string[]): string {
  const rec = fleet.rec;
  const now = rec.now();
  const prev = rec.seconds[Math.floor(now / 1000) - 1];
  const s = sampler.last;
  const nodes = nodeNames.map((n) => `${n} ${s?.nodes[n] ? s.nodes[n].listeners : 'down'}`).join(' ');
  const cpu = s?.machineBusy == null ? '?' : `${Math.round(s.machineBusy * 100)}%`;
  return (
    `[${name} ${(now / 1000).toFixed(0).padStart(4)}s] ${phase.padEnd(9)} listening ${fleet.listening}/${fleet.clients.length}` +
    ` | calls/s ${prev?.callsOk ?? 0} call errors/s ${prev?.callErrors ?? 0} lost ${rec.totals.callsLost} | events/s ${prev?.published ?? 0} delivered/s ${prev?.delivered ?? 0}` +
    ` | recovering ${fleet.recovering} | listen streams ${nodes} | cpu ${cpu} lag ${s ? s.loadgenLagMaxMs.toFixed(0) : '?'}ms\n`
  );
}

export async function runModernStorm(o: StormOptions, plan: RunPlan, code: ClusterCode): Promise<ModernRunData> {
  const say = (line: string): void => void process.stderr.write(`[${plan.name}] ${line}\n`);
  const env: Record<string, string> = { LOG_LEVEL: 'warn', ...o.nodeEnv, MCP_TOOLS: STORM_TOOLS };
  const quiet = o.quietWait > 0 ? await waitQuiet(o.quietCores, o.quietWait, say) : { busyCores: null, waitedS: 0, quiet: true };
  say(
    `starting redis, ${o.nodes} nodes (${o.workers} worker${o.workers > 1 ? 's' : ''} each), haproxy; ${o.clients} modern clients (a listen stream each, a call every ${o.callIntervalMs} ms), ${o.announceRate} events/s`,
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
  const fleet = new ModernFleet({ url: cluster.lbUrl, clients: o.clients, callIntervalMs: o.callIntervalMs, announceRate: o.announceRate });
  const entry = { fleet, cluster };
  running.add(entry);
  const redis = new Redis(cluster.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  const rec = fleet.rec;
  const nodeNames = cluster.nodes.map((n) => n.name);
  const sampler = new Sampler(
    rec,
    () => cluster.nodes.map((n) => ({ name: n.name, port: n.port })),
    redis,
    () => ({ sessions: 0, streams: fleet.listening, recovering: fleet.recovering }),
  );
  let phase = 'start';
  const progress = setInterval(() => process.stderr.write(progressLine(plan.name, phase, fleet, sampler, nodeNames)), 1000);
  const actions: NodeAction[] = [];
  const marks: ModernMarks = { rampStart: 0, rampEnd: 0, event: 0, recovered: null, announceEnd: 0, drained: 0, end: 0 };
  const startedAt = new Date().toISOString();
  const nodeLogs: Record<string, string[]> = {};
  const i = o.killNode - 1;
  const killed = cluster.nodes[i].name;
  let drainPending: number;
  try {
    sampler.start();
    phase = 'settle';
    await sleep(SETTLE_MS);
    phase = 'ramp';
    marks.rampStart = rec.now();
    await fleet.ramp(o.rampRate, SETUP_TIMEOUT_MS);
    marks.rampEnd = rec.now();
    // Events from the end of the set-up on: the steady state measures delivery before the kill.
    fleet.announcer.start();
    phase = 'warmup';
    await sleep(o.warmup * 1000);
    phase = 'event';
    const affected = fleet.kill(`SIGKILL ${killed}`, killed);
    marks.event = rec.event!.at;
    const exit = cluster.stopNode(i, 'SIGKILL');
    say(`SIGKILL ${killed}: ${affected} clients had their listen stream there`);
    const exitCode = await exit;
    actions.push({ node: killed, action: 'SIGKILL', at: marks.event, tookMs: rec.now() - marks.event, exitCode });
    phase = 'recover';
    const recovered = await fleet.waitRecovered(o.recoverTimeout * 1000);
    marks.recovered = recovered ? rec.now() : null;
    if (!recovered) say(`${fleet.recovering} clients not recovered after ${o.recoverTimeout} s`);
    phase = 'tail';
    await sleep(o.tail * 1000);
    phase = 'drain';
    marks.announceEnd = rec.now();
    drainPending = await fleet.drain(DRAIN_MS);
    marks.drained = rec.now();
    if (drainPending > 0) say(`${drainPending} event notifications still missing on open streams after ${DRAIN_MS} ms`);
  } finally {
    clearInterval(progress);
    sampler.stop();
    marks.end = await fleet.stop();
    for (const n of cluster.nodes) nodeLogs[n.name] = n.logs.slice(-200);
    redis.disconnect();
    running.delete(entry);
    await cluster.stop().catch((err: Error) => say(`cluster stop: ${err.message}`));
  }
  return {
    era: 'modern',
    plan,
    quiet,
    clients: o.clients,
    callIntervalMs: o.callIntervalMs,
    announceRate: o.announceRate,
    startedAt,
    nodeNames,
    lbUrl: cluster.lbUrl,
    env,
    killed,
    marks,
    drainPending,
    actions,
    rec,
    samples: sampler.samples,
    nodeLogs,
  };
}
