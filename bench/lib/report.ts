/**
 * Turns the per-round raw numbers into spreads (min/median/max per contender), per-round ratios
 * (ours / sdk-v1, ours / sdk-v2, ours / bare-uws, metrics on / off) and target checks, and prints
 * them as a table.
 */
import type { LoadResult } from './load.js';
import type { ContenderName, ScenarioName } from './options.js';
import type { InitRun, RssRun, ToolsRun } from './scenarios.js';
import { spread, type Spread } from './stats.js';

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
  unit: 'req/s' | 'sessions/s' | 'ms' | 'KiB' | 'cores' | 'count';
  /** "info" rows are shown but not turned into ratios. */
  better: 'higher' | 'lower' | 'info';
  /** A method (its parameter is checked bivariantly): each row reads the result type of its own scenario. */
  get(result: ToolsRun | InitRun | LoadResult | RssRun): number | undefined;
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
    key: 'tools.wrk.otherCpu',
    label: 'tools/call other processes CPU (wrk)',
    scenario: 'tools',
    unit: 'cores',
    better: 'info',
    get: (r: ToolsRun) => r.wrk?.otherCpuCores,
  },
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
  ['ours', 'bare-uws'],
  ['ours-nometrics', 'sdk-v1'],
] as const satisfies ReadonlyArray<readonly [ContenderName, ContenderName]>;
type RatioKey = `${(typeof RATIOS)[number][0]}/${(typeof RATIOS)[number][1]}`;

export interface Target {
  name: string;
  value: number;
  limit: string;
  pass: boolean;
}

export interface Summary {
  metrics: Record<string, MetricSummary>;
  targets: Target[];
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
  t('RSS per idle session ours, KiB (median)', metrics['rss.kb']?.perContender.ours?.median, '<= 5', (v) => v <= 5);
  // A fast wrong answer must not score: every sampled body of every contender must be valid.
  const invalid = ['tools.bodiesFailed', 'tools.wrk.bodiesFailed', 'init.bodiesFailed', 'init.wrk.bodiesFailed']
    .flatMap((k) => Object.values(metrics[k]?.perContender ?? {}).flatMap((s) => s?.values ?? []))
    .reduce((a, b) => a + b, 0);
  const checked = ['tools.bodiesChecked', 'init.bodiesChecked'].some((k) => metrics[k]);
  if (checked) t('response bodies invalid during load, all runs', invalid, '= 0', (v) => v === 0);
  return { metrics, targets };
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
  const r = [32, 27, 27, 22, 27, 30];
  out.push(
    `${pad('metric', r[0])}${pad('ours/sdk-v1', r[1])}${pad('ours/sdk-v2', r[2])}${pad('ours/bare-uws', r[3])}${pad('ours-nometrics/sdk-v1', r[4])}${pad('metrics on vs off', r[5])}`,
  );
  out.push('-'.repeat(r.reduce((a, b) => a + b)));
  for (const m of Object.values(summary.metrics)) {
    if (m.better === 'info') continue;
    if (Object.keys(m.ratios).length === 0 && !m.metricsOnOverOff) continue;
    out.push(
      `${pad(m.label, r[0])}${pad(ratioCell(m.ratios['ours/sdk-v1']), r[1])}${pad(ratioCell(m.ratios['ours/sdk-v2']), r[2])}${pad(shareCell(m.ratios['ours/bare-uws']), r[3])}${pad(ratioCell(m.ratios['ours-nometrics/sdk-v1']), r[4])}${pad(onOffCell(m), r[5])}`,
    );
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
