/**
 * Writes a modern run's results in the storm's format: `report.md` (targets met/missed, figures,
 * charts, errors by kind, how to read it), `result.json` (options, summary, series, incidents, call
 * outages, losses, raw samples, node log tails) and the SVG charts, in one directory.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { lineChart, type ChartMarker, type ChartSeries } from './charts.js';
import { describeProvenance, type Provenance } from './provenance.js';
import { CONN_CLASSES, TICK_SLOTS, type ListenAccount } from './storm-modern.js';
import type { ModernRunData } from './storm-modern-run.js';
import { CUT_GRACE_MS, type ModernSeries, type ModernSummary } from './storm-modern-summary.js';
import type { StormOptions } from './storm-options.js';
import { errorsByKind, type Written } from './storm-report.js';
import type { Quantiles } from './storm-summary.js';

export interface ModernOutput {
  data: ModernRunData;
  series: ModernSeries;
  summary: ModernSummary;
  account: ListenAccount;
}

export interface ModernScenarioOutput {
  title: string;
  command: string;
  options: StormOptions;
  code: Provenance;
  run: ModernOutput;
}

const n0 = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a');
const ms = (x: number): string => (Number.isFinite(x) ? `${n0(x)} ms` : 'n/a');
const q4 = (q: Quantiles): string => (q.n ? `${ms(q.p50)} / ${ms(q.p95)} / ${ms(q.p99)} / ${ms(q.max)}` : 'n/a');
const pct = (x: number): string => (Number.isFinite(x) ? `${Math.round(x)} %` : 'n/a');
const metCell = (m: boolean | null): string => (m === null ? '—' : m ? '**met**' : '**missed**');
const counts = (r: Record<string, number>): string =>
  Object.entries(r)
    .map(([k, v]) => `${k} ${n0(v)}`)
    .join(', ') || 'n/a';

type Chart = [file: string, title: string, svg: Promise<string>];

function chartsOf(r: ModernOutput): Chart[] {
  const d = r.data;
  const s = r.series;
  const markers: ChartMarker[] = [];
  if (d.rec.event) markers.push({ x: d.rec.event.at / 1000, label: d.rec.event.label });
  if (d.marks.recovered !== null) markers.push({ x: d.marks.recovered / 1000, label: 'recovered' });
  if (d.marks.announceEnd) markers.push({ x: d.marks.announceEnd / 1000, label: 'announcer stops' });
  const bands = [{ from: d.marks.rampStart / 1000, to: d.marks.rampEnd / 1000, label: 'set-up' }];
  const x = 'seconds since start';
  const chart = (file: string, title: string, yLabel: string, series: ChartSeries[]): Chart => [
    file,
    title,
    lineChart({ title: `${title} (${r.summary.name})`, xLabel: x, yLabel, series, markers, bands }),
  ];
  return [
    chart('listen-streams', 'Listen streams per node', 'streams', [
      ...Object.entries(s.listenersByNode).map(([name, points]) => ({ name, points })),
      { name: 'clients listening', points: s.listening, color: '#7f7f7f', dashed: true },
    ]),
    chart('calls', 'Calls per second: per node, and clients', 'per second', [
      ...Object.entries(s.requestRateByNode).map(([name, rt]) => ({ name: `${name} requests`, points: rt.points, flagged: rt.flagged })),
      { name: 'tool calls ok (clients)', points: s.callsOk, color: '#7f7f7f', dashed: true },
    ]),
    chart('clients', 'Clients: call errors, listens, recovering', 'per second / clients', [
      { name: 'call errors / s', points: s.callErrors },
      { name: 'listens acknowledged / s', points: s.listenAcks },
      { name: 'listen streams ended / s', points: s.listenEnds },
      { name: 'listen errors / s', points: s.listenErrors },
      { name: 'clients recovering', points: s.recovering },
    ]),
    chart('latency', 'Latency seen by clients, per second', 'ms', [
      { name: 'tools/call request p50', points: s.requestP50 },
      { name: 'tools/call request p99', points: s.requestP99 },
      { name: 'listen delivery p50', points: s.deliveryP50 },
      { name: 'listen delivery p99', points: s.deliveryP99 },
    ]),
    chart('events', 'Change events: announced, delivered per stream, lost', 'per second', [
      { name: 'announced / s', points: s.published },
      { name: 'delivered / s / stream', points: s.deliveredPerStream, color: '#2ca02c', dashed: true },
      { name: 'lost, by second announced', points: s.lost, color: '#d62728' },
    ]),
    chart('cpu', 'CPU', '% of one core (machine: % of all)', [
      ...Object.entries(s.cpuByNode).map(([name, rt]) => ({ name: `${name} process`, points: rt.points, flagged: rt.flagged })),
      { name: 'haproxy', points: s.haproxyCpuPct, color: '#ff7f0e' },
      { name: 'redis-server', points: s.redisCpuPct, color: '#9467bd' },
      { name: 'load generator', points: s.loadgenCpuPct, color: '#8c564b' },
      { name: 'other processes', points: s.othersCpuPct, color: '#7f7f7f' },
      { name: 'machine busy', points: s.machineBusyPct, color: '#000000', dashed: true },
    ]),
  ];
}

function figuresTable(s: ModernSummary): string[] {
  const a = s.events.account;
  const byClass = CONN_CLASSES.map(
    (k) =>
      `${k} ${n0(a.byClass[k].streams)} streams, ${n0(a.byClass[k].lost)} of ${n0(a.byClass[k].owed)} lost (${n0(a.byClass[k].streamsWithLoss)} streams)`,
  ).join('; ');
  const rows: Array<[string, string]> = [
    [
      `clients whose listen stream was on ${s.killed} (affected) / streams seen cut / listening again`,
      `${n0(s.listen.affected)} / ${n0(s.listen.cut)} / ${n0(s.listen.relistened)}`,
    ],
    ['listening again on a survivor, after the cut: p50 / p95 / p99 / max', q4(s.listen.fromCut)],
    ['listening again on a survivor, after the kill: p50 / p95 / p99 / max', q4(s.listen.fromEvent)],
    ['kill → client sees its stream end: p50 / p95 / p99 / max', q4(s.listen.eventToCut)],
    ['how the cut streams ended', counts(s.listen.cutBy)],
    ['where they listened again', counts(s.listen.newNode)],
    [
      'change events announced / ok / failed / ticks skipped (too many in flight)',
      `${n0(s.events.announced)} / ${n0(s.events.ok)} / ${n0(s.events.failed)} / ${n0(s.events.skipped)} at ${s.announceRate}/s`,
    ],
    ['(stream, event) pairs owed / received / lost', `${n0(a.owed)} / ${n0(a.got)} / ${n0(a.lost)} over ${n0(a.streams)} streams`],
    ['by stream: cut (owed up to 1 s before the cut) / reopened (acknowledged after the kill) / kept', byClass],
    ['clients that lost an event', n0(a.clientsWithLoss)],
    [
      'duplicates / early (sent before the acknowledgement, not owed) / unknown notifications / other notifications / bad messages',
      `${n0(a.duplicates)} / ${n0(a.early)} / ${n0(a.unknown)} / ${n0(s.events.otherNotifications)} / ${n0(s.events.badMessages)}`,
    ],
    ['notifications still missing when the final wait gave up', n0(s.events.drainPending)],
    ['listen delivery, steady: p50 / p95 / p99 / max', q4(s.delivery.steady)],
    ['listen delivery, kill window: p50 / p95 / p99 / max', q4(s.delivery.event)],
    ['listen delivery, whole run: p50 / p95 / p99 / max', q4(s.delivery.all)],
    ['worst one-second delivery p99 in the kill window', ms(s.delivery.worstSecondP99)],
    [
      'tool calls started / ok / lost / retried / in flight at the end',
      `${n0(s.calls.started)} / ${n0(s.calls.ok)} / ${n0(s.calls.lost)} / ${n0(s.calls.retried)} / ${n0(s.calls.inFlightAtStop)}${s.calls.unaccounted ? ` (${n0(s.calls.unaccounted)} unaccounted)` : ''}`,
    ],
    [
      'clients whose calls failed after the set-up (of them in the kill window) / failed attempts',
      `${n0(s.calls.clientsWithFailures)} (${n0(s.calls.inEventWindow)}) / ${n0(s.calls.failedAttempts)}`,
    ],
    ['first failure → served again: p50 / p95 / p99 / max', q4(s.calls.servedAgain)],
    ['clients whose calls were not served again', n0(s.calls.notServedAgain)],
    ['what failed first', counts(s.calls.firstErrors)],
    ['tools/call request latency, steady: p50 / p95 / p99 / max', q4(s.latency.steady)],
    ['tools/call request latency, kill window: p50 / p95 / p99 / max', q4(s.latency.event)],
    [
      'bystanders (stream on a survivor) / disturbed (stream dropped, listen failed, or an event lost) / of them losing events',
      `${n0(s.bystanders.clients)} / ${n0(s.bystanders.disturbed)} / ${n0(s.bystanders.lostEvents)}`,
    ],
    ['bystanders with a failed call (stateless calls go to any node)', n0(s.bystanders.withFailedCalls)],
    [
      'steady: tool calls/s; CPU (nodes + HAProxy) per call; nodes / HAProxy CPU (% of one core)',
      `${n0(s.throughput.callsPerS)}/s; ${s.throughput.cpuMsPerCall.toFixed(3)} ms; ${n0(s.throughput.nodesCpuPct)} % / ${n0(s.throughput.haproxyCpuPct)} %`,
    ],
    [
      'CPU, steady, mean % of one core',
      Object.entries(s.loadgen.steadyCpuPct)
        .map(([k, v]) => `${k} ${pct(v)}`)
        .join(', '),
    ],
    [
      'CPU in the kill window, mean % of one core',
      Object.entries(s.loadgen.eventCpuPct)
        .map(([k, v]) => `${k} ${pct(v)}`)
        .join(', '),
    ],
    [
      'node actions',
      s.actions
        .map((x) => `${x.node} ${x.action} ${(x.tookMs / 1000).toFixed(1)} s${x.exitCode !== undefined ? ` (exit ${x.exitCode})` : ''}`)
        .join('; '),
    ],
    [
      'timeline: set-up / kill at / recovered at / announcer stopped at / end (s)',
      `${s.timeline.rampS.toFixed(1)} / ${s.timeline.eventS.toFixed(1)} / ${s.timeline.recoveredS === null ? 'never' : s.timeline.recoveredS.toFixed(1)} / ${s.timeline.announceEndS.toFixed(1)} / ${s.timeline.endS.toFixed(1)}`,
    ],
    ['load generator: worst 1-s event-loop delay p99 / max', `${ms(s.loadgen.lagP99MaxMs)} / ${ms(s.loadgen.lagMaxMs)}`],
    [
      'machine CPU busy (all cores): steady / kill window / worst sample',
      `${pct(s.loadgen.machineBusyMeanPct)} / ${pct(s.loadgen.machineBusyEventPct)} / ${pct(s.loadgen.machineBusyPeakPct)}`,
    ],
    [
      'other processes on the machine (not this benchmark): before the run / during it',
      `${s.loadgen.before.busyCores === null ? 'n/a' : `${s.loadgen.before.busyCores.toFixed(2)} cores${s.loadgen.before.quiet ? '' : ' — NOT QUIET'}`} / ${pct(s.loadgen.othersMeanPct)} of a core`,
    ],
    [
      'samples / missing node readings',
      `${n0(s.sampling.samples)} / ${Object.entries(s.sampling.missingNodeReadings)
        .map(([n, v]) => `${n} ${v}`)
        .join(', ')}`,
    ],
  ];
  return ['| figure | measured |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)];
}

const READING = `### How to read this report

- The clients speak the 2026-07-28 revision: no session, no cookie. Each holds one
  \`subscriptions/listen\` stream through HAProxy (round robin: no cookie is sent back) and makes a
  stateless \`tools/call\` of \`echo\` about every interval. The node a stream is on is read from the
  cookie HAProxy inserts in the answer (the client does not keep it).
- **Change events**: an announcer in the load generator calls \`storm_tick\` (bench/storm-tools.ts)
  at a fixed rate through HAProxy, so on any node; that node writes the update to its own listen
  streams and publishes it through Redis to the others. Each event is an update of
  \`storm://tick/<n mod ${TICK_SLOTS}>\` and every stream subscribes to all of them: a notification is
  matched to the latest event of its slot sent before it arrived.
- A stream is **owed** the events whose \`storm_tick\` call was sent after the stream's acknowledgement
  arrived and answered successfully before the stream ended (a stream still open at the end: before the
  announcer stopped; the run then waits up to 5 s for what is on its way). A stream cut by the kill is
  owed only the events answered at least ${CUT_GRACE_MS} ms before the cut. Events published while a client
  was not listening are not owed: the revision keeps no replay. **Lost** = owed and never received.
- **Listen delivery latency** runs from the \`storm_tick\` call being sent to the notification arriving
  on a stream (the same measure as the listen test across nodes), for every stream; "steady" is from
  the set-up's end + 1 s to the kill, the kill window from the kill to 3 s after the last recovery.
- **Listening again**: a client whose stream was on the killed node sees it end (HAProxy closes it
  when the node's connection resets) and listens again at once; the time runs to the acknowledgement
  of its new stream. **Calls** are retried on transport errors and 502/503/504 (any node may serve
  them); "served again" runs from a client's first failed attempt to its next successful call.
- **Bystanders** are clients whose stream was on a surviving node; their calls may still fail
  (stateless calls go to any node, the dead one too until HAProxy sees it down), which is shown apart.
- Node series come from each node's \`/metrics\` once a second (\`mcp_listen_streams_active\`,
  \`mcp_requests_total\`, \`process_cpu_seconds_total\`), with the rules of the 2025 report for
  missing readings and gaps; CPU of haproxy, redis-server and the load generator from \`/proc\`.`;

export async function writeModernScenario(outRoot: string, o: ModernScenarioOutput, stamp: string): Promise<Written> {
  const dir = join(outRoot, `storm-kill-modern-${stamp}`);
  mkdirSync(dir, { recursive: true });
  const r = o.run;
  const s = r.summary;
  const md: string[] = [];
  md.push(`# Reconnection storm: ${o.title}`, '');
  md.push(
    `${r.data.startedAt}: \`${o.command}\`. ${o.options.nodes} nodes × ${o.options.workers} session worker${o.options.workers > 1 ? 's' : ''} behind HAProxy (health checks ${o.options.checkMs === null ? "at the cluster runner's default interval" : `every ${o.options.checkMs} ms`}, fall 2), one redis-server, ` +
      `${n0(o.options.clients)} 2026-07-28 clients, each with a \`subscriptions/listen\` stream and a stateless \`echo\` call about every ${o.options.callIntervalMs} ms; ${o.options.announceRate} change events per second. ` +
      `Everything, load generator included, on one machine with ${cpus().length} cores. Code: ${describeProvenance(o.code)}.`,
    '',
  );
  if (o.code.dirty)
    md.push(
      `**Warning:** measured on a working tree that differs from commit ${o.code.commit} (\`--allow-dirty\`): nobody can reproduce these figures from the repository.`,
      '',
    );
  if (!s.loadgen.before.quiet || s.loadgen.othersMeanPct > 30)
    md.push(
      `**Warning:** other processes used ${pct(s.loadgen.othersMeanPct)} of a core on average during this run${s.loadgen.before.quiet ? '' : ' and the machine was not quiet when it started'}; its latency figures are skewed by them.`,
      '',
    );
  md.push('## Targets', '', '| target | goal | measured | |', '|---|---|---|---|');
  for (const t of s.targets) md.push(`| ${t.name} | ${t.target} | ${t.measured} | ${metCell(t.met)} |`);
  md.push('', '## Figures', '', ...figuresTable(s), '', '### Charts', '');
  const charts: string[] = [];
  for (const [file, title, svg] of chartsOf(r)) {
    writeFileSync(join(dir, `${file}.svg`), await svg);
    charts.push(join(dir, `${file}.svg`));
    md.push(`![${title}](${file}.svg)`, '');
  }
  const kinds = Object.entries(s.errors.byKind);
  errorsByKind(md, kinds, 'None.');
  md.push(READING, '');
  md.push('Raw data: [result.json](result.json) (options, summary, series, every listen incident and call outage, losses, samples).', '');
  const markdown = join(dir, 'report.md');
  writeFileSync(markdown, md.join('\n'));

  const json = join(dir, 'result.json');
  const rec = r.data.rec;
  writeFileSync(
    json,
    `${JSON.stringify(
      {
        scenario: 'kill',
        era: 'modern',
        command: o.command,
        options: o.options,
        code: o.code,
        dirty: o.code.dirty,
        machine: { cores: cpus().length, node: process.version },
        runs: [
          {
            summary: s,
            env: r.data.env,
            marks: r.data.marks,
            event: rec.event,
            series: r.series,
            // [client, node, cutAt, cutBy, reAckAt, newNode] (ms since start; 0: never)
            listenIncidents: rec.listenIncidents.map((i) => [
              i.client,
              i.node,
              Math.round(i.cutAt),
              i.cutBy,
              Math.round(i.reAckAt),
              i.newNode,
            ]),
            // [client, firstAt, firstError, failedAttempts, servedAt]
            callOutages: rec.callOutages.map((c) => [
              c.client,
              Math.round(c.firstAt),
              c.firstError,
              c.failedAttempts,
              Math.round(c.servedAt),
            ]),
            // [sentAt, answeredAt, ok]
            announcements: rec.ann.list.map((a) => [Math.round(a.sentAt), Math.round(a.answeredAt), a.ok ? 1 : 0]),
            lost: { bySecond: r.account.lostBySecond, clients: r.account.clientsWithLoss, examples: r.account.examples },
            samples: r.data.samples,
            nodeLogTail: r.data.nodeLogs,
          },
        ],
      },
      null,
      1,
    )}\n`,
  );
  return { dir, json, markdown, charts };
}
