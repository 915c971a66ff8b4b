/**
 * Turns the per-round raw numbers into spreads (min/median/max per contender), per-round ratios
 * (ours / sdk-v1, ours / sdk-v2, ours / sdk-v2-cluster, ours / bare-uws, metrics on / off), target
 * checks and the four paths (2025 and modern tools/call against the ceiling and the SDK v2
 * reference), and prints them as a table and as Markdown.
 */
import type { LoadResult } from './load.js';
import type { ContenderName, ScenarioName } from './options.js';
import type { InitRun, RssRun, ToolsRun } from './scenarios.js';
import { spread, type Spread } from './stats.js';
import type { WrkResult } from './wrk.js';

export type RunRecord =
  | { scenario: ScenarioName; contender: ContenderName; ok: true; result: ToolsRun | LoadResult | RssRun; otherCpuBefore: number }
  | { scenario: ScenarioName; contender: ContenderName; ok: false; error: string; otherCpuBefore: number };

export interface RoundRecord {
  round: number;
  /** The order the contenders ran in this round (it rotates from round to round). */
  order: ContenderName[];
  runs: RunRecord[];
}

interface MetricDef {
  key: string;
  label: string;
  scenario: ScenarioName;
  unit: 'req/s' | 'sessions/s' | 'ms' | 'KiB' | 'cores' | 'count' | 'µs';
  /** "info" rows are shown but not turned into ratios. */
  better: 'higher' | 'lower' | 'info';
  /** A method (its parameter is checked bivariantly): each row reads the result type of its own scenario. */
  get(result: ToolsRun | InitRun | LoadResult | RssRun): number | undefined;
}

/** Server CPU time per answered request, µs: what a request costs the server whatever the rate. */
function perRequestUs(w: WrkResult | undefined): number | undefined {
  return w === undefined || w.rps <= 0 ? undefined : (w.serverCpuCores / w.rps) * 1e6;
}

/** The rows of a tools/call-like scenario (call-modern): throughput, latency, CPU, errors, bodies, for both load generators. */
function callMetrics(scenario: ScenarioName, key: string, label: string): MetricDef[] {
  const row = (
    k: string,
    l: string,
    unit: MetricDef['unit'],
    better: MetricDef['better'],
    get: (r: ToolsRun) => number | undefined,
  ): MetricDef => ({
    key: `${key}.${k}`,
    label: `${label} ${l}`,
    scenario,
    unit,
    better,
    get,
  });
  return [
    row('rps', 'req/s', 'req/s', 'higher', (r) => r.rps),
    row('p50', 'p50', 'ms', 'lower', (r) => r.latencyMs.p50),
    row('p99', 'p99', 'ms', 'lower', (r) => r.latencyMs.p99),
    row('errors', 'errors', 'count', 'info', (r) => r.errors),
    row('serverCpu', 'server CPU', 'cores', 'info', (r) => r.serverCpuCores),
    row('loadgenCpu', 'autocannon CPU', 'cores', 'info', (r) => r.loadgenCpuCores),
    row('otherCpu', 'other processes CPU', 'cores', 'info', (r) => r.otherCpuCores),
    row('wrk.rps', 'req/s (wrk)', 'req/s', 'higher', (r) => r.wrk?.rps),
    row('wrk.p99', 'p99 (wrk)', 'ms', 'lower', (r) => r.wrk?.latencyMs.p99),
    row('wrk.errors', 'errors (wrk)', 'count', 'info', (r) => r.wrk?.errors),
    row('wrk.serverCpu', 'server CPU (wrk)', 'cores', 'info', (r) => r.wrk?.serverCpuCores),
    row('wrk.serverMainCpu', 'server main thread CPU (wrk)', 'cores', 'info', (r) => r.wrk?.serverMainCpuCores),
    row('wrk.cpuPerRequest', 'server CPU per request (wrk)', 'µs', 'lower', (r) => perRequestUs(r.wrk)),
    row('wrk.otherCpu', 'other processes CPU (wrk)', 'cores', 'info', (r) => r.wrk?.otherCpuCores),
    row('bodiesChecked', 'bodies checked during load', 'count', 'info', (r) => r.bodies.checked),
    row('bodiesFailed', 'bodies invalid during load', 'count', 'info', (r) => r.bodies.failed),
    row('wrk.bodiesFailed', 'bodies invalid during load (wrk)', 'count', 'info', (r) => r.wrk?.bodies.failed),
  ];
}

