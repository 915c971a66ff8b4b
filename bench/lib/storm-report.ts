/**
 * Writes one scenario's results: `result.json` (options, summaries, time series, incidents, raw
 * samples), `report.md` (targets met/missed, figures, charts, errors), and the SVG charts, all in
 * one directory so the Markdown's relative links work wherever it is viewed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { lineChart, type ChartMarker, type ChartSeries, type Points } from './charts.js';
import { describeProvenance, type Provenance } from './provenance.js';
import type { StormOptions } from './storm-options.js';
import type { RunData } from './storm-run.js';
import type { Quantiles, Rate, RunSummary, Series } from './storm-summary.js';

export interface RunOutput {
  data: RunData;
  series: Series;
  summary: RunSummary;
}

export interface ScenarioOutput {
  scenario: string;
  title: string;
  command: string;
  options: StormOptions;
  /** Commit of the code under test and whether the tree differed from it. */
  code: Provenance;
  runs: RunOutput[];
}

export interface Written {
  dir: string;
  json: string;
  markdown: string;
  charts: string[];
}

const n0 = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a');
const ms = (x: number): string => (Number.isFinite(x) ? `${n0(x)} ms` : 'n/a');
const q4 = (q: Quantiles): string => (q.n ? `${ms(q.p50)} / ${ms(q.p95)} / ${ms(q.p99)} / ${ms(q.max)}` : 'n/a');
const pct = (x: number): string => (Number.isFinite(x) ? `${Math.round(x)} %` : 'n/a');
const metCell = (m: boolean | null): string => (m === null ? '—' : m ? '**met**' : '**missed**');

function markersOf(d: RunData): ChartMarker[] {
  const m: ChartMarker[] = d.rec.events.map((e) => ({ x: e.at / 1000, label: e.label }));
  for (const a of d.actions) if (a.action === 'start') m.push({ x: (a.at + a.tookMs) / 1000, label: `${a.node} up` });
  if (d.marks.endCheckDone) m.push({ x: d.marks.endCheckDone / 1000, label: d.endCheck.converged ? 'Redis = live' : 'end check' });
  return m.sort((a, b) => a.x - b.x);
}

function byNode(rec: Record<string, Points>): ChartSeries[] {
  return Object.entries(rec).map(([name, points]) => ({ name, points }));
}

/** Rates per node, with the points computed across a sampling gap flagged. */
function ratesByNode(rec: Record<string, Rate>): ChartSeries[] {
  return Object.entries(rec).map(([name, r]) => ({ name, points: r.points, flagged: r.flagged }));
}

type Chart = [file: string, title: string, svg: Promise<string>];

