/**
 * Session workers: a piscina pool running one long-lived host task per thread. Each host task owns a
 * MessagePort over which it serves all of its worker's sessions; messages are batched per event-loop
 * turn. piscina has no affinity of its own, so the front keeps session → slot routing itself.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { McpRuntimeError, type ErrorCode } from '../errors.js';
import { F_READY, type HostTaskData, type ToFront, type ToWorker } from './messages.js';
import { log } from '../log.js';

export interface PoolOptions {
  workers: number;
  tools: string | null;
  nodeId: string;
  sessionIdleMs: number;
  replayEvents: number;
  sseRetryMs: number;
  requestTimeoutMs: number;
  metrics: boolean;
}

export interface Slot {
  index: number;
  port: MessagePort | null;
  ready: boolean;
  /** Sessions living in this slot's worker. */
  sessions: Set<string>;
  outbox: ToWorker[];
  generation: number;
  /** Why the host task could not start, as the worker reported it. */
  fatal?: Error;
  /** Ended before it served (start-up only). */
  failed?: boolean;
}

export interface PoolEvents {
  onMessage(slot: Slot, msg: ToFront): void;
  /** The slot's worker died: these sessions are gone. */
  onSlotLost(slot: Slot, sessions: Set<string>, err: unknown): void;
}

/** Messages per slot after which a batch is posted without waiting for the end of the turn. */
export const EAGER_BATCH = 4;

const HOST_FILE = fileURLToPath(new URL('../../workers/host.js', import.meta.url));

export class SessionPool {
  readonly slots: Slot[] = [];
  private readonly piscina: Piscina;
  private flushScheduled = false;
  private readonly flushBound = (): void => this.flush();
  private closing = false;
  private readyWaiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private rr = 0;
  private startFailure: Error | null = null;

  constructor(private readonly opts: PoolOptions, private readonly events: PoolEvents) {
    this.piscina = new Piscina({
      filename: HOST_FILE,
      minThreads: opts.workers,
      maxThreads: opts.workers,
      concurrentTasksPerWorker: 1,
      // An idle piscina worker blocks in Atomics.wait; ours must keep serving timers and ports.
      atomics: 'disabled',
      idleTimeout: 2 ** 31 - 1,
    });
    for (let i = 0; i < opts.workers; i++) {
      this.slots.push({ index: i, port: null, ready: false, sessions: new Set(), outbox: [], generation: 0 });
    }
  }

  /** Starts every host task and resolves when all serve; rejects if one fails before it is ready. */
  start(): Promise<void> {
    const p = new Promise<void>((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
    for (const slot of this.slots) this.startHost(slot);
    return p;
  }

  private startHost(slot: Slot): void {
    const { port1, port2 } = new MessageChannel();
    slot.port = port1;
    slot.ready = false;
    const generation = ++slot.generation;
    port1.on('message', (batch: ToFront[]) => {
      for (let i = 0; i < batch.length; i++) {
        const msg = batch[i];
        if (msg.k === F_READY) {
          slot.ready = true;
          this.checkReady();
        } else this.events.onMessage(slot, msg);
      }
    });
    const data: HostTaskData = {
      port: port2,
      slot: slot.index,
      tools: this.opts.tools,
      nodeId: this.opts.nodeId,
      sessionIdleMs: this.opts.sessionIdleMs,
      replayEvents: this.opts.replayEvents,
      sseRetryMs: this.opts.sseRetryMs,
      requestTimeoutMs: this.opts.requestTimeoutMs,
      metrics: this.opts.metrics,
    };
    this.piscina.run(data, { transferList: [port2] as never }).then(
      (result: { fatal?: { code: string; message: string } } | string) => {
        if (typeof result === 'object' && result?.fatal) slot.fatal = new McpRuntimeError(result.fatal.code as ErrorCode, result.fatal.message);
        this.hostEnded(slot, generation, slot.fatal ?? null);
      },
      (err: unknown) => this.hostEnded(slot, generation, err ?? new Error('host task ended')),
    );
  }

  private hostEnded(slot: Slot, generation: number, err: unknown): void {
    if (this.closing || slot.generation !== generation) return;
    const wasReady = slot.ready;
    slot.ready = false;
    slot.port?.close();
    slot.port = null;
    slot.outbox.length = 0;
    const lost = slot.sessions;
    slot.sessions = new Set();
    if (!wasReady && this.readyWaiters.length) {
      // Failing before serving (bad tools module, say) would only fail again: stop start-up, once
      // every other worker has settled too (terminating a worker in the middle of a module import
      // aborts Node).
      this.startFailure ??= (slot.fatal ?? err) as Error;
      slot.failed = true;
      this.checkReady();
      return;
    }
    log.error('session worker died; its sessions are gone', { slot: slot.index, sessions: lost.size, err: String((err as Error)?.message ?? err) });
    this.events.onSlotLost(slot, lost, err);
    this.startHost(slot);
  }

  private checkReady(): void {
    if (!this.slots.every((s) => s.ready || s.failed)) return;
    const failure = this.startFailure;
    for (const w of this.readyWaiters.splice(0)) {
      if (failure) w.reject(failure);
      else w.resolve();
    }
  }

  /** A ready slot for a new session: the one with the fewest sessions (round-robin among ties). */
  pick(): Slot | null {
    let best: Slot | null = null;
    const n = this.slots.length;
    for (let i = 0; i < n; i++) {
      const s = this.slots[(this.rr + i) % n];
      if (!s.ready) continue;
      if (!best || s.sessions.size < best.sessions.size) best = s;
    }
    this.rr = (this.rr + 1) % n;
    return best;
  }

  send(slot: Slot, msg: ToWorker): void {
    if (!slot.port) return;
    // A full-enough batch goes now, so the worker starts on it while the front reads more requests
    // (front and worker overlap instead of taking turns); the rest waits for the end of the turn.
    if (slot.outbox.push(msg) >= EAGER_BATCH) {
      const batch = slot.outbox;
      slot.outbox = [];
      slot.port.postMessage(batch);
      return;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushBound);
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const slot of this.slots) {
      if (slot.outbox.length === 0 || !slot.port) continue;
      const batch = slot.outbox;
      slot.outbox = [];
      slot.port.postMessage(batch);
    }
  }

  get readyCount(): number {
    let n = 0;
    for (const s of this.slots) if (s.ready) n++;
    return n;
  }


  async close(): Promise<void> {
    this.closing = true;
    this.flush();
    for (const s of this.slots) s.port?.close();
    await this.piscina.destroy();
  }
}
