/**
 * Every distribution the benchmarks report (latencies under load, recovery times, the spread of a
 * figure over rounds) comes from one place: an HDR histogram (hdr-histogram-js) with 3 significant
 * digits, so each percentile is within 0.1 % of the value it stands for. Percentiles are nearest-rank
 * (the median of an even count is the lower middle value), clamped to the exact min and max.
 */
import { build, type Histogram } from 'hdr-histogram-js';

/** Figures of one distribution; NaN everywhere when it is empty. */
export interface Distribution {
  n: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
}

/** min / median / max of a figure over rounds or runs. */
export interface Spread {
  min: number;
  median: number;
  max: number;
  n: number;
}

const DIGITS = 3;

const EMPTY: Distribution = Object.freeze({ n: 0, min: NaN, mean: NaN, p50: NaN, p90: NaN, p95: NaN, p99: NaN, p999: NaN, max: NaN });

function newHistogram(): Histogram {
  return build({ numberOfSignificantValueDigits: DIGITS, autoResize: true });
}

/**
 * Records values in `unit`s (ms values with unit 0.001 are recorded as whole µs). Negative values
 * (differences between contenders) are recorded shifted so that the smallest is one unit.
 */
function read(h: Histogram, unit: number, shift: number, min: number, max: number, mean: number): Distribution {
  const at = (p: number): number => Math.min(max, Math.max(min, h.getValueAtPercentile(p) * unit - shift));
  return { n: h.totalCount, min, mean, p50: at(50), p90: at(90), p95: at(95), p99: at(99), p999: at(99.9), max };
}

/** The distribution of `values` (non-finite ones are left out). */
export function distribution(values: Iterable<number>, unit = 0.001): Distribution {
  const v: number[] = [];
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const x of values) {
    if (!Number.isFinite(x)) continue;
    v.push(x);
    if (x < min) min = x;
    if (x > max) max = x;
    sum += x;
  }
  if (v.length === 0) return EMPTY;
  const shift = min < unit ? unit - min : 0;
  const h = newHistogram();
  for (const x of v) h.recordValue(Math.max(1, Math.round((x + shift) / unit)));
  const d = read(h, unit, shift, min, max, sum / v.length);
  h.destroy();
  return d;
}

export function spread(values: Iterable<number>, unit = 0.001): Spread {
  const d = distribution(values, unit);
  return { min: d.min, median: d.p50, max: d.max, n: d.n };
}

/**
 * A latency recorder for the hot loop of a load run: one HDR histogram in µs, no array of samples.
 * `record` takes milliseconds.
 */
export class LatencyRecorder {
  private readonly h = newHistogram();
  private min = Infinity;
  private max = -Infinity;
  private sum = 0;

  record(ms: number): void {
    if (!(ms >= 0)) return;
    this.h.recordValue(Math.max(1, Math.round(ms * 1000)));
    if (ms < this.min) this.min = ms;
    if (ms > this.max) this.max = ms;
    this.sum += ms;
  }

  get count(): number {
    return this.h.totalCount;
  }

  summary(): Distribution {
    const n = this.h.totalCount;
    return n === 0 ? EMPTY : read(this.h, 0.001, 0, this.min, this.max, this.sum / n);
  }

  destroy(): void {
    this.h.destroy();
  }
}
