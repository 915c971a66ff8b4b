/**
 * A /metrics scrape: every worker is asked for its counters (a stats message each, answered or timed
 * out), they are folded into the front's registry with the front's own gauges, and the text
 * exposition is written once.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { LAG_RESOLUTION_MS, lagSeconds } from '../metrics/hot.js';
import type { Metrics } from '../metrics/metrics.js';
import type { WorkerStats } from '../pool/messages.js';
import type { SessionPool } from '../pool/pool.js';
import type { Exchanges } from './exchanges.js';

/** A worker that does not answer within this is left out of the scrape. */
const STATS_TIMEOUT_MS = 1000;

export class MetricsScrape {
  private readonly waiters = new Map<number, (s: WorkerStats | null) => void>();
  private nextRequest = 1;
  private readonly lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });

  constructor(
    private readonly pool: SessionPool,
    private readonly metrics: Metrics,
    private readonly exchanges: Exchanges,
  ) {
    this.lag.enable();
  }

  stop(): void {
    this.lag.disable();
    for (const w of [...this.waiters.values()]) w(null);
  }

  /** A worker's answer to stats request `request`. */
  answered(request: number, stats: WorkerStats): void {
    this.waiters.get(request)?.(stats);
  }

  /** Asks every worker for its counters; null for a worker that is not serving or did not answer. */
  workerStats(timeoutMs = STATS_TIMEOUT_MS): Promise<Array<WorkerStats | null>> {
    return Promise.all(
      this.pool.slots.map((slot) => {
        // A stalled worker would only make the scrape wait for the timeout.
        if (!slot.ready || slot.stalled) return Promise.resolve(null);
        const request = this.nextRequest++;
        return new Promise<WorkerStats | null>((resolve) => {
          const timer = setTimeout(() => {
            this.waiters.delete(request);
            resolve(null);
          }, timeoutMs);
          this.waiters.set(request, (s) => {
            this.waiters.delete(request);
            clearTimeout(timer);
            resolve(s);
          });
          this.pool.send(slot, { type: 'stats', request });
        });
      }),
    );
  }

  /** Worker counters folded into the front's registry, then the text exposition. */
  async text(): Promise<string> {
    const stats = await this.workerStats();
    const workerMetrics: unknown[][] = [];
    let busy = 0;
    let live = 0;
    stats.forEach((s, i) => {
      if (!s) return;
      this.metrics.sessionsActive.set({ worker: String(i) }, s.sessions);
      this.metrics.eventLoopLag.set({ thread: `worker-${i}` }, s.eventLoopLagSeconds);
      busy += s.utilization;
      live++;
      if (s.metrics.length) workerMetrics.push(s.metrics);
    });
    this.metrics.eventLoopLag.set({ thread: 'front' }, lagSeconds(this.lag));
    this.metrics.requestsInFlight.set(this.exchanges.requestsInFlight());
    this.lag.reset();
    this.metrics.poolUtilization.set(live ? busy / live : 0);
    return this.metrics.text(workerMetrics);
  }
}