/** The charts of one run: file name, title, SVG. */
function chartsOf(r: RunOutput): Chart[] {
  const d = r.data;
  const s = r.series;
  const markers = markersOf(d);
  const bands = [{ from: d.marks.rampStart / 1000, to: d.marks.rampEnd / 1000, label: 'set-up' }];
  const x = 'seconds since start';
  const chart = (file: string, title: string, yLabel: string, series: ChartSeries[], extra: { yMaxCap?: number } = {}): Chart => [
    file,
    title,
    lineChart({ title: `${title} (${r.summary.name})`, xLabel: x, yLabel, series, markers, bands, ...extra }),
  ];
  return [
    chart('sessions', 'Active sessions per node', 'sessions', [
      ...byNode(s.activeByNode),
      { name: 'held by clients', points: d.samples.map((p) => [p.t / 1000, p.clients.sessions]), color: '#7f7f7f', dashed: true },
    ]),
    chart('initializes', 'Initializes per second per node', 'sessions created / s', [
      ...ratesByNode(s.initRateByNode),
      { name: 'clients (all nodes)', points: s.clientInits, color: '#7f7f7f', dashed: true },
    ]),
    chart('not-found', '404 answers per second per node', '404 / s', [
      ...ratesByNode(s.notFoundRateByNode),
      { name: 'seen by clients', points: s.clientNotFound, color: '#7f7f7f', dashed: true },
    ]),
    chart('forwarded', 'Forwarded requests per second per node', 'forwarded / s', ratesByNode(s.forwardedRateByNode)),
    chart('latency', 'Latency seen by clients, per second', 'ms', [
      { name: 'request p50', points: s.requestP50 },
      { name: 'request p99', points: s.requestP99 },
      { name: 'call p99 (retries, re-init)', points: s.callP99, dashed: true },
      { name: 'initialize p99', points: s.initP99 },
    ]),
    chart('redis', 'Redis commands per second', 'commands / s', [
      { name: 'total_commands_processed rate', points: s.redisCommandsRate.points, flagged: s.redisCommandsRate.flagged },
    ]),
    chart('clients', 'Clients: calls, errors, streams, recovering', 'per second / clients', [
      { name: 'tool calls ok / s', points: s.callsOk },
      { name: 'errors / s (not 404)', points: s.clientErrors },
      { name: 'streams opened / s', points: s.streamOpens },
      { name: 'clients recovering', points: s.recovering },
    ]),
    chart('cpu', 'CPU', '% of one core (machine: % of all)', [
      ...Object.entries(s.cpuByNode).map(([name, r]) => ({ name: `${name} process`, points: r.points, flagged: r.flagged })),
      { name: 'haproxy', points: s.haproxyCpuPct, color: '#ff7f0e' },
      { name: 'redis-server', points: s.redisCpuPct, color: '#9467bd' },
      { name: 'load generator', points: s.loadgenCpuPct, color: '#8c564b' },
      { name: 'other processes', points: s.othersCpuPct, color: '#7f7f7f' },
      { name: 'machine busy', points: s.machineBusyPct, color: '#000000', dashed: true },
    ]),
  ];
}

/** Rolling with jitter on and off: both runs on one axis, seconds since the first SIGTERM. */
function comparisonCharts(on: RunOutput, off: RunOutput): Chart[] {
  const t0 = (r: RunOutput): number => r.data.rec.events[0].at / 1000;
  const shift = (r: RunOutput, p: Points): Points => {
    const out: Points = [];
    for (const [x, y] of p) if (x - t0(r) >= -3) out.push([x - t0(r), y]);
    return out;
  };
  const total = (r: RunOutput): ChartSeries => ({
    name: '',
    points: shift(r, r.series.initRateTotal.points),
    flagged: r.series.initRateTotal.flagged.map((x) => x - t0(r)),
  });
  const markers = on.data.rec.events.map((e) => ({ x: (e.at - on.data.rec.events[0].at) / 1000, label: `${e.label} (jitter on)` }));
  const x = 'seconds since the first SIGTERM';
  return [
    [
      'compare-initializes',
      'Initializes per second, all nodes: drain jitter on vs off',
      lineChart({
        title: 'Initializes per second, all nodes: drain jitter on vs off',
        xLabel: x,
        yLabel: 'sessions created / s',
        markers,
        series: [
          { ...total(on), name: 'jitter on' },
          { ...total(off), name: 'jitter off', color: '#d62728' },
        ],
      }),
    ],
    [
      'compare-latency',
      'Tool-call request p99: drain jitter on vs off',
      lineChart({
        title: 'Tool-call request p99 per second: drain jitter on vs off',
        xLabel: x,
        yLabel: 'ms',
        markers,
        series: [
          { name: 'jitter on', points: shift(on, on.series.requestP99) },
          { name: 'jitter off', points: shift(off, off.series.requestP99), color: '#d62728' },
        ],
      }),
    ],
    [
      'compare-streams',
      'Streams (re)opened per second: drain jitter on vs off',
      lineChart({
        title: 'GET streams (re)opened per second: drain jitter on vs off',
        xLabel: x,
        yLabel: 'streams / s',
        markers,
        series: [
          { name: 'jitter on', points: shift(on, on.series.streamOpens) },
          { name: 'jitter off', points: shift(off, off.series.streamOpens), color: '#d62728' },
        ],
      }),
    ],
  ];
}