const METRICS: readonly MetricDef[] = [
  {
    key: 'tools.rps',
    label: 'tools/call req/s (1 session)',
    scenario: 'tools',
    unit: 'req/s',
    better: 'higher',
    get: (r: ToolsRun) => r.rps,
  },
  { key: 'tools.p50', label: 'tools/call p50', scenario: 'tools', unit: 'ms', better: 'lower', get: (r: ToolsRun) => r.latencyMs.p50 },
  { key: 'tools.p99', label: 'tools/call p99', scenario: 'tools', unit: 'ms', better: 'lower', get: (r: ToolsRun) => r.latencyMs.p99 },
  { key: 'tools.errors', label: 'tools/call errors', scenario: 'tools', unit: 'count', better: 'info', get: (r: ToolsRun) => r.errors },
  {
    key: 'tools.serverCpu',
    label: 'tools/call server CPU',
    scenario: 'tools',
    unit: 'cores',
    better: 'info',
    get: (r: ToolsRun) => r.serverCpuCores,
  },
  {
    key: 'tools.loadgenCpu',
    label: 'tools/call autocannon CPU',
    scenario: 'tools',
    unit: 'cores',
    better: 'info',
    get: (r: ToolsRun) => r.loadgenCpuCores,
  },
  {
    key: 'tools.otherCpu',
    label: 'tools/call other processes CPU',
    scenario: 'tools',
    unit: 'cores',
    better: 'info',
    get: (r: ToolsRun) => r.otherCpuCores,
  },
  {
    key: 'tools.wrk.rps',
    label: 'tools/call req/s (wrk)',
    scenario: 'tools',
    unit: 'req/s',
    better: 'higher',
    get: (r: ToolsRun) => r.wrk?.rps,
  },
  {
    key: 'tools.wrk.p99',
    label: 'tools/call p99 (wrk)',
    scenario: 'tools',
    unit: 'ms',
    better: 'lower',
    get: (r: ToolsRun) => r.wrk?.latencyMs.p99,
  },
  {
    key: 'tools.wrk.serverCpu',
    label: 'tools/call server CPU (wrk)',
    scenario: 'tools',
    unit: 'cores',
    better: 'info',
    get: (r: ToolsRun) => r.wrk?.serverCpuCores,
  },
  {
    key: 'tools.wrk.serverMainCpu',
    label: 'tools/call server main thread CPU (wrk)',
    scenario: 'tools',
    unit: 'cores',
    better: 'info',
    get: (r: ToolsRun) => r.wrk?.serverMainCpuCores,
  },
  {
    key: 'tools.wrk.cpuPerRequest',
    label: 'tools/call server CPU per request (wrk)',
    scenario: 'tools',
    unit: 'µs',
    better: 'lower',
    get: (r: ToolsRun) => perRequestUs(r.wrk),
  },
  {
    key: 'tools.wrk.otherCpu',
    label: 'tools/call other processes CPU (wrk)',
    scenario: 'tools',
    unit: 'cores',
    better: 'info',
    get: (r: ToolsRun) => r.wrk?.otherCpuCores,
  },
  ...callMetrics('call-modern', 'modern', 'modern tools/call'),
  {
    key: 'init.rps',
    label: 'initialize sessions/s',
    scenario: 'init',
    unit: 'sessions/s',
    better: 'higher',
    get: (r: LoadResult) => r.rps,
  },
  { key: 'init.p99', label: 'initialize p99', scenario: 'init', unit: 'ms', better: 'lower', get: (r: LoadResult) => r.latencyMs.p99 },
  { key: 'init.errors', label: 'initialize errors', scenario: 'init', unit: 'count', better: 'info', get: (r: LoadResult) => r.errors },
  {
    key: 'init.serverCpu',
    label: 'initialize server CPU',
    scenario: 'init',
    unit: 'cores',
    better: 'info',
    get: (r: LoadResult) => r.serverCpuCores,
  },
  {
    key: 'init.wrk.rps',
    label: 'initialize sessions/s (wrk)',
    scenario: 'init',
    unit: 'sessions/s',
    better: 'higher',
    get: (r: InitRun) => r.wrk?.rps,
  },
  {
    key: 'init.wrk.serverCpu',
    label: 'initialize server CPU (wrk)',
    scenario: 'init',
    unit: 'cores',
    better: 'info',
    get: (r: InitRun) => r.wrk?.serverCpuCores,
  },
  {
    key: 'init.wrk.otherCpu',
    label: 'initialize other processes CPU (wrk)',
    scenario: 'init',
    unit: 'cores',
    better: 'info',
    get: (r: InitRun) => r.wrk?.otherCpuCores,
  },
  {
    key: 'init.otherCpu',
    label: 'initialize other processes CPU',
    scenario: 'init',
    unit: 'cores',
    better: 'info',
    get: (r: LoadResult) => r.otherCpuCores,
  },
  {
    key: 'tools.bodiesChecked',
    label: 'tools/call bodies checked during load',
    scenario: 'tools',
    unit: 'count',
    better: 'info',
    get: (r: ToolsRun) => r.bodies.checked,
  },
  {
    key: 'tools.bodiesFailed',
    label: 'tools/call bodies invalid during load',
    scenario: 'tools',
    unit: 'count',
    better: 'info',
    get: (r: ToolsRun) => r.bodies.failed,
  },
  {
    key: 'tools.wrk.bodiesFailed',
    label: 'tools/call bodies invalid during load (wrk)',
    scenario: 'tools',
    unit: 'count',
    better: 'info',
    get: (r: ToolsRun) => r.wrk?.bodies.failed,
  },
  {
    key: 'init.bodiesChecked',
    label: 'initialize bodies checked during load',
    scenario: 'init',
    unit: 'count',
    better: 'info',
    get: (r: InitRun) => r.bodies.checked,
  },
  {
    key: 'init.bodiesFailed',
    label: 'initialize bodies invalid during load',
    scenario: 'init',
    unit: 'count',
    better: 'info',
    get: (r: InitRun) => r.bodies.failed,
  },
  {
    key: 'init.wrk.bodiesFailed',
    label: 'initialize bodies invalid during load (wrk)',
    scenario: 'init',
    unit: 'count',
    better: 'info',
    get: (r: InitRun) => r.wrk?.bodies.failed,
  },
  { key: 'rss.kb', label: 'RSS per idle session', scenario: 'rss', unit: 'KiB', better: 'lower', get: (r: RssRun) => r.kbPerSession },
  {
    key: 'rss.openRate',
    label: 'sessions opened/s (64 in flight)',
    scenario: 'rss',
    unit: 'sessions/s',
    better: 'info',
    get: (r: RssRun) => r.openRate,
  },
];

