/**
 * From a run's raw observations to the figures the issue asks for: recovery times (p50/p95/p99/max,
 * from the client noticing, from the session being gone, and from the event), errors other than
 * the expected 404, peak initialize rate per surviving node, Redis commands per second, tool-call
 * latency, the end check; and the per-second time series the charts draw.
 *
 * Rates come from counters read once a second. A missing reading (a node down, a scrape that timed
 * out) is missing: the rate at that point is null, never the whole counter read as one second's
 * increase. A rate computed across a gap (from the last reading before it, or between readings more
 * than 1.5 s apart) is an average over the gap, and a rate from a reading that took more than 250 ms
 * to arrive (a stalled event loop, a slow node) has an uncertain interval: both are flagged, drawn
 * apart in the charts, and left out of the peaks. A node that exports its clock at each reading
 * (mcp_node_time_seconds) gives exact intervals instead: a late reading is not uncertain, and only an
 * interval over 2 s of the node's clock is a gap. A counter that went down, or a node with a new
 * process start time, gives no rate (it restarted in between).
 */
import type { Points } from './charts.js';
import { distribution } from './stats.js';
import type { RunData } from './storm-run.js';
import type { Incident } from './storm-record.js';
import type { NodeReading } from './storm-sampler.js';

export type { Points };

