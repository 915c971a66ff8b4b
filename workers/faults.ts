/**
 * Exceptions nobody caught inside a session worker: a tool's timer that throws, a promise it rejects
 * and never awaits. By default Node ends the thread for either, and with it every session the worker
 * holds. Here the host task listens for `uncaughtException` and `unhandledRejection` on the worker
 * thread's `process` (per thread: the front and the other workers are not involved), logs the error,
 * counts it (`mcp_worker_errors_total{kind}`) and lets the worker go on.
 *
 * Why going on is safe here, when Node's documentation warns that state may be inconsistent after an
 * uncaught exception: such an exception unwinds only the frames of the callback that threw, up to the
 * event loop. The runtime's own callbacks cannot be among them: every batch from the front is handled
 * under try/catch (dispatch.ts onBatch), and the continuations of a handler's promise (run() →
 * settle()) catch everything, including a result that cannot be serialized. The runtime's per-request
 * and per-session state (in-flight map, exchanges, streams) is changed only by that synchronous code,
 * which runs to completion before control returns to the loop, so no half-done update of it can be
 * left behind. What may be left inconsistent is the tool module's own state, which the tool shares
 * across this worker's sessions anyway, exactly as when a handler throws (already answered isError);
 * a request whose handler never settles because of the throw is answered by the handler timeout.
 * Faults that are not JS exceptions (heap exhaustion, a stalled loop) are not seen here: the heap cap
 * and the watchdog replace the worker for those.
 *
 * Bounded: at most LOG_BURST lines per LOG_WINDOW_MS are written; the rest are counted and the count
 * is reported on the next line written.
 */
import { log } from '../src/log.js';
import { E_UNCAUGHT, E_UNHANDLED, type WorkerMetrics } from './metrics.js';

const LOG_BURST = 10;
const LOG_WINDOW_MS = 1000;
const MAX_STACK = 4000;

export class FaultLog {
  private windowStart = 0;
  private inWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly slot: number,
    private readonly metrics: WorkerMetrics,
  ) {}

  record(kind: number, what: string, err: unknown, level: 'warn' | 'error' = 'error'): void {
    this.metrics.workerError(kind);
    const now = Date.now();
    if (now - this.windowStart >= LOG_WINDOW_MS) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (++this.inWindow > LOG_BURST) {
      this.suppressed++;
      return;
    }
    const fields: Record<string, unknown> = { slot: this.slot, err: describe(err) };
    if (this.suppressed > 0) {
      fields.suppressed = this.suppressed;
      this.suppressed = 0;
    }
    log[level](what, fields);
  }
}

function describe(err: unknown): string {
  try {
    const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
    return text.length > MAX_STACK ? `${text.slice(0, MAX_STACK)}…` : text;
  } catch {
    return 'unprintable error';
  }
}

/** Installs the thread's handlers; returns what removes them again (when the host task ends). */
export function containFaults(faults: FaultLog): () => void {
  const onException = (err: unknown): void => faults.record(E_UNCAUGHT, 'uncaught exception in session worker (contained)', err);
  const onRejection = (reason: unknown): void => faults.record(E_UNHANDLED, 'unhandled rejection in session worker (contained)', reason);
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}
