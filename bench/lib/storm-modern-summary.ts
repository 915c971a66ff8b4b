/**
 * From a modern run's raw observations to its figures: listen streams cut by the kill and how fast
 * each client listened again on a survivor, change events owed, received and lost per stream, listen
 * delivery latency, calls failed and how fast each client's calls were served again, bystanders
 * disturbed, calls per second and CPU per process; and the per-second series the charts draw. Node
 * rates come from counters read once a second, with the 2025 summary's rules (storm-summary.ts).
 */
import type { Points } from './charts.js';
import { accountListen, type ListenAccount } from './storm-modern.js';
import type { ModernRunData } from './storm-modern-run.js';
import { maxIn, meanIn, nodeRate, quantiles, type Quantiles, type Rate, type Target } from './storm-summary.js';

/** A stream cut by the kill is owed the events answered at least this long before the cut. */
export const CUT_GRACE_MS = 1000;

export interface ModernSeries {
  listenersByNode: Record<string, Points>;
  requestRateByNode: Record<string, Rate>;
  cpuByNode: Record<string, Rate>;
  machineBusyPct: Points;
  loadgenCpuPct: Points;
  haproxyCpuPct: Points;
  redisCpuPct: Points;
  othersCpuPct: Points;
  loadgenLagMs: Points;
  listening: Points;
  recovering: Points;
  callsOk: Points;
  callErrors: Points;
  listenAcks: Points;
  listenEnds: Points;
  listenErrors: Points;
  published: Points;
  /** Event notifications received per second, divided by the streams listening then. */
  deliveredPerStream: Points;
  /** Lost (stream, event) pairs, by the second the event was sent. */
  lost: Points;
  requestP50: Points;
  requestP99: Points;
  deliveryP50: Points;
  deliveryP99: Points;
}

export interface ModernSummary {
  name: string;
  era: 'modern';
  scenario: 'kill';
  clients: number;
  callIntervalMs: number;
  announceRate: number;
  nodes: string[];
  killed: string;
  timeline: { rampS: number; eventS: number; recoveredS: number | null; announceEndS: number; endS: number; window: [number, number] };
  listen: {
    /** Clients whose listen stream was on the killed node. */
    affected: number;
    /** Of them, streams seen to end. */
    cut: number;
    /** Of them, listening again (acknowledged) on a survivor. */
    relistened: number;
    unrecovered: number;
    /** Stream end seen → acknowledgement of the next stream. */
    fromCut: Quantiles;
    /** The kill → acknowledgement of the next stream. */
    fromEvent: Quantiles;
    /** The kill → the client seeing its stream end. */
    eventToCut: Quantiles;
    cutBy: Record<string, number>;
    /** Where the cut streams listened again. */
    newNode: Record<string, number>;
  };
  events: {
    announced: number;
    ok: number;
    failed: number;
    /** Ticks skipped because too many announcements were in flight (not events). */
    skipped: number;
    account: Omit<ListenAccount, 'lostBySecond' | 'clientsWithLoss'> & { clientsWithLoss: number };
    /** Notifications still missing on open streams when the final wait gave up. */
    drainPending: number;
    otherNotifications: number;
    badMessages: number;
  };
  delivery: { steady: Quantiles; event: Quantiles; all: Quantiles; worstSecondP99: number };
  calls: {
    started: number;
    ok: number;
    lost: number;
    inFlightAtStop: number;
    unaccounted: number;
    retried: number;
    /** Clients with at least one failed call attempt after the set-up, and the attempts. */
    clientsWithFailures: number;
    failedAttempts: number;
    /** From a client's first failed attempt to its next successful call. */
    servedAgain: Quantiles;
    notServedAgain: number;
    /** Of those clients, failures that began in the event window. */
    inEventWindow: number;
    firstErrors: Record<string, number>;
  };
  latency: { steady: Quantiles; event: Quantiles };
  bystanders: {
    clients: number;
    /** Stream dropped, listen failed, or an owed event lost. */
    disturbed: number;
    streamDisturbed: number;
    lostEvents: number;
    /** Bystanders with a failed call (calls are stateless: any client's call may have been on the dead node). */
    withFailedCalls: number;
  };
  throughput: { callsPerS: number; cpuMsPerCall: number; nodesCpuPct: number; haproxyCpuPct: number };
  errors: { byKind: Record<string, { count: number; firstS: number; detail: string }> };
  sampling: { samples: number; missingNodeReadings: Record<string, number> };
  actions: ModernRunData['actions'];
  loadgen: {
    lagP99MaxMs: number;
    lagMaxMs: number;
    machineBusyMeanPct: number;
    machineBusyEventPct: number;
    machineBusyPeakPct: number;
    othersMeanPct: number;
    before: ModernRunData['quiet'];
    /** Mean CPU, % of one core: each node, haproxy, redis-server, the load generator. */
    steadyCpuPct: Record<string, number>;
    eventCpuPct: Record<string, number>;
  };
  targets: Target[];
}

