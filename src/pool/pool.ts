/**
 * Session workers: a piscina pool running one long-lived host task per thread. Each host task owns a
 * MessagePort over which it serves all of its worker's sessions; messages are batched per event-loop
 * turn. piscina has no affinity of its own, so the front keeps session → slot routing itself.
 *
 * Watchdog. Each host task bumps a counter in a SharedArrayBuffer from a timer (HB_BEAT); the front
 * reads it every stall/20 ms. A shared word costs no message, no allocation and no work on either
 * event loop beyond one Atomics op, and it reads the same when the port is busy with a large batch;
 * comparing counters (not timestamps) makes it independent of both threads' clocks, and a front that
 * was itself blocked sees the counters moved and suspects nobody. A worker silent for more than
 * stall/2 takes no new sessions (pick() skips it); silent for more than the stall limit, it is
 * replaced: aborting its host task's AbortSignal makes piscina terminate the thread running it
 * (piscina dist/index.js: onAbort → _removeWorker → worker.terminate(), which interrupts a JS loop),
 * the task rejects, and the usual "worker died" path ends its sessions and starts a new host task.
 * Both periods are P = stall/20. The front replaces a worker once the counter has not moved for
 * stall + P (as the front observed it): the block then began at most P after the last beat, so it has
 * lasted longer than the stall limit, and at most stall + 3P (1.15 × the limit) when it is noticed.
 */
import { CallersSent } from './callers.js';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { ErrorCodes, McpRuntimeError, type ErrorCode } from '../errors.js';
import { EXIT_HEAP, HB_BEAT, HB_EXIT, HB_TAKEN, HB_WORDS, type HostTaskData, type ToFront, type ToWorker } from './messages.js';
import { BatchChannel, EAGER_BATCH } from './channel.js';
import { encodeToWorker, unpack, type WireBatch } from './wire.js';
import { log, type LogLevel } from '../log.js';

export interface PoolOptions {
  workers: number;
  tools: string | null;
  nodeId: string;
  sessionIdleMs: number;
  replayEvents: number;
  sseRetryMs: number;
  requestTimeoutMs: number;
  metrics: boolean;
  handlerTimeoutMs: number;
  /** Watchdog limit, ms: see the file comment. */
  stallMs: number;
  /** Live-heap cap per worker, MiB; V8's hard limit is twice this. 0: none. */
  maxHeapMb: number;
  /** Stateless requests: a worker's inbox backlog at which they go to the next worker; 0: round robin. See pickAny(). */
  statelessSpill: number;
  logLevel: LogLevel;
  requestStateKey: string;
  requestStateTtlMs: number;
  listTtlMs: number;
  readTtlMs: number;
}

/** Why a worker was replaced: the `reason` label of mcp_worker_restarts_total. */
export const RESTART_REASONS = ['stall', 'heap_limit', 'died'] as const;
export type RestartReason = (typeof RESTART_REASONS)[number];

/** One replaced worker, as /readyz reports it. */
export interface WorkerFault {
  slot: number;
  reason: RestartReason;
  sessions: number;
  at: string;
}

/** Replacements /readyz remembers. */
const FAULT_HISTORY = 8;

/** 2026-07-28 callers whose auth info one worker holds at most (beyond: it forgets them all and is sent them again). */
const MAX_CALLERS_PER_WORKER = 4096;

export interface Slot {
  index: number;
  port: MessagePort | null;
  ready: boolean;
  /** Sessions living in this slot's worker. */
  sessions: Set<string>;
  /** Messages to the current host task, batched; null while no host task runs. */
  channel: BatchChannel<ToWorker> | null;
  generation: number;
  /** Why the host task could not start, as the worker reported it. */
  fatal?: Error;
  /** Ended before it served (start-up only). */
  failed?: boolean;
  /** The current host task's heartbeat words (HB_*), shared with its worker. */
  heartbeat: Int32Array;
  /** Messages sent to the current host task (wrapping as an Int32, like HB_TAKEN). */
  sent: number;
  /** HB_BEAT as last read, and when (performance.now()) it was last seen to change. */
  lastBeat: number;
  lastBeatAt: number;
  /** Silent for more than stall/2: takes no new sessions until it beats again or is replaced. */
  stalled: boolean;
  /** Aborting it terminates the thread running this slot's host task. */
  abort: AbortController | null;
  /** Set when the front itself ends the host task (the watchdog). */
  endReason: RestartReason | null;
  /**
   * 2026-07-28 callers whose auth info the current host task holds: principal key → the token it was
   * sent with. A request of a caller listed with the same token carries only the key.
   */
  authSent: CallersSent;
}