function relayText(r: RunSummary['relay']['steady']): string {
  const share = Number.isFinite(r.share) ? `${(r.share * 100).toFixed(2)} %` : 'n/a';
  const reasons = Object.entries(r.byReason)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} ${n0(v)}`)
    .join(', ');
  return `${share} (${n0(r.forwarded)} of ${n0(r.requests)}${reasons ? `; ${reasons}` : ''})`;
}

function figuresTable(s: RunSummary): string[] {
  const ec = s.endCheck;
  const st = s.recovery.stages;
  const peaks = Object.entries(s.initRate.peakByNode)
    .map(([n, v]) => `${n} ${n0(v)}/s`)
    .join(', ');
  const cmds = Object.entries(s.redis.commandsDuringRun)
    .slice(0, 6)
    .map(([c, v]) => `${c} ${n0(v)}`)
    .join(', ');
  const rows: Array<[string, string]> = [
    [
      'affected clients (session on a node the event took away)',
      `${n0(s.recovery.affected)}${s.events.length > 1 ? ` (${s.events.map((e) => `${e.label}: ${n0(e.recovery.affected)}`).join('; ')})` : ''}`,
    ],
    ['recovered / not recovered', `${n0(s.recovery.recovered)} / ${n0(s.recovery.unrecovered)}`],
    [
      'clients of untouched nodes (bystanders) / of them disturbed (saw an error, an unexpected 404 or a dropped stream)',
      `${n0(s.bystanders.clients)} / ${n0(s.bystanders.disturbed)}`,
    ],
    ['cookie-less clients / HAProxy owner routing', `${Math.round(s.cookieless * 100)} % / ${s.ownerRouting ? 'on' : 'off'}`],
    ['relayed share of /mcp requests, steady (forwarded / answered; by reason)', relayText(s.relay.steady)],
    ['relayed share of /mcp requests, event window', relayText(s.relay.event)],
    [
      'steady: tool calls/s; CPU (nodes + HAProxy) per call; nodes / HAProxy CPU (% of one core)',
      `${n0(s.throughput.callsPerS)}/s; ${s.throughput.cpuMsPerCall.toFixed(3)} ms; ${n0(s.throughput.nodesCpuPct)} % / ${n0(s.throughput.haproxyCpuPct)} %`,
    ],
    ['recovery after the client notices: p50 / p95 / p99 / max', q4(s.recovery.fromNotice)],
    ['recovery after the session is gone (first 404): p50 / p95 / p99 / max', q4(s.recovery.fromLoss)],
    ['recovery after the event: p50 / p95 / p99 / max', q4(s.recovery.fromEvent)],
    [
      'stages, p50 / p99: event → first sign; first sign → 404; 404 → new session; new session → successful call',
      [st.eventToNotice, st.noticeToLoss, st.lossToReinit, st.reinitToCall]
        .map((q) => (q.n ? `${ms(q.p50)} / ${ms(q.p99)}` : 'n/a'))
        .join('; '),
    ],
    [
      'every affected client recovered after (from the first event)',
      s.allRecoveredAfterS === null ? 'never (see not recovered)' : `${s.allRecoveredAfterS.toFixed(2)} s`,
    ],
    [
      'what clients noticed first',
      Object.entries(s.recovery.noticedBy)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} ${n0(v)}`)
        .join(', ') || 'n/a',
    ],
    [
      'what told them the session was gone',
      Object.entries(s.recovery.lostBy)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} ${n0(v)}`)
        .join(', ') || 'n/a',
    ],
    [
      'errors other than the expected 404 (affected / other clients)',
      `${n0(s.errors.unexpected)} (${n0(s.errors.affected)} / ${n0(s.errors.unaffected)})`,
    ],
    ['errors while the clients were being set up (not counted above)', n0(s.errors.setup)],
    [
      '404s seen by affected clients (expected) / by other clients',
      `${n0(s.errors.notFoundAffected)} / ${n0(s.errors.notFoundUnaffected)}`,
    ],
    [
      'tool calls started / ok / lost / retried',
      `${n0(s.calls.started)} / ${n0(s.calls.ok)} / ${n0(s.calls.lost)} / ${n0(s.calls.retried)}`,
    ],
    [
      'tool calls still in flight when the clients stopped (no outcome; neither ok nor lost)',
      `${n0(s.calls.inFlightAtStop)}${s.calls.unaccounted !== 0 ? ` (and ${n0(s.calls.unaccounted)} unaccounted for)` : ''}`,
    ],
    ['initializes (incl. set-up) / DELETEs', `${n0(s.calls.initializes)} / ${n0(s.calls.deletes)}`],
    ["peak initialize rate per node (one sampling interval: 1 s, or up to 2 s on the node's clock; event window)", peaks],
    [
      'rates across a sampling gap in the event window, per node (averages, left out of the peaks)',
      Object.entries(s.initRate.gapRatesByNode)
        .map(([n, v]) => `${n} ${v}`)
        .join(', '),
    ],
    [
      'samples / late (> 1.5 s after the previous) / slow to read (> 250 ms) / missing node readings',
      `${n0(s.sampling.samples)} / ${n0(s.sampling.lateSamples)} / ${n0(s.sampling.slowReads)} / ${Object.entries(
        s.sampling.missingNodeReadings,
      )
        .map(([n, v]) => `${n} ${v}`)
        .join(', ')}`,
    ],
    ['peak initialize rate, surviving node / all nodes together', `${n0(s.initRate.peakSurviving)}/s / ${n0(s.initRate.peakTotal)}/s`],
    ['peak GET streams (re)opened per second', `${n0(s.streamOpensPeak)}/s`],
    [
      'Redis commands/s: steady / mean in event window / peak',
      `${n0(s.redis.steadyPerS)} / ${n0(s.redis.eventMeanPerS)} / ${n0(s.redis.eventPeakPerS)}`,
    ],
    ['Redis commands from the event to the end check (top)', cmds || 'n/a'],
    ['tools/call request latency, steady: p50 / p95 / p99 / max', q4(s.latency.steady.request)],
    ['tools/call request latency, event window: p50 / p95 / p99 / max', q4(s.latency.event.request)],
    ['tool call incl. retries and re-init, event window: p50 / p95 / p99 / max', q4(s.latency.event.call)],
    ['initialize request latency, event window: p50 / p95 / p99 / max', q4(s.latency.event.initialize)],
    ['worst one-second request p99 in the event window', ms(s.latency.event.worstSecondRequestP99)],
    [
      'end check: Redis keys / live sessions on nodes / sessions clients hold',
      `${n0(ec.redisKeys)} / ${n0(ec.activeSessions)} / ${n0(ec.clientSessions)} (client sessions without a key ${n0(ec.missing)}; live sessions no client holds ${n0(ec.orphans)})`,
    ],
    [
      'Redis matched the live sessions',
      ec.converged
        ? `yes, ${(ec.afterMs / 1000).toFixed(1)} s after the last event`
        : `no (gave up ${(ec.afterMs / 1000).toFixed(1)} s after the last event)`,
    ],
    [
      'node actions',
      s.actions
        .map((a) => `${a.node} ${a.action} ${(a.tookMs / 1000).toFixed(1)} s${a.exitCode !== undefined ? ` (exit ${a.exitCode})` : ''}`)
        .join('; '),
    ],
    ['load generator: worst 1-s event-loop delay p99 / max', `${ms(s.loadgen.lagP99MaxMs)} / ${ms(s.loadgen.lagMaxMs)}`],
    [
      'machine CPU busy (all cores): steady / mean in event window / worst sample',
      `${pct(s.loadgen.machineBusyMeanPct)} / ${pct(s.loadgen.machineBusyEventPct)} / ${pct(s.loadgen.machineBusyPeakPct)}`,
    ],
    [
      'other processes on the machine (not this benchmark): before the run / during it',
      `${s.loadgen.before.busyCores === null ? 'n/a' : `${s.loadgen.before.busyCores.toFixed(2)} cores${s.loadgen.before.waitedS >= 5 ? ` (after waiting ${Math.round(s.loadgen.before.waitedS)} s)` : ''}${s.loadgen.before.quiet ? '' : ' — NOT QUIET'}`} / ${pct(s.loadgen.othersMeanPct)} of a core`,
    ],
    [
      'CPU in the event window, mean % of one core',
      Object.entries(s.loadgen.eventCpuPct)
        .map(([k, v]) => `${k} ${pct(v)}`)
        .join(', '),
    ],
  ];
  return ['| figure | measured |', '|---|---|', ...rows.map(([a, b]) => `| ${a} | ${b} |`)];
}

function targetsTable(runs: RunOutput[]): string[] {
  const lines = ['| run | target | goal | measured | |', '|---|---|---|---|---|'];
  for (const r of runs)
    for (const t of r.summary.targets) lines.push(`| ${r.summary.name} | ${t.name} | ${t.target} | ${t.measured} | ${metCell(t.met)} |`);
  return lines;
}

function jitterTable(on: RunSummary, off: RunSummary): string[] {
  const red = (a: number, b: number): string =>
    Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${Math.round((1 - a / b) * 100)} %` : 'n/a';
  const row = (name: string, a: number, b: number, unit: (x: number) => string): string =>
    `| ${name} | ${unit(a)} | ${unit(b)} | ${red(a, b)} |`;
  const perS = (x: number): string => `${n0(x)}/s`;
  const drain = (r: RunSummary): string => {
    const t = r.actions.filter((a) => a.action === 'SIGTERM').map((a) => a.tookMs);
    return t.length ? `${(t.reduce((a, b) => a + b, 0) / t.length / 1000).toFixed(1)} s` : 'n/a';
  };
  return [
    '| figure | jitter on | jitter off | reduction with jitter |',
    '|---|---|---|---|',
    row(
      'peak initialize rate, busiest node',
      Math.max(...Object.values(on.initRate.peakByNode)),
      Math.max(...Object.values(off.initRate.peakByNode)),
      perS,
    ),
    row('peak initialize rate, all nodes together', on.initRate.peakTotal, off.initRate.peakTotal, perS),
    row('peak GET streams (re)opened per second', on.streamOpensPeak, off.streamOpensPeak, perS),
    row('tools/call request p99, event window', on.latency.event.request.p99, off.latency.event.request.p99, ms),
    row('worst one-second request p99', on.latency.event.worstSecondRequestP99, off.latency.event.worstSecondRequestP99, ms),
    row('tool call p99 incl. retries and re-init', on.latency.event.call.p99, off.latency.event.call.p99, ms),
    row('recovery after the event, p99', on.recovery.fromEvent.p99, off.recovery.fromEvent.p99, ms),
    row('Redis commands/s, peak', on.redis.eventPeakPerS, off.redis.eventPeakPerS, perS),
    `| drain: SIGTERM to exit, mean | ${drain(on)} | ${drain(off)} | |`,
    `| tool calls lost | ${on.calls.lost} | ${off.calls.lost} | |`,
    `| errors other than 404 | ${on.errors.unexpected} | ${off.errors.unexpected} | |`,
  ];
}