export interface Quantiles {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Quantiles of `values` (ms) from the HDR histogram of stats.ts; NaN for an empty set. */
export function quantiles(values: Iterable<number>): Quantiles {
  const d = distribution(values);
  return { n: d.n, p50: d.p50, p95: d.p95, p99: d.p99, max: d.max };
}

export interface Recovery {
  affected: number;
  recovered: number;
  unrecovered: number;
  /** From the client's first sign of trouble to its first successful tool call on a new session. */
  fromNotice: Quantiles;
  /** From the first answer saying the session is gone (404) to the same call. */
  fromLoss: Quantiles;
  /** From the event itself. */
  fromEvent: Quantiles;
  /** The parts: event → first sign, first sign → 404, 404 → new session, new session → successful call. */
  stages: { eventToNotice: Quantiles; noticeToLoss: Quantiles; lossToReinit: Quantiles; reinitToCall: Quantiles };
  /** What the clients noticed first: "stream end", "call 404", ... → count. */
  noticedBy: Record<string, number>;
  /** What told them the session was gone: "call 404", "get 404", ... → count. */
  lostBy: Record<string, number>;
}

export interface EventSummary {
  label: string;
  atS: number;
  nodes: string[];
  recovery: Recovery;
}

/** A rate per sample, and the x of the points computed across a sampling gap (averages over the gap). */
export interface Rate {
  points: Points;
  flagged: number[];
}

export interface Series {
  activeByNode: Record<string, Points>;
  initRateByNode: Record<string, Rate>;
  notFoundRateByNode: Record<string, Rate>;
  forwardedRateByNode: Record<string, Rate>;
  cpuByNode: Record<string, Rate>;
  redisCommandsRate: Rate;
  /** Sum of initRateByNode over the nodes (flagged where any part is). */
  initRateTotal: Rate;
  machineBusyPct: Points;
  loadgenCpuPct: Points;
  haproxyCpuPct: Points;
  /** CPU used by processes that are not this benchmark (another job on the machine skews the run). */
  othersCpuPct: Points;
  redisCpuPct: Points;
  loadgenLagMs: Points;
  callsOk: Points;
  clientInits: Points;
  clientNotFound: Points;
  clientErrors: Points;
  streamOpens: Points;
  recovering: Points;
  requestP50: Points;
  requestP99: Points;
  callP99: Points;
  initP99: Points;
}

export interface LatencyFigures {
  /** Successful tools/call requests (one HTTP exchange), ms. */
  request: Quantiles;
  /** Successful tool calls including retries and re-initialization, ms. */
  call: Quantiles;
  /** Successful initialize requests, ms. */
  initialize: Quantiles;
  /** Highest per-second p99 of requests in the window. */
  worstSecondRequestP99: number;
}

export interface Target {
  name: string;
  target: string;
  measured: string;
  met: boolean | null;
}

/** Requests the nodes relayed to another node, against all /mcp requests they answered, in a window. */
export interface RelayFigures {
  /** Sum of mcp_requests_total increases (a relayed request is counted once, by its owner). */
  requests: number;
  /** Sum of mcp_forwarded_requests_total increases. */
  forwarded: number;
  /** forwarded / requests (NaN without requests). */
  share: number;
  /** mcp_forwarded_by_reason_total increases by reason. */
  byReason: Record<string, number>;
}

export interface RunSummary {
  name: string;
  scenario: string;
  drainJitter: boolean;
  clients: number;
  cookieless: number;
  ownerRouting: boolean;
  /** Relayed share in the steady state (set-up end + 1 s to the first event) and in the event window. */
  relay: { steady: RelayFigures; event: RelayFigures };
  /** Steady state: successful tool calls per second, and CPU (nodes + HAProxy) per successful call. */
  throughput: { callsPerS: number; cpuMsPerCall: number; nodesCpuPct: number; haproxyCpuPct: number };
  /**
   * Clients whose session no event took away, and how many of them still saw an error, an unexpected
   * 404 or a dropped stream after the set-up (the goal is none).
   */
  bystanders: { clients: number; disturbed: number };
  nodes: string[];
  timeline: { rampS: number; eventStartS: number; eventEndS: number; recoveredS: number | null; endS: number };
  events: EventSummary[];
  recovery: Recovery;
  /** From the first event until every affected client recovered, s (null: some never did). */
  allRecoveredAfterS: number | null;
  errors: {
    /** Everything but the expected 404 of affected clients. */
    unexpected: number;
    affected: number;
    unaffected: number;
    /** Errors while the fleet was being set up (before the steady state; not part of the target). */
    setup: number;
    notFoundAffected: number;
    notFoundUnaffected: number;
    streamDropsUnaffected: number;
    /** "scope op what" → count, first seen (s since start), the body of that first answer. */
    byKind: Record<string, { count: number; firstS: number; detail: string }>;
  };
  calls: {
    started: number;
    ok: number;
    lost: number;
    /** Started, then still waiting for an answer (or a retry) when the fleet stopped: no outcome. */
    inFlightAtStop: number;
    /** started - ok - lost - inFlightAtStop: 0 unless a call went unrecorded. */
    unaccounted: number;
    retried: number;
    initializes: number;
    deletes: number;
  };
  initRate: {
    /** Window over which peaks are taken (s since start). */
    window: [number, number];
    peakByNode: Record<string, number>;
    /** Highest per-node peak among nodes that were not killed. */
    peakSurviving: number;
    /** Highest one-second total over all nodes. */
    peakTotal: number;
    /** Rates in the window computed across a sampling gap, per node: left out of the peaks. */
    gapRatesByNode: Record<string, number>;
  };
  /**
   * Samples the sampler took; those more than 1.5 s after the previous one (the sampler was late);
   * those whose readings took more than 250 ms to arrive; missing readings per node.
   */
  sampling: { samples: number; lateSamples: number; slowReads: number; missingNodeReadings: Record<string, number> };
  streamOpensPeak: number;
  redis: {
    steadyPerS: number;
    eventMeanPerS: number;
    eventPeakPerS: number;
    /** Commands called between just before the first event and the end check, by command. */
    commandsDuringRun: Record<string, number>;
  };
  latency: { steady: LatencyFigures; event: LatencyFigures };
  endCheck: RunData['endCheck'];
  actions: RunData['actions'];
  loadgen: {
    lagP99MaxMs: number;
    lagMaxMs: number;
    cpuMeanPct: number;
    machineBusyMeanPct: number;
    machineBusyEventPct: number;
    machineBusyPeakPct: number;
    /** Other processes' CPU (% of one core): mean from the set-up's end to the end of the event window. */
    othersMeanPct: number;
    /** Cores busy before the run, and how long it waited for quiet. */
    before: RunData['quiet'];
    /** Mean CPU (% of one core) in the event window: each node, haproxy, redis-server, the load generator. */
    eventCpuPct: Record<string, number>;
  };
  targets: Target[];
}

const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(2)} %` : 'n/a');
const ms = (x: number): string => (Number.isFinite(x) ? `${Math.round(x)} ms` : 'n/a');

function recoveryOf(incidents: Incident[], eventAt: (i: Incident) => number, affected: number): Recovery {
  const done = incidents.filter((i) => i.recoveredAt > 0);
  const noticedBy: Record<string, number> = {};
  const lostBy: Record<string, number> = {};
  for (const i of incidents) {
    noticedBy[i.noticedBy || 'never'] = (noticedBy[i.noticedBy || 'never'] ?? 0) + 1;
    lostBy[i.lostBy || 'never'] = (lostBy[i.lostBy || 'never'] ?? 0) + 1;
  }
  return {
    affected,
    recovered: done.length,
    unrecovered: affected - done.length,
    fromNotice: quantiles(done.map((i) => i.recoveredAt - (i.noticedAt || i.openedAt))),
    fromLoss: quantiles(done.filter((i) => i.lostAt > 0).map((i) => i.recoveredAt - i.lostAt)),
    fromEvent: quantiles(done.map((i) => i.recoveredAt - eventAt(i))),
    stages: {
      eventToNotice: quantiles(done.filter((i) => i.noticedAt > 0).map((i) => i.noticedAt - eventAt(i))),
      noticeToLoss: quantiles(done.filter((i) => i.noticedAt > 0 && i.lostAt > 0).map((i) => i.lostAt - i.noticedAt)),
      lossToReinit: quantiles(done.filter((i) => i.lostAt > 0).map((i) => i.reinitAt - i.lostAt)),
      reinitToCall: quantiles(done.map((i) => i.recoveredAt - i.reinitAt)),
    },
    noticedBy,
    lostBy,
  };
}

/** Samples are taken once a second; a step longer than this is a gap. */
const GAP_S = 1.5;
/**
 * On the node's own clock an interval is exact, so only its length matters: up to this long, its rate
 * is a rate over one (late) sampling interval, an average over at most two seconds.
 */
const EXACT_GAP_S = 2;
/** A sample whose readings took longer than this to arrive was not taken at its time stamp. */
const SLOW_READ_MS = 250;

/** Readings that took long to arrive (older results have no tRead: not known, not flagged). */
function slow(s: RunData['samples'][number]): boolean {
  return s.tRead !== undefined && s.tRead - s.t > SLOW_READ_MS;
}

/**
 * Counter → per-second rate at each sample (from the second on). Null where the reading is missing or
 * the counter went down; over a gap (a missing reading before, or a late sample) the rate is taken from
 * the last reading before the gap and flagged. With `clock` (the node's own time at each reading,
 * mcp_node_time_seconds), the interval is the node's: a reading that arrived late is not a gap, only
 * an interval longer than EXACT_GAP_S is.
 */
export function rate(
  samples: RunData['samples'],
  read: (s: RunData['samples'][number]) => number | null,
  epoch: (s: RunData['samples'][number]) => number | null = () => null,
  clock: (s: RunData['samples'][number]) => number | null = () => null,
): Rate {
  const points: Points = [];
  const flagged: number[] = [];
  const first = samples.length ? read(samples[0]) : null;
  let last: { t: number; v: number; epoch: number | null; slow: boolean; clock: number | null } | null =
    first === null ? null : { t: samples[0].t, v: first, epoch: epoch(samples[0]), slow: slow(samples[0]), clock: clock(samples[0]) };
  for (let i = 1; i < samples.length; i++) {
    const b = read(samples[i]);
    const x = samples[i].t / 1000;
    if (b === null) {
      points.push([x, null]);
      continue;
    }
    const prev = read(samples[i - 1]);
    const e = epoch(samples[i]);
    if (last === null || b < last.v || e !== last.epoch) {
      // No earlier reading, or the counter restarted from 0 (a new process: its start time differs, or
      // the counter went down) at a moment not observed: no rate.
      points.push([x, null]);
    } else {
      const c = clock(samples[i]);
      const exact = c !== null && last.clock !== null;
      const dt = exact ? c - last.clock! : (samples[i].t - last.t) / 1000;
      const gap = prev === null || (exact ? dt > EXACT_GAP_S : dt > GAP_S || last.slow || slow(samples[i]));
      points.push([x, dt > 0 ? (b - last.v) / dt : null]);
      if (gap) flagged.push(x);
    }
    last = { t: samples[i].t, v: b, epoch: e, slow: slow(samples[i]), clock: clock(samples[i]) };
  }
  return { points, flagged };
}

/**
 * The rate of one of node `n`'s counters: counters restart with its process (rolling restarts), which
 * its start time tells apart, and intervals are taken on the node's own clock where it exports one.
 */
export function nodeRate(samples: RunData['samples'], n: string, read: (r: NodeReading) => number): Rate {
  return rate(
    samples,
    (s) => {
      const r = s.nodes[n];
      return r ? read(r) : null;
    },
    (s) => s.nodes[n]?.startTime ?? null,
    (s) => s.nodes[n]?.clock ?? null,
  );
}

/**
 * Clients no event touched. An incident is opened each time a client's node goes, and in a rolling
 * restart the node a client moved to goes later too: clients are counted once, not per incident.
 */
export function bystanderCount(clients: number, incidents: readonly Pick<Incident, 'client'>[]): number {
  return clients - new Set(incidents.map((i) => i.client)).size;
}

function sumRates(rates: Rate[]): Rate {
  const points: Points = [];
  const flagged = new Set<number>();
  for (const r of rates) for (const f of r.flagged) flagged.add(f);
  const n = Math.max(0, ...rates.map((r) => r.points.length));
  for (let i = 0; i < n; i++) {
    let sum: number | null = null;
    let x = NaN;
    for (const r of rates) {
      const p = r.points[i];
      if (!p) continue;
      x = p[0];
      if (p[1] !== null) sum = (sum ?? 0) + p[1];
    }
    points.push([x, sum]);
  }
  return { points, flagged: [...flagged].sort((a, b) => a - b) };
}

type Reading = NonNullable<RunData['samples'][number]['nodes'][string]>;

/**
 * Increase of a node counter between readings inside [fromS, toS]: the sum over consecutive pairs of
 * readings of the same process (same start time); a missing reading or a restart breaks the chain.
 */
function increaseIn(d: RunData, node: string, pick: (r: Reading) => number, fromS: number, toS: number): number {
  let sum = 0;
  let prev: Reading | null = null;
  for (const s of d.samples) {
    const x = s.t / 1000;
    if (x < fromS || x > toS) continue;
    const r = s.nodes[node] ?? null;
    if (r !== null && prev !== null && r.startTime === prev.startTime) sum += Math.max(0, pick(r) - pick(prev));
    prev = r;
  }
  return sum;
}

function relayIn(d: RunData, fromS: number, toS: number): RelayFigures {
  let requests = 0;
  let forwarded = 0;
  const reasons = new Set<string>();
  for (const s of d.samples)
    for (const r of Object.values(s.nodes)) if (r) for (const k of Object.keys(r.forwardedByReason)) reasons.add(k);
  const byReason: Record<string, number> = {};
  for (const reason of reasons) byReason[reason] = 0;
  for (const n of d.nodeNames) {
    requests += increaseIn(d, n, (r) => r.requests, fromS, toS);
    forwarded += increaseIn(d, n, (r) => r.forwarded, fromS, toS);
    for (const reason of reasons) byReason[reason] += increaseIn(d, n, (r) => r.forwardedByReason[reason] ?? 0, fromS, toS);
  }
  return { requests, forwarded, share: requests > 0 ? forwarded / requests : NaN, byReason };
}

function throughputIn(d: RunData, fromS: number, toS: number): RunSummary['throughput'] {
  const first = Math.max(0, Math.ceil(fromS));
  const end = Math.min(d.rec.seconds.length, Math.floor(toS));
  let calls = 0;
  for (let i = first; i < end; i++) calls += d.rec.seconds[i].callsOk;
  const seconds = Math.max(0, end - first);
  let nodesCpu = 0;
  for (const n of d.nodeNames) nodesCpu += increaseIn(d, n, (r) => r.cpuSeconds, fromS, toS);
  let haproxyCpu = 0;
  let spanS = 0;
  for (let i = 1; i < d.samples.length; i++) {
    const x = d.samples[i].t / 1000;
    const prevX = d.samples[i - 1].t / 1000;
    if (prevX < fromS || x > toS) continue;
    haproxyCpu += (d.samples[i].childCores.haproxy ?? 0) * (x - prevX);
    spanS += x - prevX;
  }
  return {
    callsPerS: seconds > 0 ? calls / seconds : NaN,
    // The calls counted over whole seconds, the CPU over the sampled span: both per second first.
    cpuMsPerCall: seconds > 0 && spanS > 0 && calls > 0 ? ((nodesCpu + haproxyCpu) / spanS / (calls / seconds)) * 1000 : NaN,
    nodesCpuPct: spanS > 0 ? (nodesCpu / spanS) * 100 : NaN,
    haproxyCpuPct: spanS > 0 ? (haproxyCpu / spanS) * 100 : NaN,
  };
}

/** A rate's points with the flagged ones (averages over a gap) taken out, for peaks and means. */
export function unflagged(r: Rate): Points {
  if (r.flagged.length === 0) return r.points;
  const f = new Set(r.flagged);
  return r.points.map(([x, y]) => [x, f.has(x) ? null : y]);
}

function countIn(xs: readonly number[], from: number, to: number): number {
  return xs.filter((x) => x >= from && x <= to).length;
}

function perNode<T>(names: string[], f: (n: string) => T): Record<string, T> {
  return Object.fromEntries(names.map((n) => [n, f(n)]));
}

/** Highest value in [from, to]; NaN (shown as n/a) when there is none, e.g. every rate there was flagged. */
export function maxIn(points: Points, from: number, to: number): number {
  let m = NaN;
  for (const [x, y] of points) if (x >= from && x <= to && y !== null && !(y <= m)) m = y;
  return m;
}

export function meanIn(points: Points, from: number, to: number): number {
  let sum = 0;
  let n = 0;
  for (const [x, y] of points) {
    if (x >= from && x <= to && y !== null) {
      sum += y;
      n++;
    }
  }
  return n ? sum / n : NaN;
}

export function buildSeries(d: RunData): Series {
  const { samples, rec, nodeNames } = d;
  const sec = rec.seconds;
  const perSecond = (f: (i: number) => number | null): Points => sec.map((_, i) => [i + 1, f(i)]);
  const p = (values: number[], q: number): number | null => (values.length ? quantiles(values)[q === 0.5 ? 'p50' : 'p99'] : null);
  const initRates = perNode(nodeNames, (n) => nodeRate(samples, n, (r) => r.created));
  return {
    activeByNode: perNode(nodeNames, (n) => samples.map((s) => [s.t / 1000, s.nodes[n]?.active ?? null])),
    initRateByNode: initRates,
    initRateTotal: sumRates(nodeNames.map((n) => initRates[n])),
    notFoundRateByNode: perNode(nodeNames, (n) => nodeRate(samples, n, (r) => r.notFound)),
    forwardedRateByNode: perNode(nodeNames, (n) => nodeRate(samples, n, (r) => r.forwarded)),
    cpuByNode: perNode(nodeNames, (n) => {
      const r = nodeRate(samples, n, (r) => r.cpuSeconds);
      return { points: r.points.map(([x, y]) => [x, y === null ? null : y * 100]), flagged: r.flagged };
    }),
    redisCommandsRate: rate(samples, (s) => s.redisCommands),
    machineBusyPct: samples.map((s) => [s.t / 1000, s.machineBusy === null ? null : s.machineBusy * 100]),
    loadgenCpuPct: samples.map((s) => [s.t / 1000, s.loadgenCpu * 100]),
    haproxyCpuPct: samples.map((s, i) => [s.t / 1000, i === 0 ? null : (s.childCores.haproxy ?? 0) * 100]),
    redisCpuPct: samples.map((s, i) => [s.t / 1000, i === 0 ? null : (s.childCores['redis-server'] ?? 0) * 100]),
    othersCpuPct: samples.map((s) => [s.t / 1000, s.othersCores === null ? null : s.othersCores * 100]),
    loadgenLagMs: samples.map((s) => [s.t / 1000, Number.isFinite(s.loadgenLagMaxMs) ? s.loadgenLagMaxMs : null]),
    // Client buckets cover [i, i+1) s; they are drawn at their end, like the rates.
    callsOk: perSecond((i) => sec[i].callsOk),
    clientInits: perSecond((i) => sec[i].inits),
    clientNotFound: perSecond((i) => sec[i].notFound),
    clientErrors: perSecond((i) => sec[i].errors),
    streamOpens: perSecond((i) => sec[i].streamOpens),
    recovering: samples.map((s) => [s.t / 1000, s.clients.recovering]),
    requestP50: perSecond((i) => p(sec[i].requestMs, 0.5)),
    requestP99: perSecond((i) => p(sec[i].requestMs, 0.99)),
    callP99: perSecond((i) => p(sec[i].callMs, 0.99)),
    initP99: perSecond((i) => p(sec[i].initMs, 0.99)),
  };
}

/**
 * Latency over the one-second buckets (bucket i covers [i, i+1) s) that lie wholly inside
 * [fromS, toS] (`inner`: the steady state must not include the event's second) or that touch it.
 */
function latencyIn(d: RunData, fromS: number, toS: number, inner: boolean): LatencyFigures {
  const req: number[] = [];
  const call: number[] = [];
  const init: number[] = [];
  let worst = 0;
  const first = Math.max(0, inner ? Math.ceil(fromS) : Math.floor(fromS));
  const end = Math.min(d.rec.seconds.length, inner ? Math.floor(toS) : Math.ceil(toS));
  for (let i = first; i < end; i++) {
    const s = d.rec.seconds[i];
    for (const v of s.requestMs) req.push(v);
    for (const v of s.callMs) call.push(v);
    for (const v of s.initMs) init.push(v);
    if (s.requestMs.length) worst = Math.max(worst, quantiles(s.requestMs).p99);
  }
  return { request: quantiles(req), call: quantiles(call), initialize: quantiles(init), worstSecondRequestP99: worst };
}

function diffCommands(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d > 0) out[k] = d;
  }
  return Object.fromEntries(Object.entries(out).sort((a, b) => b[1] - a[1]));
}

export function summarize(d: RunData, series: Series): RunSummary {
  const { rec, marks } = d;
  const S = (t: number): number => t / 1000;
  const events = rec.events;
  const killed = new Set(d.actions.filter((a) => a.action === 'SIGKILL').map((a) => a.node));
  const eventSummaries: EventSummary[] = events.map((e) => ({
    label: e.label,
    atS: S(e.at),
    nodes: e.nodes,
    recovery: recoveryOf(
      rec.incidents.filter((i) => i.event === e.index),
      () => e.at,
      e.affected,
    ),
  }));
  const totalAffected = events.reduce((a, e) => a + e.affected, 0);
  const recovery = recoveryOf(rec.incidents, (i) => events[i.event].at, totalAffected);
  const firstEvent = events[0]?.at ?? marks.eventStart;
  const lastRecovered = rec.incidents.reduce((m, i) => Math.max(m, i.recoveredAt), 0);
  const allRecoveredAfterS = recovery.unrecovered === 0 ? S(lastRecovered - firstEvent) : null;

  // Peaks are taken from one second before the first event to a few seconds after the last recovery.
  const winFrom = S(firstEvent) - 1;
  const winTo = S(Math.max(marks.eventEnd, lastRecovered)) + 3;
  // Peaks only from rates over one sampling interval: a rate across a gap is an average, not a peak.
  const peakByNode = perNode(d.nodeNames, (n) => maxIn(unflagged(series.initRateByNode[n]), winFrom, winTo));
  const surviving = d.nodeNames.filter((n) => !killed.has(n));
  let late = 0;
  for (let i = 1; i < d.samples.length; i++) if ((d.samples[i].t - d.samples[i - 1].t) / 1000 > GAP_S) late++;

  const steadyFrom = S(marks.rampEnd) + 1;
  const steadyTo = S(firstEvent);
  const t = rec.totals;
  const unexpected = t.errorsAffected + t.errorsUnaffected;
  const summary: RunSummary = {
    name: d.plan.name,
    scenario: d.plan.scenario,
    drainJitter: d.plan.drainJitter,
    clients: d.clients,
    cookieless: d.cookieless,
    ownerRouting: d.ownerRouting,
    relay: { steady: relayIn(d, steadyFrom, steadyTo), event: relayIn(d, winFrom, winTo) },
    throughput: throughputIn(d, steadyFrom, steadyTo),
    bystanders: { clients: bystanderCount(d.clients, rec.incidents), disturbed: rec.disturbed.size },
    nodes: d.nodeNames,
    timeline: {
      rampS: S(marks.rampEnd - marks.rampStart),
      eventStartS: S(marks.eventStart),
      eventEndS: S(marks.eventEnd),
      recoveredS: marks.recovered === null ? null : S(marks.recovered),
      endS: S(marks.end),
    },
    events: eventSummaries,
    recovery,
    allRecoveredAfterS,
    errors: {
      unexpected,
      affected: t.errorsAffected,
      unaffected: t.errorsUnaffected,
      setup: t.errorsSetup,
      notFoundAffected: t.notFoundAffected,
      notFoundUnaffected: t.notFoundUnaffected,
      streamDropsUnaffected: t.streamDropsUnaffected,
      byKind: Object.fromEntries(
        [...rec.errorKinds]
          .sort((a, b) => b[1] - a[1])
          .map(([k, count]) => [
            k,
            { count, firstS: (rec.errorFirst.get(k)?.at ?? NaN) / 1000, detail: rec.errorFirst.get(k)?.detail ?? '' },
          ]),
      ),
    },
    calls: {
      started: t.callsStarted,
      ok: t.callsOk,
      lost: t.callsLost,
      inFlightAtStop: t.callsInFlightAtStop,
      unaccounted: t.callsStarted - t.callsOk - t.callsLost - t.callsInFlightAtStop,
      retried: t.callsRetried,
      initializes: t.inits,
      deletes: t.deletes,
    },
    initRate: {
      window: [winFrom, winTo],
      peakByNode,
      peakSurviving: Math.max(0, ...surviving.map((n) => peakByNode[n])),
      peakTotal: maxIn(unflagged(series.initRateTotal), winFrom, winTo),
      gapRatesByNode: perNode(d.nodeNames, (n) => countIn(series.initRateByNode[n].flagged, winFrom, winTo)),
    },
    sampling: {
      samples: d.samples.length,
      lateSamples: late,
      slowReads: d.samples.filter(slow).length,
      missingNodeReadings: perNode(d.nodeNames, (n) => d.samples.filter((s) => s.nodes[n] === null || s.nodes[n] === undefined).length),
    },
    streamOpensPeak: maxIn(series.streamOpens, winFrom, winTo),
    redis: {
      steadyPerS: meanIn(series.redisCommandsRate.points, steadyFrom, steadyTo),
      eventMeanPerS: meanIn(series.redisCommandsRate.points, winFrom + 1, winTo),
      eventPeakPerS: maxIn(unflagged(series.redisCommandsRate), winFrom, winTo),
      commandsDuringRun: diffCommands(d.commandStats.before, d.commandStats.after),
    },
    latency: { steady: latencyIn(d, steadyFrom, steadyTo, true), event: latencyIn(d, S(firstEvent), winTo, false) },
    endCheck: d.endCheck,
    actions: d.actions,
    loadgen: {
      lagP99MaxMs: Math.max(0, ...d.samples.map((s) => s.loadgenLagP99Ms).filter(Number.isFinite)),
      lagMaxMs: Math.max(0, ...d.samples.map((s) => s.loadgenLagMaxMs).filter(Number.isFinite)),
      cpuMeanPct: meanIn(series.loadgenCpuPct, steadyFrom, winTo),
      machineBusyMeanPct: meanIn(series.machineBusyPct, steadyFrom, steadyTo),
      machineBusyEventPct: meanIn(series.machineBusyPct, winFrom + 1, winTo),
      machineBusyPeakPct: maxIn(series.machineBusyPct, winFrom, winTo),
      othersMeanPct: meanIn(series.othersCpuPct, steadyFrom, winTo),
      before: d.quiet,
      eventCpuPct: {
        ...perNode(d.nodeNames, (n) => meanIn(series.cpuByNode[n].points, winFrom + 1, winTo)),
        haproxy: meanIn(series.haproxyCpuPct, winFrom + 1, winTo),
        'redis-server': meanIn(series.redisCpuPct, winFrom + 1, winTo),
        'load generator': meanIn(series.loadgenCpuPct, winFrom + 1, winTo),
      },
    },
    targets: [],
  };
  summary.targets = targetsOf(summary);
  return summary;
}

/** The issue's targets for 3 nodes and 3,000 clients on this machine, with what was measured. */
function targetsOf(s: RunSummary): Target[] {
  const out: Target[] = [];
  const errors = `${s.errors.unexpected} (affected clients ${s.errors.affected}, other clients ${s.errors.unaffected})`;
  const ec = s.endCheck;
  const redis = ec.converged
    ? `matched (${ec.redisKeys} keys = ${ec.activeSessions} live${ec.orphans ? `, ${ec.orphans} of them held by no client` : ''}) ${(ec.afterMs / 1000).toFixed(1)} s after the event`
    : `not matched: ${ec.redisKeys} keys, ${ec.activeSessions} live on nodes, ${ec.clientSessions} client sessions (${ec.missing} without a key)`;
  const redisMet = s.endCheck.converged && s.endCheck.afterMs <= 60_000;
  if (s.scenario === 'kill') {
    out.push({
      name: 'recovery p99 after the client notices',
      target: '≤ 2,000 ms',
      measured: ms(s.recovery.fromNotice.p99),
      met: s.recovery.unrecovered === 0 && s.recovery.fromNotice.p99 <= 2000,
    });
    out.push({ name: 'errors other than the expected 404', target: '0', measured: errors, met: s.errors.unexpected === 0 });
    out.push({
      name: 'bystanders disturbed (clients of surviving nodes that saw an error or a dropped stream)',
      target: '0',
      measured: `${s.bystanders.disturbed} of ${s.bystanders.clients}`,
      met: s.bystanders.disturbed === 0,
    });
    out.push({ name: 'Redis keys = live sessions', target: 'within 60 s', measured: redis, met: redisMet });
  } else if (s.scenario === 'rolling') {
    out.push({
      name: 'tool calls lost by a well-behaved client',
      target: '0',
      measured: `${s.calls.lost} of ${s.calls.started} (${s.calls.inFlightAtStop} still in flight at the end)`,
      met: s.calls.lost === 0,
    });
    out.push({ name: 'errors other than the expected 404', target: '— (reported)', measured: errors, met: null });
    out.push({ name: 'Redis keys = live sessions', target: '— (reported)', measured: redis, met: null });
  } else if (s.scenario === 'steady') {
    const r = s.relay.steady;
    out.push({
      name: 'relayed share of /mcp requests (steady)',
      target: '< 2 %',
      measured: `${pct(r.share)} (${r.forwarded} of ${r.requests})`,
      met: s.cookieless > 0 ? r.share < 0.02 : null,
    });
    out.push({
      name: 'tool calls per second (steady)',
      target: '— (reported)',
      measured: `${s.throughput.callsPerS.toFixed(0)}/s, ${s.throughput.cpuMsPerCall.toFixed(3)} ms CPU (nodes + HAProxy) per call`,
      met: null,
    });
    out.push({ name: 'errors other than the expected 404', target: '— (reported)', measured: errors, met: null });
  } else {
    out.push({
      name: 'tool calls lost',
      target: '— (reported)',
      measured: `${s.calls.lost} of ${s.calls.started} (${s.calls.inFlightAtStop} still in flight at the end)`,
      met: null,
    });
    out.push({ name: 'errors other than the expected 404', target: '— (reported)', measured: errors, met: null });
    out.push({ name: 'Redis keys = live sessions', target: '— (reported)', measured: redis, met: null });
  }
  return out;
}
