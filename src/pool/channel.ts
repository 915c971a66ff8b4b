/**
 * One direction of the front ↔ worker channel: messages are collected and posted as one array, so a
 * turn of the event loop costs one structured clone and one wake-up of the other thread instead of
 * one per message. Used by the front (one channel per worker) and by each worker (to the front).
 */

/** Anything that takes messages one by one (a BatchChannel, or a recorder in tests). */
export interface MessageSink<T> {
  push(msg: T): void;
}

/** Where a batch goes: a MessagePort, or anything with its postMessage. */
export interface BatchTarget<T> {
  postMessage(batch: T[]): void;
}

/**
 * Messages after which a batch is posted at once, without waiting for the end of the turn: the other
 * thread starts on it while this one goes on producing (the threads overlap instead of taking turns).
 */
export const EAGER_BATCH = 4;

export class BatchChannel<T> implements MessageSink<T> {
  private batch: T[] = [];
  private scheduled = false;
  private closed = false;
  private readonly flushBound = (): void => this.flush();

  constructor(
    private readonly target: BatchTarget<T>,
    private readonly eagerAt = EAGER_BATCH,
  ) {}

  /** Queues `msg`; posts now once `eagerAt` are queued, otherwise at the end of this turn (setImmediate). */
  push(msg: T): void {
    if (this.closed) return;
    if (this.batch.push(msg) >= this.eagerAt) {
      const out = this.batch;
      this.batch = [];
      this.target.postMessage(out);
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushBound);
    }
  }

  /** Posts what is queued, if anything. */
  flush(): void {
    this.scheduled = false;
    if (this.batch.length === 0 || this.closed) return;
    const out = this.batch;
    this.batch = [];
    this.target.postMessage(out);
  }

  /** Messages queued and not posted yet. */
  get pending(): number {
    return this.batch.length;
  }

  /** Drops what is queued and takes nothing more (the other side is gone); flush() first to keep it. */
  close(): void {
    this.closed = true;
    this.batch = [];
  }
}