export interface PoolEvents {
  onMessage(slot: Slot, msg: ToFront): void;
  /** The slot's worker died: these sessions are gone. */
  onSlotLost(slot: Slot, sessions: Set<string>, err: unknown, reason: RestartReason): void;
  /** The slot's worker has been silent for more than stall/2 (once per episode). */
  onStall(slot: Slot): void;
}

const HOST_FILE = fileURLToPath(new URL('../../workers/host.js', import.meta.url));

export class SessionPool {
  readonly slots: Slot[] = [];
  private readonly piscina: Piscina;
  private closing = false;
  /**
   * Scopes each tool of the tools module declares (only tools that declare any), as the workers
   * reported them when they became ready; replaced whole, never mutated, so a reader may keep it.
   */
  toolScopes: ReadonlyMap<string, readonly string[]> = new Map();
  /**
   * Tools the workers reported, and whether each declares `Mcp-Param-*` headers (true if any worker
   * says so). A tool missing here is one the front does not know yet: its headers are read.
   */
  readonly toolHeaders = new Map<string, boolean>();
  private readyWaiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private rr = 0;
  private anyRr = 0;
  private startFailure: Error | null = null;
  /** The most recent replacements, newest last (bounded by FAULT_HISTORY). */
  readonly faults: WorkerFault[] = [];
  private readonly watchEvery: number;
  private watchTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly opts: PoolOptions,
    private readonly events: PoolEvents,
  ) {
    this.piscina = new Piscina({
      filename: HOST_FILE,
      minThreads: opts.workers,
      maxThreads: opts.workers,
      concurrentTasksPerWorker: 1,
      // An idle piscina worker blocks in Atomics.wait; ours must keep serving timers and ports.
      atomics: 'disabled',
      idleTimeout: 2 ** 31 - 1,
      // Twice the cap: the worker replaces itself when its live heap passes the cap (workers/watch.ts), in
      // time for the single large allocations (a Map or array doubling) that V8's own limit turns
      // into a process abort instead of ERR_WORKER_OUT_OF_MEMORY (nodejs/node#47224).
      ...(opts.maxHeapMb > 0 ? { resourceLimits: { maxOldGenerationSizeMb: opts.maxHeapMb * 2 } } : {}),
    });
    // piscina emits 'error' for a worker error with no task to reject; unheard, it would end the node.
    this.piscina.on('error', (err: unknown) => log.error('session pool error', { err: String((err as Error)?.message ?? err) }));
    this.watchEvery = Math.max(10, Math.floor(opts.stallMs / 20));
    for (let i = 0; i < opts.workers; i++) {
      this.slots.push({
        index: i,
        port: null,
        ready: false,
        sessions: new Set(),
        channel: null,
        generation: 0,
        heartbeat: new Int32Array(0),
        sent: 0,
        lastBeat: 0,
        lastBeatAt: 0,
        stalled: false,
        abort: null,
        endReason: null,
        authSent: new CallersSent(MAX_CALLERS_PER_WORKER),
      });
    }
  }

  /** Starts every host task and resolves when all serve; rejects if one fails before it is ready. */
  start(): Promise<void> {
    const p = new Promise<void>((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
    for (const slot of this.slots) this.startHost(slot);
    this.watchTimer = setInterval(() => this.watch(), this.watchEvery);
    this.watchTimer.unref();
    return p;
  }

  private startHost(slot: Slot): void {
    const { port1, port2 } = new MessageChannel();
    slot.port = port1;
    slot.channel = new BatchChannel<ToWorker>(port1, EAGER_BATCH, encodeToWorker);
    // A new host task holds no callers yet.
    slot.authSent = new CallersSent(MAX_CALLERS_PER_WORKER);
    slot.ready = false;
    slot.stalled = false;
    slot.endReason = null;
    // A fresh buffer per host task: a terminated thread can never touch its successor's words.
    slot.heartbeat = new Int32Array(new SharedArrayBuffer(HB_WORDS * Int32Array.BYTES_PER_ELEMENT));
    slot.sent = 0;
    slot.abort = new AbortController();
    const generation = ++slot.generation;
    port1.on('message', (raw: WireBatch<ToFront>) => {
      const batch = unpack(raw);
      for (let i = 0; i < batch.length; i++) {
        const msg = batch[i];
        if (msg.type === 'ready') {
          slot.ready = true;
          // Every worker loads the same module: the latest report stands for all.
          if (msg.toolScopes) this.toolScopes = new Map(Object.entries(msg.toolScopes));
          if (msg.toolHeaders) this.noteToolHeaders(msg.toolHeaders);
          // Watched from now on (loading a tools module may take any time).
          slot.lastBeat = Atomics.load(slot.heartbeat, HB_BEAT);
          slot.lastBeatAt = performance.now();
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
      handlerTimeoutMs: this.opts.handlerTimeoutMs,
      heartbeat: slot.heartbeat,
      heartbeatMs: this.watchEvery,
      maxHeapMb: this.opts.maxHeapMb,
      logLevel: this.opts.logLevel,
      requestStateKey: this.opts.requestStateKey,
      requestStateTtlMs: this.opts.requestStateTtlMs,
      listTtlMs: this.opts.listTtlMs,
      readTtlMs: this.opts.readTtlMs,
    };
    this.piscina.run(data, { transferList: [port2] as never, signal: slot.abort.signal }).then(
      (result: { fatal?: { code: string; message: string } } | string) => {
        if (typeof result === 'object' && result?.fatal)
          slot.fatal = new McpRuntimeError(result.fatal.code as ErrorCode, result.fatal.message);
        this.hostEnded(slot, generation, slot.fatal ?? null);
      },
      (err: unknown) => this.hostEnded(slot, generation, err ?? new Error('host task ended')),
    );
  }

  private hostEnded(slot: Slot, generation: number, err: unknown): void {
    if (this.closing || slot.generation !== generation) return;
    const wasReady = slot.ready;
    slot.ready = false;
    slot.stalled = false;
    slot.abort = null;
    slot.channel?.close();
    slot.channel = null;
    slot.port?.close();
    slot.port = null;
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
    const reason = restartReason(slot, err);
    log.error('session worker died; its sessions are gone', {
      slot: slot.index,
      sessions: lost.size,
      reason,
      err: String((err as Error)?.message ?? err),
    });
    this.faults.push({ slot: slot.index, reason, sessions: lost.size, at: new Date().toISOString() });
    if (this.faults.length > FAULT_HISTORY) this.faults.shift();
    this.events.onSlotLost(slot, lost, err, reason);
    this.startHost(slot);
  }

  /** The watchdog's tick: see the file comment. */
  private watch(): void {
    if (this.closing) return;
    const now = performance.now();
    const limit = this.opts.stallMs;
    for (const slot of this.slots) {
      if (!slot.ready || !slot.abort) continue;
      const beat = Atomics.load(slot.heartbeat, HB_BEAT);
      if (beat !== slot.lastBeat) {
        slot.lastBeat = beat;
        slot.lastBeatAt = now;
        if (slot.stalled) {
          slot.stalled = false;
          log.warn('session worker responsive again; placing new sessions on it', { slot: slot.index, sessions: slot.sessions.size });
        }
        continue;
      }
      const silent = now - slot.lastBeatAt;
      if (silent > limit + this.watchEvery) {
        log.error('session worker stalled past MCP_WORKER_STALL_MS; replacing it', {
          slot: slot.index,
          sessions: slot.sessions.size,
          silentMs: Math.round(silent),
          stallMs: limit,
        });
        slot.endReason = 'stall';
        slot.abort.abort(
          new McpRuntimeError(ErrorCodes.MCP_ERR_WORKER_STALLED, `worker ${slot.index} stalled for ${Math.round(silent)} ms`),
        );
      } else if (!slot.stalled && silent > limit / 2) {
        slot.stalled = true;
        log.warn('session worker stalled; no new sessions go to it', {
          slot: slot.index,
          sessions: slot.sessions.size,
          silentMs: Math.round(silent),
          stallMs: limit,
        });
        this.events.onStall(slot);
      }
    }
  }

  private checkReady(): void {
    if (!this.slots.every((s) => s.ready || s.failed)) return;
    const failure = this.startFailure;
    for (const w of this.readyWaiters.splice(0)) {
      if (failure) w.reject(failure);
      else w.resolve();
    }
  }

  /** Merges a worker's report of its tools' `Mcp-Param-*` declarations (tools are only ever added). */
  noteToolHeaders(flags: Readonly<Record<string, boolean>>): void {
    for (const [name, declares] of Object.entries(flags)) if (declares || !this.toolHeaders.has(name)) this.toolHeaders.set(name, declares);
  }

  /** A ready slot for a new session: the one with the fewest sessions (round-robin among ties). */
  pick(): Slot | null {
    let best: Slot | null = null;
    const n = this.slots.length;
    for (let i = 0; i < n; i++) {
      const s = this.slots[(this.rr + i) % n];
      if (!s.ready || s.stalled) continue;
      if (!best || s.sessions.size < best.sessions.size) best = s;
    }
    this.rr = (this.rr + 1) % n;
    return best;
  }

  /**
   * A ready, unstalled slot for a stateless (2026-07-28) request. Requests are packed: the first slot
   * (in index order) whose worker has fewer than `statelessSpill` messages waiting in its inbox takes
   * it, and only when every inbox is that full does the least backlogged one. A worker that keeps up
   * thus gets every request while load is light, and handles them several to a wake-up instead of one
   * each (on 2 cores this served light load at the bare server's rate, where spreading every request
   * cost a third of it: README, "Stateless requests"); a worker that falls behind (a CPU-heavy tool, a
   * burst) spills the rest onto the next. With `statelessSpill` 0, plain round robin.
   */
  pickAny(): Slot | null {
    const spill = this.opts.statelessSpill;
    if (spill > 0) {
      let least: Slot | null = null;
      let leastBacklog = 0;
      for (const s of this.slots) {
        if (!s.ready || s.stalled) continue;
        const backlog = backlogOf(s);
        if (backlog < spill) return s;
        if (least === null || backlog < leastBacklog) {
          least = s;
          leastBacklog = backlog;
        }
      }
      return least;
    }
    const n = this.slots.length;
    for (let i = 0; i < n; i++) {
      const s = this.slots[this.anyRr];
      this.anyRr = (this.anyRr + 1) % n;
      if (s.ready && !s.stalled) return s;
    }
    return null;
  }

  /** Queues `msg` for the slot's worker (batched, see channel.ts); dropped while no host task runs. */
  send(slot: Slot, msg: ToWorker): void {
    if (slot.channel === null) return;
    slot.sent = (slot.sent + 1) | 0;
    slot.channel.push(msg);
  }

  get readyCount(): number {
    let n = 0;
    for (const s of this.slots) if (s.ready) n++;
    return n;
  }

  /** Slots that take new sessions now: ready and not stalled. */
  get servingCount(): number {
    let n = 0;
    for (const s of this.slots) if (s.ready && !s.stalled) n++;
    return n;
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.watchTimer) clearInterval(this.watchTimer);
    for (const s of this.slots) {
      s.channel?.flush();
      s.channel?.close();
      s.port?.close();
    }
    await this.piscina.destroy();
  }
}

/** Why a host task ended: the watchdog said so, V8's heap limit, the worker's own heap check, or else. */
function restartReason(slot: Slot, err: unknown): RestartReason {
  if (slot.endReason) return slot.endReason;
  if ((err as { code?: unknown })?.code === 'ERR_WORKER_OUT_OF_MEMORY') return 'heap_limit';
  if (slot.heartbeat.length > HB_EXIT && Atomics.load(slot.heartbeat, HB_EXIT) === EXIT_HEAP) return 'heap_limit';
  return 'died';
}

/** Messages sent to the slot's worker that it has not taken up yet (in its inbox, or still batched here). */
function backlogOf(slot: Slot): number {
  return (slot.sent - Atomics.load(slot.heartbeat, HB_TAKEN)) | 0;
}
