/**
 * A worker thread's own metrics (prom-client registries are per thread). Sent to the front on each
 * scrape as prom-client JSON and merged there. Tool names are the registered ones: bounded.
 */
import { performance } from 'node:perf_hooks';
import { HotCounter, HotHistogram } from '../src/metrics/hot.js';
import { B_REQUEST_STATE, BINDING_HELP, BINDING_KINDS } from '../src/auth/binding.js';

const OUTCOMES = ['ok', 'error'] as const;
/** `kind` of mcp_worker_errors_total; the E_* constants index it. */
export const WORKER_ERROR_KINDS = ['uncaught_exception', 'unhandled_rejection', 'handler_timeout', 'unserializable'] as const;
export const E_UNCAUGHT = 0;
export const E_UNHANDLED = 1;
export const E_TIMEOUT = 2;
export const E_UNSERIALIZABLE = 3;
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class WorkerMetrics {
  private readonly toolIndex: Map<string, number>;
  private readonly tools: string[];
  readonly calls: HotCounter;
  readonly duration: HotHistogram;
  readonly errors: HotCounter;
  /** Only request_state is counted here; the front counts the other kinds under the same name, and the scrape sums them. */
  readonly bindingRefusals = new HotCounter('mcp_auth_binding_refusals_total', BINDING_HELP, ['kind'], [BINDING_KINDS]);
  private elu = performance.eventLoopUtilization();

  constructor(
    toolNames: readonly string[],
    readonly enabled: boolean,
  ) {
    this.tools = [...toolNames, 'other'];
    this.toolIndex = new Map(this.tools.map((t, i) => [t, i]));
    this.calls = new HotCounter(
      'mcp_tool_calls_total',
      'tools/call requests handled by session workers, by tool and outcome',
      ['tool', 'outcome'],
      [this.tools, OUTCOMES],
    );
    this.duration = new HotHistogram(
      'mcp_tool_duration_seconds',
      'Tool handler run time in the session worker, by tool',
      BUCKETS,
      ['tool'],
      [this.tools],
    );
    this.errors = new HotCounter(
      'mcp_worker_errors_total',
      'Faults contained inside session workers: uncaught exceptions, unhandled rejections, handler timeouts, unserializable results',
      ['kind'],
      [WORKER_ERROR_KINDS],
      true,
    );
  }

  workerError(kind: number): void {
    if (this.enabled) this.errors.inc(kind);
  }

  /** A requestState sealed for another principal was refused. */
  stateRefused(): void {
    if (this.enabled) this.bindingRefusals.inc(B_REQUEST_STATE);
  }

  toolCall(name: unknown, isError: boolean, started: number): void {
    if (!this.enabled) return;
    const t = typeof name === 'string' ? (this.toolIndex.get(name) ?? this.tools.length - 1) : this.tools.length - 1;
    this.calls.inc(t * 2 + (isError ? 1 : 0));
    this.duration.observe(t, (performance.now() - started) / 1000);
  }

  /** Event-loop utilization since the previous call, 0..1. */
  utilization(): number {
    const now = performance.eventLoopUtilization();
    const delta = performance.eventLoopUtilization(now, this.elu);
    this.elu = now;
    return delta.utilization;
  }

  json(): Promise<unknown[]> {
    return Promise.all([this.calls.get(), this.duration.get(), this.errors.get(), this.bindingRefusals.get()]);
  }
}
