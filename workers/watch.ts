/**
 * What a session worker tells the front's watchdog (src/pool/pool.ts) without a message: a heartbeat
 * counter in shared memory, bumped from a timer, so a blocked event loop shows as a counter that stops
 * moving. And the live-heap cap: after each major GC (when the used heap is close to the live heap)
 * the worker compares it with MCP_WORKER_MAX_HEAP_MB and, past it, ends itself, after writing why into
 * the shared words so that the front reports `heap_limit`.
 *
 * Why the worker checks its own heap when V8 can enforce a limit: V8's limit (resourceLimits) ends a
 * worker with ERR_WORKER_OUT_OF_MEMORY only when the allocation that reaches it fits into the 16 MiB
 * Node grants past the limit; a larger one (a Map or array doubling its backing store) aborts the whole
 * process (nodejs/node#47224, measured here on Node 20 with a growing Map). The pool sets V8's limit to
 * twice the cap, so a leak that grows across event-loop turns is caught by this check long before
 * that. A leak in one synchronous loop never yields to it and meets V8's limit directly.
 */
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { log } from '../src/log.js';
import { EXIT_HEAP, HB_BEAT, HB_EXIT } from '../src/pool/messages.js';

function beat(hb: Int32Array): void {
  Atomics.add(hb, HB_BEAT, 1);
}

/** Starts the heartbeat and the heap check; returns what stops them. */
export function startWatch(hb: Int32Array, everyMs: number, maxHeapMb: number, slot: number): () => void {
  beat(hb);
  const timer = setInterval(beat, everyMs, hb);
  let observer: PerformanceObserver | null = null;
  if (maxHeapMb > 0) {
    const cap = maxHeapMb * 1024 * 1024;
    observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        if ((entry as { detail?: { kind?: number } }).detail?.kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue;
        const used = getHeapStatistics().used_heap_size;
        if (used <= cap) continue;
        Atomics.store(hb, HB_EXIT, EXIT_HEAP);
        log.error('session worker live heap past MCP_WORKER_MAX_HEAP_MB; ending the worker', {
          slot,
          heapMb: Math.round(used / 1048576),
          capMb: maxHeapMb,
        });
        // Ends this thread only; the front sees its host task fail and replaces it.
        process.exit(1);
      }
    });
    observer.observe({ entryTypes: ['gc'] });
  }
  return () => {
    clearInterval(timer);
    observer?.disconnect();
  };
}