export interface MetricSummary {
  label: string;
  unit: string;
  better: MetricDef['better'];
  perContender: Partial<Record<ContenderName, Spread & { values: number[] }>>;
  /** Per-round ratios, keyed `a/b` (RATIOS); a pair missing from the run is absent. */
  ratios: Partial<Record<RatioKey, Spread & { values: number[] }>>;
  /** Per-round ratio ours (metrics on) / ours-nometrics (off); > 1 means "more" with metrics on. */
  metricsOnOverOff?: Spread & { values: number[] };
  /** Per-round difference ours (metrics on) - ours-nometrics (off), in the metric's unit. */
  metricsOnMinusOff?: Spread & { values: number[] };
}

/** The ratios reported, each a per-round quotient of two contenders' figures. */
const RATIOS = [
  ['ours', 'sdk-v1'],
  ['ours', 'sdk-v2'],
  ['ours', 'sdk-v2-cluster'],
  ['ours', 'bare-uws'],
  ['ours-nometrics', 'sdk-v1'],
  // What authorization costs: the same node with every request's token checked (from the cache).
  ['ours-auth', 'ours'],
] as const satisfies ReadonlyArray<readonly [ContenderName, ContenderName]>;
type RatioKey = `${(typeof RATIOS)[number][0]}/${(typeof RATIOS)[number][1]}`;

