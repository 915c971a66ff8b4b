/**
 * Line charts as standalone SVG: a Vega-Lite specification compiled by vega-lite and rendered by
 * vega's headless View (`renderer: 'none'`, `toSVG()`; no canvas, text widths estimated). One line per
 * series, broken where a value is missing (a node that is down); hollow points for rates computed
 * over a sampling gap; dashed vertical rules for events; shaded bands (the set-up).
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** One point per sample: x, and y or null (no reading). */
export type Points = Array<[number, number | null]>;

export interface ChartSeries {
  name: string;
  points: Points;
  color?: string;
  dashed?: boolean;
  /** x of points to mark as suspect (a rate over a sampling gap): drawn as hollow circles. */
  flagged?: readonly number[];
}

export interface ChartMarker {
  x: number;
  label: string;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
  markers?: ChartMarker[];
  /** Shaded x ranges (e.g. the ramp-up), with a label. */
  bands?: Array<{ from: number; to: number; label: string }>;
  width?: number;
  height?: number;
  /** Clamp the y axis at this value (points above are clipped). */
  yMaxCap?: number;
}

/** Tableau 10, the palette most chart readers know. */
export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

const SOLID = [1, 0];
const DASH = [5, 3];

/** The Vega-Lite specification of a chart (kept separate so that it can be inspected or saved). */
export function lineChartSpec(spec: ChartSpec): TopLevelSpec {
  const names = spec.series.map((s) => s.name);
  const colors = spec.series.map((s, i) => s.color ?? PALETTE[i % PALETTE.length]);
  const rows: Array<{ x: number; y: number | null; series: string }> = [];
  const flagged: Array<{ x: number; y: number; series: string }> = [];
  let xMin = Infinity;
  let xMax = -Infinity;
  for (const s of spec.series) {
    const suspect = new Set(s.flagged ?? []);
    for (const [x, y] of s.points) {
      const v = y !== null && Number.isFinite(y) ? y : null;
      rows.push({ x, y: v, series: s.name });
      if (v !== null && suspect.has(x)) flagged.push({ x, y: v, series: s.name });
      if (x < xMin) xMin = x;
      if (x > xMax) xMax = x;
    }
  }
  if (!Number.isFinite(xMin)) [xMin, xMax] = [0, 1];
  const x = { field: 'x', type: 'quantitative', title: spec.xLabel, scale: { domain: [xMin, xMax], nice: false } };
  const y = {
    field: 'y',
    type: 'quantitative',
    title: spec.yLabel,
    scale: { zero: true, ...(spec.yMaxCap === undefined ? {} : { domainMax: spec.yMaxCap }) },
  };
  const color = {
    field: 'series',
    type: 'nominal',
    title: null,
    scale: { domain: names, range: colors },
    legend: { orient: 'top', columns: 4, symbolType: 'stroke', labelLimit: 260 },
  };
  // Same field as the colour: one legend whose symbols show both the colour and the dash.
  const dash = {
    field: 'series',
    type: 'nominal',
    title: null,
    scale: { domain: names, range: spec.series.map((s) => (s.dashed ? DASH : SOLID)) },
  };
  const bands = (spec.bands ?? [])
    .filter((b) => b.to > xMin && b.from < xMax)
    .map((b) => ({ from: Math.max(b.from, xMin), to: Math.min(b.to, xMax), label: b.label }));
  // Labels of nearby markers would overlap: they go on three rows, 12 px apart.
  const markers = (spec.markers ?? []).filter((m) => m.x >= xMin && m.x <= xMax).map((m, i) => ({ ...m, top: (i % 3) * 12 + 2 }));
  const layer: unknown[] = [];
  if (bands.length) {
    layer.push({
      data: { values: bands },
      mark: { type: 'rect', color: '#000000', opacity: 0.05 },
      encoding: { x: { field: 'from', type: 'quantitative' }, x2: { field: 'to' } },
    });
    layer.push({
      data: { values: bands },
      mark: { type: 'text', align: 'left', baseline: 'bottom', dx: 3, color: '#777777', y: { expr: 'height - 4' } },
      encoding: { x: { field: 'from', type: 'quantitative' }, text: { field: 'label' } },
    });
  }
  // A missing value (null) breaks the line instead of joining across it (vega-lite's default for lines).
  layer.push({ data: { values: rows }, mark: { type: 'line', strokeWidth: 1.6, clip: true }, encoding: { x, y, color, strokeDash: dash } });
  if (flagged.length) {
    layer.push({
      data: { values: flagged },
      mark: { type: 'point', shape: 'circle', filled: false, size: 40, strokeWidth: 1.4, clip: true },
      encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, color },
    });
  }
  if (markers.length) {
    layer.push({
      data: { values: markers },
      mark: { type: 'rule', color: '#555555', strokeDash: [4, 3] },
      encoding: { x: { field: 'x', type: 'quantitative' } },
    });
    layer.push({
      data: { values: markers },
      mark: { type: 'text', align: 'left', baseline: 'top', dx: 3, color: '#555555' },
      encoding: {
        x: { field: 'x', type: 'quantitative' },
        y: { field: 'top', type: 'quantitative', scale: null, axis: null },
        text: { field: 'label' },
      },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: spec.title, anchor: 'start', fontSize: 14 },
    width: spec.width ?? 680,
    height: spec.height ?? 240,
    background: '#ffffff',
    padding: 8,
    config: {
      font: 'Helvetica, Arial, sans-serif',
      axis: { labelFontSize: 11, titleFontSize: 11, grid: true, gridColor: '#e5e5e5' },
      legend: { labelFontSize: 11 },
      view: { stroke: null },
    },
    layer,
  } as unknown as TopLevelSpec;
}

/** Renders a chart to an SVG document. */
export async function lineChart(spec: ChartSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(lineChartSpec(spec)).spec), { renderer: 'none', logLevel: vega.Warn });
  try {
    return `${await view.toSVG()}\n`;
  } finally {
    view.finalize();
  }
}