function perNode<T>(names: string[], f: (n: string) => T): Record<string, T> {
  return Object.fromEntries(names.map((n) => [n, f(n)]));
}

function count(values: Iterable<string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v || 'never'] = (out[v || 'never'] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort((a, b) => b[1] - a[1]));
}

export function buildModernSeries(d: ModernRunData, account: ListenAccount): ModernSeries {
  const { samples, rec, nodeNames } = d;
  const sec = rec.seconds;
  const perSecond = (f: (i: number) => number | null): Points => sec.map((_, i) => [i + 1, f(i)]);
  const q = (values: number[], p: 'p50' | 'p99'): number | null => (values.length ? quantiles(values)[p] : null);
  // Streams listening during second i: the sample nearest its end.
  const listeningAt = (i: number): number | null => {
    let best: number | null = null;
    for (const s of samples) if (s.t / 1000 <= i + 1) best = s.clients.streams;
    return best;
  };
  return {
    listenersByNode: perNode(nodeNames, (n) => samples.map((s) => [s.t / 1000, s.nodes[n]?.listeners ?? null])),
    requestRateByNode: perNode(nodeNames, (n) => nodeRate(samples, n, (r) => r.requests)),
    cpuByNode: perNode(nodeNames, (n) => {
      const r = nodeRate(samples, n, (r) => r.cpuSeconds);
      return { points: r.points.map(([x, y]) => [x, y === null ? null : y * 100]), flagged: r.flagged };
    }),
    machineBusyPct: samples.map((s) => [s.t / 1000, s.machineBusy === null ? null : s.machineBusy * 100]),
    loadgenCpuPct: samples.map((s) => [s.t / 1000, s.loadgenCpu * 100]),
    haproxyCpuPct: samples.map((s, i) => [s.t / 1000, i === 0 ? null : (s.childCores.haproxy ?? 0) * 100]),
    redisCpuPct: samples.map((s, i) => [s.t / 1000, i === 0 ? null : (s.childCores['redis-server'] ?? 0) * 100]),
    othersCpuPct: samples.map((s) => [s.t / 1000, s.othersCores === null ? null : s.othersCores * 100]),
    loadgenLagMs: samples.map((s) => [s.t / 1000, Number.isFinite(s.loadgenLagMaxMs) ? s.loadgenLagMaxMs : null]),
    listening: samples.map((s) => [s.t / 1000, s.clients.streams]),
    recovering: samples.map((s) => [s.t / 1000, s.clients.recovering]),
    callsOk: perSecond((i) => sec[i].callsOk),
    callErrors: perSecond((i) => sec[i].callErrors),
    listenAcks: perSecond((i) => sec[i].listenAcks),
    listenEnds: perSecond((i) => sec[i].listenEnds),
    listenErrors: perSecond((i) => sec[i].listenErrors),
    published: perSecond((i) => sec[i].published),
    deliveredPerStream: perSecond((i) => {
      const n = listeningAt(i);
      return n ? sec[i].delivered / n : null;
    }),
    lost: perSecond((i) => account.lostBySecond[i] ?? 0),
    requestP50: perSecond((i) => q(sec[i].requestMs, 'p50')),
    requestP99: perSecond((i) => q(sec[i].requestMs, 'p99')),
    deliveryP50: perSecond((i) => q(sec[i].deliveryMs, 'p50')),
    deliveryP99: perSecond((i) => q(sec[i].deliveryMs, 'p99')),
  };
}