const READING = `### How to read this report

- **Affected clients** are those whose session lived on a node the event took away (read from the
  owner tag in the session id when the event fired). Every other client must see nothing: any error,
  404 or dropped stream it sees is counted as unexpected.
- A client **notices** at its first sign of trouble: its GET stream ends or breaks, or a request gets
  404, a transport error or 502/503/504. It **recovers** at its first successful \`tools/call\` on a new
  session. "After the session is gone" starts at the first 404; during a drain a session keeps working
  until the end of the drain window, so there the gap between noticing (stream closed with \`retry:\`)
  and the 404 is by design.
- **Errors other than the expected 404** (from the end of the set-up on; errors during the set-up are
  listed apart) include transport errors and 502/503 that were retried successfully: a well-behaved
  client survives them, but they are reported. **Lost** tool calls are calls that never succeeded
  (30 s budget of retries and re-initializations), or got an answer that is not retryable.
- Node series come from each node's \`/metrics\` once a second (a gap: the node is down, or the scrape
  failed); rates are deltas of counters (\`mcp_sessions_created_total\`, \`mcp_requests_total{status="404"}\`,
  \`mcp_forwarded_requests_total\`) between consecutive readings. A missing reading is missing: no rate
  there, and never the whole counter counted as one second's increase. A rate across a gap (from the
  last reading before it, or over a late sample) is an average over the gap, and a reading that took
  more than 250 ms to arrive was not taken at its time stamp: both are hollow circles in the charts,
  left out of the peaks. A restarted node (new \`process_start_time_seconds\`) gives no rate
  until its second reading. Redis commands per second from \`INFO stats total_commands_processed\`
  (this benchmark adds about 1 command/s, plus SCANs during the end check).
- **Calls in flight** when the clients stop (the end of the run) get no outcome: they are counted and
  shown apart, so that started = ok + lost + in flight.
  Client series (latency, calls, errors) are the load generator's own one-second buckets.
- The **end check** polls (every 500 ms) until the \`mcp:session:*\` keys (SCAN) are as many as the
  sessions the nodes report live (\`mcp_sessions_active\`, summed) and every client's session has its
  key; the time is counted from the last event. Live sessions that no client holds any more (a client
  re-initialized without DELETE) count as live. After SIGKILL, the dead node's keys are removed by
  the survivors once its heartbeat is 15 s old, so about 15–17 s is expected there.
- The load generator, HAProxy, Redis and the nodes share this machine's cores: the CPU chart and the
  load generator's event-loop delay tell whether a latency figure is the cluster's or the machine's.`;

