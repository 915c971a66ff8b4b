/**
 * Line charts as standalone SVG, no dependencies: axes with "nice" ticks, a legend, one polyline per
 * series (broken where a value is missing, e.g. a node that is down), and dashed vertical markers for
 * the events. Renders identically in browsers and in GitHub's Markdown view.
 */

export interface ChartSeries {
  name: string;
  points: Array<[number, number | null]>;
  color?: string;
  dashed?: boolean;
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
  /** Lower bound of the y axis (default 0); the upper bound follows the data. */
  yMin?: number;
  /** Clamp the y axis at this value (points above are drawn at the top edge). */
  yMaxCap?: number;
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

const MARGIN = { top: 34, right: 16, bottom: 42, left: 64 };
const LEGEND_ROW = 16;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A step of 1, 2 or 5 × 10^k giving about `count` intervals over `span`. */
export function niceStep(span: number, count: number): number {
  if (!(span > 0)) return 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const r = raw / mag;
  return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
}

function ticks(lo: number, hi: number, count: number): number[] {
  const step = niceStep(hi - lo, count);
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function fmt(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(a % 1e6 === 0 ? 0 : 1)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(a % 1e3 === 0 ? 0 : 1)}k`;
  if (a >= 100 || v === Math.round(v)) return String(Math.round(v));
  return v.toPrecision(2);
}

export function lineChart(spec: ChartSpec): string {
  const width = spec.width ?? 760;
  // Legend entries flow left to right and wrap (text width estimated at 5.5 px per character).
  const legend: Array<{ x: number; row: number }> = [];
  let lx = MARGIN.left;
  let row = 0;
  for (const s of spec.series) {
    const w = 22 + Math.ceil(s.name.length * 5.5) + 18;
    if (lx + w > width - MARGIN.right && lx > MARGIN.left) {
      row++;
      lx = MARGIN.left;
    }
    legend.push({ x: lx, row });
    lx += w;
  }
  const legendRows = spec.series.length ? row + 1 : 0;
  const height = (spec.height ?? 280) + legendRows * LEGEND_ROW;
  const top = MARGIN.top + legendRows * LEGEND_ROW;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - top - MARGIN.bottom;

  let xMin = Infinity;
  let xMax = -Infinity;
  let yMax = -Infinity;
  for (const s of spec.series) {
    for (const [x, y] of s.points) {
      if (x < xMin) xMin = x;
      if (x > xMax) xMax = x;
      if (y !== null && Number.isFinite(y) && y > yMax) yMax = y;
    }
  }
  if (!Number.isFinite(xMin)) {
    xMin = 0;
    xMax = 1;
  }
  if (xMax <= xMin) xMax = xMin + 1;
  const yMin = spec.yMin ?? 0;
  if (!Number.isFinite(yMax) || yMax <= yMin) yMax = yMin + 1;
  if (spec.yMaxCap !== undefined && yMax > spec.yMaxCap) yMax = spec.yMaxCap;
  const yTicks = ticks(yMin, yMax * 1.05, 5);
  const yTop = Math.max(yTicks[yTicks.length - 1], yMax);
  const xTicks = ticks(xMin, xMax, 10);

  const X = (x: number): number => MARGIN.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const Y = (y: number): number => top + plotH - ((Math.min(y, yTop) - yMin) / (yTop - yMin)) * plotH;
  const f = (n: number): string => n.toFixed(1);

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${MARGIN.left}" y="18" font-size="14" font-weight="bold">${esc(spec.title)}</text>`);

  spec.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const { x: ex, row: er } = legend[i];
    const ey = 26 + er * LEGEND_ROW + 8;
    out.push(`<line x1="${ex}" y1="${ey - 4}" x2="${ex + 18}" y2="${ey - 4}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>`);
    out.push(`<text x="${ex + 22}" y="${ey}">${esc(s.name)}</text>`);
  });

  for (const b of spec.bands ?? []) {
    const x1 = X(Math.max(b.from, xMin));
    const x2 = X(Math.min(b.to, xMax));
    if (x2 <= x1) continue;
    out.push(`<rect x="${f(x1)}" y="${top}" width="${f(x2 - x1)}" height="${plotH}" fill="#000000" fill-opacity="0.05"/>`);
    out.push(`<text x="${f(x1 + 3)}" y="${top + plotH - 4}" fill="#777777">${esc(b.label)}</text>`);
  }

  for (const v of yTicks) {
    const y = Y(v);
    out.push(`<line x1="${MARGIN.left}" y1="${f(y)}" x2="${MARGIN.left + plotW}" y2="${f(y)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${f(y + 4)}" text-anchor="end">${fmt(v)}</text>`);
  }
  for (const v of xTicks) {
    const x = X(v);
    out.push(`<line x1="${f(x)}" y1="${top + plotH}" x2="${f(x)}" y2="${top + plotH + 4}" stroke="#333333"/>`);
    out.push(`<text x="${f(x)}" y="${top + plotH + 16}" text-anchor="middle">${fmt(v)}</text>`);
  }
  out.push(`<line x1="${MARGIN.left}" y1="${top + plotH}" x2="${MARGIN.left + plotW}" y2="${top + plotH}" stroke="#333333"/>`);
  out.push(`<line x1="${MARGIN.left}" y1="${top}" x2="${MARGIN.left}" y2="${top + plotH}" stroke="#333333"/>`);
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${height - 8}" text-anchor="middle">${esc(spec.xLabel)}</text>`);
  out.push(`<text transform="translate(14 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`);

  (spec.markers ?? []).forEach((m, i) => {
    if (m.x < xMin || m.x > xMax) return;
    const x = X(m.x);
    out.push(`<line x1="${f(x)}" y1="${top}" x2="${f(x)}" y2="${top + plotH}" stroke="#555555" stroke-dasharray="4,3"/>`);
    out.push(`<text x="${f(x + 3)}" y="${top + 11 + (i % 3) * 12}" fill="#555555">${esc(m.label)}</text>`);
  });

  spec.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    let run: string[] = [];
    const flush = (): void => {
      if (run.length === 1) out.push(`<circle cx="${run[0].split(',')[0]}" cy="${run[0].split(',')[1]}" r="1.8" fill="${color}"/>`);
      else if (run.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5,3"' : ''} points="${run.join(' ')}"/>`);
      run = [];
    };
    for (const [x, y] of s.points) {
      if (y === null || !Number.isFinite(y)) flush();
      else run.push(`${f(X(x))},${f(Y(Math.max(y, yMin)))}`);
    }
    flush();
  });

  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
