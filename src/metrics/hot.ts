/**
 * Hot-path metrics without allocation. prom-client hashes a label object on every labelled update;
 * these keep plain typed arrays indexed by label position instead, and build prom-client's metric
 * objects only when scraped. Label values are fixed lists given up front, so cardinality is bounded
 * by construction. Both classes expose `get()` in prom-client's shape, so they register in a
 * prom-client Registry and merge across threads with AggregatorRegistry.aggregate.
 */
import type { MetricObjectWithValues, MetricValue, MetricValueWithName } from 'prom-client';

interface Labelled {
  labelNames: readonly string[];
  /** One list of allowed values per label name. */
  labelValues: readonly (readonly string[])[];
}

function labelsAt(spec: Labelled, index: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = spec.labelNames.length - 1; i >= 0; i--) {
    const values = spec.labelValues[i];
    out[spec.labelNames[i]] = values[index % values.length];
    index = Math.floor(index / values.length);
  }
  return out;
}

function cardinality(spec: Labelled): number {
  return spec.labelValues.reduce((n, v) => n * v.length, 1);
}

export class HotCounter implements Labelled {
  readonly values: Float64Array;
  readonly type = 'counter';
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[] = [],
    readonly labelValues: readonly (readonly string[])[] = [],
    /** Show every label combination from the start, zeros included (for short closed lists). */
    readonly showZeros = false,
  ) {
    this.values = new Float64Array(cardinality(this));
  }

  inc(index = 0, by = 1): void {
    this.values[index] += by;
  }

  get(): Promise<MetricObjectWithValues<MetricValue<string>>> {
    const values: MetricValue<string>[] = [];
    for (let i = 0; i < this.values.length; i++) {
      // Unlabelled counters always show; labelled ones once they have counted.
      if (this.values[i] !== 0 || this.labelNames.length === 0 || this.showZeros)
        values.push({ value: this.values[i], labels: labelsAt(this, i) });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values } as never);
  }

  /** For prom-client's Registry.registerMetric. */
  reset(): void {
    this.values.fill(0);
  }
}

export class HotHistogram implements Labelled {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly counts: Float64Array;
  private readonly sums: Float64Array;
  private readonly totals: Float64Array;
  private readonly nb: number;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
    readonly labelNames: readonly string[] = [],
    readonly labelValues: readonly (readonly string[])[] = [],
  ) {
    const n = cardinality(this);
    this.nb = buckets.length;
    this.counts = new Float64Array(n * this.nb);
    this.sums = new Float64Array(n);
    this.totals = new Float64Array(n);
  }

  observe(index: number, value: number): void {
    const b = this.buckets;
    let i = 0;
    while (i < this.nb && value > b[i]) i++;
    if (i < this.nb) this.counts[index * this.nb + i]++;
    this.sums[index] += value;
    this.totals[index]++;
  }

  get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const values: MetricValueWithName<string>[] = [];
    for (let s = 0; s < this.totals.length; s++) {
      if (this.totals[s] === 0 && this.labelNames.length > 0) continue;
      const labels = labelsAt(this, s);
      let cumulative = 0;
      for (let i = 0; i < this.nb; i++) {
        cumulative += this.counts[s * this.nb + i];
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: this.buckets[i] }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: this.totals[s] });
      values.push({ metricName: `${this.name}_sum`, labels, value: this.sums[s] });
      values.push({ metricName: `${this.name}_count`, labels, value: this.totals[s] });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values } as never);
  }

  reset(): void {
    this.counts.fill(0);
    this.sums.fill(0);
    this.totals.fill(0);
  }
}

/** monitorEventLoopDelay samples with a timer of this resolution (ms). */
export const LAG_RESOLUTION_MS = 20;

/**
 * Mean event-loop delay in seconds from a monitorEventLoopDelay histogram: the histogram records the
 * whole timer interval, so the resolution itself is taken off.
 */
export function lagSeconds(h: { mean: number; count?: number }): number {
  const mean = h.mean / 1e9;
  return Number.isFinite(mean) ? Math.max(0, mean - LAG_RESOLUTION_MS / 1000) : 0;
}