/** Values of the one-second buckets wholly inside [fromS, toS] (`inner`) or touching it. */
function bucketsIn(d: ModernRunData, pick: (i: number) => number[], fromS: number, toS: number, inner: boolean): number[] {
  const out: number[] = [];
  const first = Math.max(0, inner ? Math.ceil(fromS) : Math.floor(fromS));
  const end = Math.min(d.rec.seconds.length, inner ? Math.floor(toS) : Math.ceil(toS));
  for (let i = first; i < end; i++) for (const v of pick(i)) out.push(v);
  return out;
}

export function summarizeModern(d: ModernRunData): { summary: ModernSummary; series: ModernSeries; account: ListenAccount } {
  const { rec, marks } = d;
  const S = (t: number): number => t / 1000;
  const eventAt = rec.event?.at ?? marks.event;
  const account = accountListen(rec.conns, rec.ann, marks.end, rec.event ? eventAt : null, CUT_GRACE_MS);
  const series = buildModernSeries(d, account);

  const incidents = rec.listenIncidents;
  const relistened = incidents.filter((i) => i.reAckAt > 0);
  const lastRecovery = Math.max(
    0,
    ...relistened.map((i) => i.reAckAt),
    ...rec.callOutages.filter((o) => o.firstAt >= eventAt).map((o) => o.servedAt),
  );
  const winFrom = S(eventAt);
  // The kill window ends 3 s after the last recovery (at the announcer's stop when some never recovered).
  const announceEnd = marks.announceEnd || marks.end;
  const winTo = Math.min(S(announceEnd), S(Math.max(marks.recovered ?? announceEnd, lastRecovery)) + 3);
  const steadyFrom = S(marks.rampEnd) + 1;
  const steadyTo = S(eventAt);

  const affectedClients = new Set(incidents.map((i) => i.client));
  const bystanders = d.clients - affectedClients.size;
  const lossClients = new Set(account.clientsWithLoss);
  const disturbed = new Set<number>();
  for (const c of rec.streamDisturbed) if (!affectedClients.has(c)) disturbed.add(c);
  let bystanderLoss = 0;
  for (const c of lossClients)
    if (!affectedClients.has(c)) {
      disturbed.add(c);
      bystanderLoss++;
    }
  const outages = rec.callOutages;
  const failedClients = new Set(outages.map((o) => o.client));
  let bystanderFailed = 0;
  for (const c of failedClients) if (!affectedClients.has(c)) bystanderFailed++;

  const ann = rec.ann.list;
  const announcedOk = ann.filter((a) => a.ok).length;
  const steadyDelivery = bucketsIn(d, (i) => rec.seconds[i].deliveryMs, steadyFrom, steadyTo, true);
  const eventDelivery = bucketsIn(d, (i) => rec.seconds[i].deliveryMs, winFrom, winTo, false);
  const allDelivery = bucketsIn(d, (i) => rec.seconds[i].deliveryMs, S(marks.rampEnd), S(marks.end), false);
  let worst = 0;
  for (let i = Math.max(0, Math.floor(winFrom)); i < Math.min(rec.seconds.length, Math.ceil(winTo)); i++)
    if (rec.seconds[i].deliveryMs.length) worst = Math.max(worst, quantiles(rec.seconds[i].deliveryMs).p99);

  // Steady calls per second over whole seconds; CPU per call from the means of the same window.
  let steadyCalls = 0;
  let steadySeconds = 0;
  for (let i = Math.ceil(steadyFrom); i < Math.min(rec.seconds.length, Math.floor(steadyTo)); i++) {
    steadyCalls += rec.seconds[i].callsOk;
    steadySeconds++;
  }
  const callsPerS = steadySeconds > 0 ? steadyCalls / steadySeconds : NaN;
  const cpuMeans = (from: number, to: number): Record<string, number> => ({
    // Flagged points (a late or slow scrape) are rates over a longer span: still that span's mean CPU,
    // and on a saturated machine nearly every scrape is slow (dropping them left the nodes' CPU unknown).
    ...perNode(d.nodeNames, (n) => meanIn(series.cpuByNode[n].points, from, to)),
    haproxy: meanIn(series.haproxyCpuPct, from, to),
    'redis-server': meanIn(series.redisCpuPct, from, to),
    'load generator': meanIn(series.loadgenCpuPct, from, to),
  });
  const steadyCpu = cpuMeans(steadyFrom, steadyTo);
  const nodesCpuPct = d.nodeNames.reduce((a, n) => a + (Number.isFinite(steadyCpu[n]) ? steadyCpu[n] : 0), 0);
  const t = rec.totals;
  const { lostBySecond: _bySecond, clientsWithLoss, ...accountRest } = account;
  void _bySecond;

  const summary: ModernSummary = {
    name: d.plan.name,
    era: 'modern',
    scenario: 'kill',
    clients: d.clients,
    callIntervalMs: d.callIntervalMs,
    announceRate: d.announceRate,
    nodes: d.nodeNames,
    killed: d.killed,
    timeline: {
      rampS: S(marks.rampEnd - marks.rampStart),
      eventS: S(eventAt),
      recoveredS: marks.recovered === null ? null : S(marks.recovered),
      announceEndS: S(marks.announceEnd),
      endS: S(marks.end),
      window: [winFrom, winTo],
    },
    listen: {
      affected: incidents.length,
      cut: incidents.filter((i) => i.cutAt > 0).length,
      relistened: relistened.length,
      unrecovered: incidents.length - relistened.length,
      fromCut: quantiles(relistened.map((i) => i.reAckAt - i.cutAt)),
      fromEvent: quantiles(relistened.map((i) => i.reAckAt - i.eventAt)),
      eventToCut: quantiles(incidents.filter((i) => i.cutAt > 0).map((i) => i.cutAt - i.eventAt)),
      cutBy: count(incidents.map((i) => i.cutBy)),
      newNode: count(relistened.map((i) => i.newNode)),
    },
    events: {
      announced: ann.length,
      ok: announcedOk,
      failed: ann.filter((a) => !a.ok && a.answeredAt > 0).length,
      skipped: t.announceSkipped,
      account: { ...accountRest, clientsWithLoss: clientsWithLoss.length },
      drainPending: d.drainPending,
      otherNotifications: t.otherNotifications,
      badMessages: t.badMessages,
    },
    delivery: { steady: quantiles(steadyDelivery), event: quantiles(eventDelivery), all: quantiles(allDelivery), worstSecondP99: worst },
    calls: {
      started: t.callsStarted,
      ok: t.callsOk,
      lost: t.callsLost,
      inFlightAtStop: t.callsInFlightAtStop,
      unaccounted: t.callsStarted - t.callsOk - t.callsLost - t.callsInFlightAtStop,
      retried: t.callsRetried,
      clientsWithFailures: failedClients.size,
      failedAttempts: outages.reduce((a, o) => a + o.failedAttempts, 0),
      servedAgain: quantiles(outages.filter((o) => o.servedAt > 0).map((o) => o.servedAt - o.firstAt)),
      notServedAgain: outages.filter((o) => o.servedAt === 0).length,
      inEventWindow: outages.filter((o) => S(o.firstAt) >= winFrom && S(o.firstAt) <= winTo).length,
      firstErrors: count(outages.map((o) => o.firstError)),
    },
    latency: {
      steady: quantiles(bucketsIn(d, (i) => rec.seconds[i].requestMs, steadyFrom, steadyTo, true)),
      event: quantiles(bucketsIn(d, (i) => rec.seconds[i].requestMs, winFrom, winTo, false)),
    },
    bystanders: {
      clients: bystanders,
      disturbed: disturbed.size,
      streamDisturbed: [...rec.streamDisturbed].filter((c) => !affectedClients.has(c)).length,
      lostEvents: bystanderLoss,
      withFailedCalls: bystanderFailed,
    },
    throughput: {
      callsPerS,
      cpuMsPerCall: callsPerS > 0 ? ((nodesCpuPct + steadyCpu.haproxy) / 100 / callsPerS) * 1000 : NaN,
      nodesCpuPct,
      haproxyCpuPct: steadyCpu.haproxy,
    },
    errors: {
      byKind: Object.fromEntries(
        [...rec.errorKinds]
          .sort((a, b) => b[1] - a[1])
          .map(([k, n]) => [
            k,
            { count: n, firstS: (rec.errorFirst.get(k)?.at ?? NaN) / 1000, detail: rec.errorFirst.get(k)?.detail ?? '' },
          ]),
      ),
    },
    sampling: {
      samples: d.samples.length,
      missingNodeReadings: perNode(d.nodeNames, (n) => d.samples.filter((s) => s.nodes[n] === null || s.nodes[n] === undefined).length),
    },
    actions: d.actions,
    loadgen: {
      lagP99MaxMs: Math.max(0, ...d.samples.map((s) => s.loadgenLagP99Ms).filter(Number.isFinite)),
      lagMaxMs: Math.max(0, ...d.samples.map((s) => s.loadgenLagMaxMs).filter(Number.isFinite)),
      machineBusyMeanPct: meanIn(series.machineBusyPct, steadyFrom, steadyTo),
      machineBusyEventPct: meanIn(series.machineBusyPct, winFrom + 1, winTo),
      machineBusyPeakPct: maxIn(series.machineBusyPct, winFrom, winTo),
      othersMeanPct: meanIn(series.othersCpuPct, steadyFrom, winTo),
      before: d.quiet,
      steadyCpuPct: steadyCpu,
      eventCpuPct: cpuMeans(winFrom + 1, winTo),
    },
    targets: [],
  };
  summary.targets = modernTargets(summary);
  return { summary, series, account };
}