export interface Target {
  name: string;
  value: number;
  limit: string;
  pass: boolean;
}

/** One of the four paths under one load generator: a per-round ratio, its spread, and its target. */
export interface PathFigure {
  /** '2025 tools/call (1 session)' or 'modern tools/call (no session)'. */
  path: string;
  /** 'ours/bare-uws' (a share of the ceiling) or 'ours/<SDK v2 reference>'. */
  ratio: RatioKey;
  loadgen: 'autocannon' | 'wrk';
  /** Per-round values, with their median, min and max; absent when a side did not run. */
  spread?: Spread & { values: number[] };
  /** The target the median must reach (0.85 of the ceiling; 10 times the SDK reference). */
  atLeast: number;
  /** The median reaches the target (false when there is no figure). */
  met: boolean;
  /** Every round reaches it (the minimum does). */
  everyRound: boolean;
}

export interface Summary {
  metrics: Record<string, MetricSummary>;
  targets: Target[];
  /** The four paths (2025 and modern tools/call, against the ceiling and the SDK v2 reference), per load generator. */
  paths: PathFigure[];
}

const PATHS: ReadonlyArray<{ path: string; metric: string; ratio: RatioKey; atLeast: number }> = [
  { path: '2025 tools/call (1 session)', metric: 'tools', ratio: 'ours/bare-uws', atLeast: 0.85 },
  { path: '2025 tools/call (1 session)', metric: 'tools', ratio: 'ours/sdk-v2', atLeast: 10 },
  { path: 'modern tools/call (no session)', metric: 'modern', ratio: 'ours/bare-uws', atLeast: 0.85 },
  { path: 'modern tools/call (no session)', metric: 'modern', ratio: 'ours/sdk-v2-cluster', atLeast: 10 },
];

function pathFigures(metrics: Record<string, MetricSummary>): PathFigure[] {
  const out: PathFigure[] = [];
  for (const p of PATHS) {
    for (const loadgen of ['autocannon', 'wrk'] as const) {
      const spread = metrics[loadgen === 'wrk' ? `${p.metric}.wrk.rps` : `${p.metric}.rps`]?.ratios[p.ratio];
      out.push({
        path: p.path,
        ratio: p.ratio,
        loadgen,
        spread,
        atLeast: p.atLeast,
        met: spread !== undefined && spread.median >= p.atLeast,
        everyRound: spread !== undefined && spread.min >= p.atLeast,
      });
    }
  }
  return out;
}