export async function writeScenario(outRoot: string, o: ScenarioOutput, stamp: string): Promise<Written> {
  const dir = join(outRoot, `storm-${o.scenario}-${stamp}`);
  mkdirSync(dir, { recursive: true });
  const charts: string[] = [];
  const md: string[] = [];
  const first = o.runs[0].data;
  md.push(`# Reconnection storm: ${o.title}`, '');
  md.push(
    `${first.startedAt}: \`${o.command}\`. ${o.options.nodes} nodes × ${o.options.workers} session worker${o.options.workers > 1 ? 's' : ''} behind HAProxy (health checks ${o.options.checkMs === null ? "at the cluster runner's default interval" : `every ${o.options.checkMs} ms`}, fall 2), one redis-server, ` +
      `${n0(o.options.clients)} clients (${o.options.cookieless > 0 ? `${Math.round(o.options.cookieless * 100)} % without cookies` : 'all keep the sticky cookie'}), each with a GET SSE stream and a \`${o.options.tool}\` call about every ${o.options.callIntervalMs} ms. ` +
      `Drain window ${o.options.drainWindowMs} ms${
        Object.keys(o.options.nodeEnv).length
          ? `; node environment ${Object.entries(o.options.nodeEnv)
              .map(([k, v]) => `\`${k}=${v}\``)
              .join(', ')}`
          : ''
      }. Everything, load generator included, on one machine with ${cpus().length} cores. ` +
      `Code: ${describeProvenance(o.code)}.`,
    '',
  );
  if (o.code.dirty)
    md.push(
      `**Warning:** measured on a working tree that differs from commit ${o.code.commit} (\`--allow-dirty\`): nobody can reproduce these figures from the repository.`,
      '',
    );
  for (const r of o.runs) {
    const l = r.summary.loadgen;
    if (!l.before.quiet || l.othersMeanPct > 30) {
      md.push(
        `**Warning (${r.summary.name}):** other processes used ${pct(l.othersMeanPct)} of a core on average during this run${l.before.quiet ? '' : ' and the machine was not quiet when it started'}; its latency and recovery figures are skewed by them.`,
        '',
      );
    }
  }
  md.push('## Targets', '', ...targetsTable(o.runs), '');
  if (o.runs.length === 2 && o.scenario === 'rolling') {
    const [on, off] = o.runs;
    md.push(
      '## Drain jitter: on against off',
      '',
      `The same rolling restart twice in this invocation, fresh cluster each time, \`MCP_DRAIN_WINDOW_MS=${o.options.drainWindowMs}\`, \`MCP_DRAIN_JITTER=1\` then \`0\`.`,
      '',
      ...jitterTable(on.summary, off.summary),
      '',
    );
    for (const [file, title, svg] of comparisonCharts(on, off)) {
      writeFileSync(join(dir, `${file}.svg`), await svg);
      charts.push(join(dir, `${file}.svg`));
      md.push(`![${title}](${file}.svg)`, '');
    }
  }
  for (const r of o.runs) {
    const prefix = o.runs.length > 1 ? `${r.summary.name}-` : '';
    md.push(`## ${o.runs.length > 1 ? `Run ${r.summary.name}` : 'Figures'}`, '', ...figuresTable(r.summary), '');
    if (r.summary.events.length > 1) {
      md.push('Per event (recovery after the client notices / after the event, p50 / p95 / p99 / max):', '');
      md.push('| event | at | affected | after notice | after event |', '|---|---|---|---|---|');
      for (const e of r.summary.events)
        md.push(
          `| ${e.label} | ${e.atS.toFixed(1)} s | ${n0(e.recovery.affected)} | ${q4(e.recovery.fromNotice)} | ${q4(e.recovery.fromEvent)} |`,
        );
      md.push('');
    }
    md.push('### Charts', '');
    for (const [file, title, svg] of chartsOf(r)) {
      const name = `${prefix}${file}.svg`;
      writeFileSync(join(dir, name), await svg);
      charts.push(join(dir, name));
      md.push(`![${title}](${name})`, '');
    }
    const kinds = Object.entries(r.summary.errors.byKind);
    errorsByKind(md, kinds, "None: every answer was a success or an affected client's expected 404.");
  }
  md.push(READING, '');
  md.push(`Raw data: [result.json](result.json) (options, summaries, time series, every incident, every sample).`, '');
  const markdown = join(dir, 'report.md');
  writeFileSync(markdown, md.join('\n'));

  const json = join(dir, 'result.json');
  writeFileSync(
    json,
    `${JSON.stringify(
      {
        scenario: o.scenario,
        command: o.command,
        options: o.options,
        code: o.code,
        dirty: o.code.dirty,
        machine: { cores: cpus().length, node: process.version },
        runs: o.runs.map((r) => ({
          summary: r.summary,
          env: r.data.env,
          marks: r.data.marks,
          events: r.data.rec.events,
          series: r.series,
          // [event, client, openedAt, noticedAt, lostAt, reinitAt, recoveredAt (ms since start; 0: never), noticedBy, lostBy]
          incidents: r.data.rec.incidents.map((i) => [
            i.event,
            i.client,
            Math.round(i.openedAt),
            Math.round(i.noticedAt),
            Math.round(i.lostAt),
            Math.round(i.reinitAt),
            Math.round(i.recoveredAt),
            i.noticedBy,
            i.lostBy,
          ]),
          samples: r.data.samples,
          nodeLogTail: r.data.nodeLogs,
        })),
      },
      null,
      1,
    )}\n`,
  );
  return { dir, json, markdown, charts };
}

/** The "Errors by kind" table of a storm report: one row per kind ("<clients> <request> <error>"). */
export function errorsByKind(md: string[], kinds: [string, { count: number; firstS: number; detail?: string }][], none: string): void {
  md.push('### Errors by kind', '');
  if (kinds.length === 0) {
    md.push(none, '');
    return;
  }
  md.push('| clients | request | error | count | first seen | body of the first |', '|---|---|---|---|---|---|');
  for (const [k, v] of kinds) {
    const [scope, op, ...what] = k.split(' ');
    const body = v.detail ? `\`${v.detail.replace(/[|`\n]/g, ' ')}\`` : '';
    md.push(
      `| ${scope} | ${op} | ${what.join(' ')} | ${n0(v.count)} | ${Number.isFinite(v.firstS) ? `${v.firstS.toFixed(3)} s` : ''} | ${body} |`,
    );
  }
  md.push('');
}