const ms = (x: number): string => (Number.isFinite(x) ? `${Math.round(x)} ms` : 'n/a');

/** The targets (listen delivery p99 < 100 ms; no event lost after (re)connecting), and the figures only reported. */
export function modernTargets(s: ModernSummary): Target[] {
  const a = s.events.account;
  const b = a.byClass;
  return [
    {
      name: 'listen delivery p99, steady (tools/call announcing a change → notification on a listen stream, any node)',
      target: '< 100 ms',
      measured: `${ms(s.delivery.steady.p99)} (${s.delivery.steady.n} deliveries)`,
      met: s.delivery.steady.n > 0 ? s.delivery.steady.p99 < 100 : false,
    },
    {
      name: 'events lost after (re)connecting (owed: announced after the stream was acknowledged)',
      target: '0',
      measured: `${a.lost} of ${a.owed} (streams opened after the kill ${b.reopened.lost} of ${b.reopened.owed}; kept ${b.kept.lost} of ${b.kept.owed}; cut streams, up to ${CUT_GRACE_MS} ms before the cut, ${b.cut.lost} of ${b.cut.owed})`,
      met: a.owed > 0 && b.reopened.owed > 0 ? a.lost === 0 : false,
    },
    {
      name: 'listen delivery p99, kill window',
      target: '— (reported)',
      measured: `${ms(s.delivery.event.p99)} (${s.delivery.event.n} deliveries; worst one-second p99 ${ms(s.delivery.worstSecondP99)})`,
      met: null,
    },
    {
      name: 'cut listen streams listening again on a survivor: p99 after the cut',
      target: '— (reported)',
      measured: `${ms(s.listen.fromCut.p99)} (${s.listen.relistened} of ${s.listen.affected}; ${s.listen.unrecovered} not)`,
      met: null,
    },
    {
      name: 'tool calls lost / clients whose calls failed, p99 until served again',
      target: '— (reported)',
      measured: `${s.calls.lost} lost of ${s.calls.started}; ${s.calls.clientsWithFailures} clients, ${ms(s.calls.servedAgain.p99)}`,
      met: null,
    },
    {
      name: 'bystanders disturbed (stream on a survivor dropped, listen failed, or an event lost)',
      target: '— (reported)',
      measured: `${s.bystanders.disturbed} of ${s.bystanders.clients}`,
      met: null,
    },
  ];
}