function valueOf(round: RoundRecord, def: MetricDef, contender: ContenderName): number | undefined {
  const run = round.runs.find((r) => r.scenario === def.scenario && r.contender === contender);
  if (!run || !run.ok) return undefined;
  const v = def.get(run.result);
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function withValues(values: number[]): Spread & { values: number[] } {
  return { ...spread(values), values };
}

function differences(
  rounds: readonly RoundRecord[],
  def: MetricDef,
  a: ContenderName,
  b: ContenderName,
): (Spread & { values: number[] }) | undefined {
  const values: number[] = [];
  for (const round of rounds) {
    const x = valueOf(round, def, a);
    const y = valueOf(round, def, b);
    if (x !== undefined && y !== undefined) values.push(x - y);
  }
  return values.length ? withValues(values) : undefined;
}

function ratios(
  rounds: readonly RoundRecord[],
  def: MetricDef,
  a: ContenderName,
  b: ContenderName,
): (Spread & { values: number[] }) | undefined {
  const values: number[] = [];
  for (const round of rounds) {
    const x = valueOf(round, def, a);
    const y = valueOf(round, def, b);
    if (x !== undefined && y !== undefined && y !== 0) values.push(x / y);
  }
  return values.length ? withValues(values) : undefined;
}

export function summarize(rounds: readonly RoundRecord[], contenders: readonly ContenderName[]): Summary {
  const metrics: Record<string, MetricSummary> = {};
  for (const def of METRICS) {
    const perContender: MetricSummary['perContender'] = {};
    for (const c of contenders) {
      const values = rounds.map((r) => valueOf(r, def, c)).filter((v): v is number => v !== undefined);
      if (values.length) perContender[c] = withValues(values);
    }
    if (Object.keys(perContender).length === 0) continue;
    const m: MetricSummary = { label: def.label, unit: def.unit, better: def.better, perContender, ratios: {} };
    if (def.better !== 'info') {
      for (const [a, b] of RATIOS) {
        const r = ratios(rounds, def, a, b);
        if (r) m.ratios[`${a}/${b}`] = r;
      }
      m.metricsOnOverOff = ratios(rounds, def, 'ours', 'ours-nometrics');
      m.metricsOnMinusOff = differences(rounds, def, 'ours', 'ours-nometrics');
    }
    metrics[def.key] = m;
  }
  const targets: Target[] = [];
  const t = (name: string, value: number | undefined, limit: string, pass: (v: number) => boolean): void => {
    if (value !== undefined && Number.isFinite(value)) targets.push({ name, value, limit, pass: pass(value) });
  };
  t('tools/call req/s ours/sdk-v1 (median)', metrics['tools.rps']?.ratios['ours/sdk-v1']?.median, '>= 10', (v) => v >= 10);
  t('tools/call p99 ours, ms (median)', metrics['tools.p99']?.perContender.ours?.median, '<= 5', (v) => v <= 5);
  t('initialize sessions/s ours/sdk-v1 (median)', metrics['init.rps']?.ratios['ours/sdk-v1']?.median, '>= 10', (v) => v >= 10);
  t('tools/call req/s ours/sdk-v1, wrk (median)', metrics['tools.wrk.rps']?.ratios['ours/sdk-v1']?.median, '>= 10', (v) => v >= 10);
  t('tools/call p99 ours, wrk, ms (median)', metrics['tools.wrk.p99']?.perContender.ours?.median, '<= 5', (v) => v <= 5);
  t('initialize sessions/s ours/sdk-v1, wrk (median)', metrics['init.wrk.rps']?.ratios['ours/sdk-v1']?.median, '>= 10', (v) => v >= 10);
  // Authorization on may cost at most 10 % of the requests per second (same run, per-round ratio).
  t('tools/call req/s ours-auth/ours (median)', metrics['tools.rps']?.ratios['ours-auth/ours']?.median, '>= 0.90', (v) => v >= 0.9);
  t(
    'tools/call req/s ours-auth/ours, wrk (median)',
    metrics['tools.wrk.rps']?.ratios['ours-auth/ours']?.median,
    '>= 0.90',
    (v) => v >= 0.9,
  );
  t('modern tools/call req/s ours-auth/ours (median)', metrics['modern.rps']?.ratios['ours-auth/ours']?.median, '>= 0.90', (v) => v >= 0.9);
  t('RSS per idle session ours, KiB (median)', metrics['rss.kb']?.perContender.ours?.median, '<= 5', (v) => v <= 5);
  // A fast wrong answer must not score: every sampled body of every contender must be valid.
  const invalid = [
    'tools.bodiesFailed',
    'tools.wrk.bodiesFailed',
    'modern.bodiesFailed',
    'modern.wrk.bodiesFailed',
    'init.bodiesFailed',
    'init.wrk.bodiesFailed',
  ]
    .flatMap((k) => Object.values(metrics[k]?.perContender ?? {}).flatMap((s) => s?.values ?? []))
    .reduce((a, b) => a + b, 0);
  const checked = ['tools.bodiesChecked', 'modern.bodiesChecked', 'init.bodiesChecked'].some((k) => metrics[k]);
  if (checked) t('response bodies invalid during load, all runs', invalid, '= 0', (v) => v === 0);
  return { metrics, targets, paths: pathFigures(metrics) };
}

function fmt(v: number, unit: string): string {
  if (!Number.isFinite(v)) return '-';
  switch (unit) {
    case 'req/s':
    case 'sessions/s':
    case 'count':
      return Math.round(v).toLocaleString('en-US');
    case 'ms':
      return v.toFixed(2);
    case 'KiB':
      return v.toFixed(2);
    default:
      return v.toFixed(2);
  }
}

function ratioCell(s: Spread | undefined): string {
  if (!s) return '-';
  return `${s.median.toFixed(2)}x [${s.min.toFixed(2)}..${s.max.toFixed(2)}]`;
}

/** ours as a share of the ceiling: 100 % is bare uWebSockets.js. */
function shareCell(s: Spread | undefined): string {
  if (!s) return '-';
  const p = (r: number): string => `${(r * 100).toFixed(0)}%`;
  return `${p(s.median)} [${p(s.min)}..${p(s.max)}]`;
}

function pctCell(s: Spread | undefined): string {
  if (!s) return '-';
  const p = (r: number): string => `${r >= 1 ? '+' : ''}${((r - 1) * 100).toFixed(1)}%`;
  return `${p(s.median)} [${p(s.min)}..${p(s.max)}]`;
}

/** Throughput as a percentage; latency and memory as an absolute difference (ratios of tiny numbers mislead). */
function onOffCell(m: MetricSummary): string {
  if (m.unit === 'req/s' || m.unit === 'sessions/s') return pctCell(m.metricsOnOverOff);
  const s = m.metricsOnMinusOff;
  if (!s) return '-';
  const d = (v: number): string => `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;
  return `${d(s.median)} ${m.unit} [${d(s.min)}..${d(s.max)}]`;
}

function pathCell(p: PathFigure): string {
  return p.ratio === 'ours/bare-uws' ? shareCell(p.spread) : ratioCell(p.spread);
}

function pathTarget(p: PathFigure): string {
  return p.ratio === 'ours/bare-uws' ? `>= ${(p.atLeast * 100).toFixed(0)}%` : `>= ${p.atLeast}x`;
}

function pathStatus(p: PathFigure): string {
  if (!p.spread) return 'not measured';
  if (!p.met) return 'missed';
  return p.everyRound ? 'met (every round)' : 'met (median; not every round)';
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

export function formatTable(summary: Summary, contenders: readonly ContenderName[]): string {
  const out: string[] = [];
  const w = [54, 16, 12, 12, 12];
  out.push(`${pad('metric', w[0])}${pad('contender', w[1])}${pad('min', w[2], true)}${pad('median', w[3], true)}${pad('max', w[4], true)}`);
  out.push('-'.repeat(w.reduce((a, b) => a + b)));
  for (const m of Object.values(summary.metrics)) {
    let first = true;
    for (const c of contenders) {
      const s = m.perContender[c];
      if (!s) continue;
      const label = first ? `${m.label} (${m.unit})` : '';
      out.push(
        `${pad(label, w[0])}${pad(c, w[1])}${pad(fmt(s.min, m.unit), w[2], true)}${pad(fmt(s.median, m.unit), w[3], true)}${pad(fmt(s.max, m.unit), w[4], true)}`,
      );
      first = false;
    }
  }
  out.push('');
  out.push('per-round ratios: median [min..max]');
  const r = [34, 27, 27, 27, 22, 27, 30, 27];
  out.push(
    `${pad('metric', r[0])}${pad('ours/sdk-v1', r[1])}${pad('ours/sdk-v2', r[2])}${pad('ours/sdk-v2-cluster', r[3])}${pad('ours/bare-uws', r[4])}${pad('ours-nometrics/sdk-v1', r[5])}${pad('metrics on vs off', r[6])}${pad('ours-auth/ours', r[7])}`,
  );
  out.push('-'.repeat(r.reduce((a, b) => a + b)));
  for (const m of Object.values(summary.metrics)) {
    if (m.better === 'info') continue;
    if (Object.keys(m.ratios).length === 0 && !m.metricsOnOverOff) continue;
    out.push(
      `${pad(m.label, r[0])}${pad(ratioCell(m.ratios['ours/sdk-v1']), r[1])}${pad(ratioCell(m.ratios['ours/sdk-v2']), r[2])}${pad(ratioCell(m.ratios['ours/sdk-v2-cluster']), r[3])}${pad(shareCell(m.ratios['ours/bare-uws']), r[4])}${pad(ratioCell(m.ratios['ours-nometrics/sdk-v1']), r[5])}${pad(onOffCell(m), r[6])}${pad(ratioCell(m.ratios['ours-auth/ours']), r[7])}`,
    );
  }
  if (summary.paths.some((p) => p.spread)) {
    out.push('');
    out.push('four paths: per-round ratio, median [min..max], and its target');
    for (const p of summary.paths) {
      out.push(
        `  ${pad(p.path, 32)}${pad(p.ratio, 21)}${pad(p.loadgen, 12)}${pad(pathCell(p), 26)}${pad(pathTarget(p), 8)}${pathStatus(p)}`,
      );
    }
  }
  if (summary.targets.length) {
    out.push('');
    out.push('targets');
    for (const t of summary.targets) {
      out.push(`  ${t.pass ? 'PASS' : 'FAIL'}  ${pad(t.name, 48)} ${t.value.toFixed(2).padStart(10)}  (${t.limit})`);
    }
  }
  return out.join('\n');
}

/** Where a Markdown summary comes from, printed at its head. */
export interface MarkdownSource {
  /** The JSON result file beside it. */
  file: string;
  commit: string;
  dirty: boolean;
  startedAt: string;
  /** Rounds, durations, connections, load generators: one line. */
  config: string;
}

/** The summary as Markdown: the four paths first, then every figure per contender and the targets. */
export function formatMarkdown(summary: Summary, contenders: readonly ContenderName[], src: MarkdownSource): string {
  const out: string[] = [];
  out.push(`# Throughput, ${src.startedAt}`);
  out.push('');
  out.push(
    `Result \`${src.file}\`, commit \`${src.commit}\`${src.dirty ? ' (**dirty** working tree: not a figure to quote)' : ' (clean)'}; ${src.config}.`,
  );
  out.push('');
  out.push('## Four paths');
  out.push('');
  out.push('Per-round ratio of requests per second; median [min..max] over the rounds.');
  out.push('');
  out.push('| path | ratio | load generator | median [min..max] | target | |');
  out.push('|---|---|---|---|---|---|');
  for (const p of summary.paths)
    out.push(`| ${p.path} | ${p.ratio} | ${p.loadgen} | ${pathCell(p)} | ${pathTarget(p)} | ${pathStatus(p)} |`);
  out.push('');
  out.push('## Per contender');
  out.push('');
  out.push('| metric | contender | min | median | max |');
  out.push('|---|---|--:|--:|--:|');
  for (const m of Object.values(summary.metrics)) {
    for (const c of contenders) {
      const s = m.perContender[c];
      if (s) out.push(`| ${m.label} (${m.unit}) | ${c} | ${fmt(s.min, m.unit)} | ${fmt(s.median, m.unit)} | ${fmt(s.max, m.unit)} |`);
    }
  }
  out.push('');
  out.push('## Ratios');
  out.push('');
  const keys = RATIOS.map(([a, b]) => `${a}/${b}` satisfies RatioKey);
  const shown = keys.filter((k) => Object.values(summary.metrics).some((m) => m.ratios[k]));
  out.push(`| metric | ${shown.join(' | ')} |`);
  out.push(`|---|${shown.map(() => '---|').join('')}`);
  for (const m of Object.values(summary.metrics)) {
    if (m.better === 'info' || !shown.some((k) => m.ratios[k])) continue;
    out.push(`| ${m.label} | ${shown.map((k) => (k === 'ours/bare-uws' ? shareCell(m.ratios[k]) : ratioCell(m.ratios[k]))).join(' | ')} |`);
  }
  if (summary.targets.length) {
    out.push('');
    out.push('## Other targets');
    out.push('');
    out.push('| target | value | limit | |');
    out.push('|---|--:|---|---|');
    for (const t of summary.targets) out.push(`| ${t.name} | ${t.value.toFixed(2)} | ${t.limit} | ${t.pass ? 'met' : 'missed'} |`);
  }
  return `${out.join('\n')}\n`;
}
