/**
 * One direction of the front ↔ worker channel: messages are collected and posted as one array, so a
 * turn of the event loop costs one structured clone and one wake-up of the other thread instead of
 * one per message. Used by the front (one channel per worker) and by each worker (to the front).
 * Given an encoder (wire.ts), messages that have a text form travel as text, consecutive ones joined
 * into one string of the batch; the receiver unpacks them (wire.ts unpack).
 */

/** Anything that takes messages one by one (a BatchChannel, or a recorder in tests). */
export interface MessageSink<T> {
  push(msg: T): void;
}

/** Where a batch goes: a MessagePort, or anything with its postMessage. */
export interface BatchTarget<T> {
  postMessage(batch: Array<T | string>): void;
}

/**
 * Messages after which a batch is posted at once, without waiting for the end of the turn: the other
 * thread starts on it while this one goes on producing (the threads overlap instead of taking turns).
 * Each post costs both threads (a clone, a wake-up), so not too soon: under wrk on 2 cores, 16 in
 * both directions served the 2025 path about a quarter faster than 4, and 64 or only at the end of
 * the turn less well than 16 (README, Throughput).
 */
export const EAGER_BATCH = 16;

export class BatchChannel<T> implements MessageSink<T> {
  private batch: Array<T | string> = [];
  /** Encoded messages not yet appended to `batch` (one string for a run of them). */
  private text = '';
  private count = 0;
  private scheduled = false;
  private closed = false;
  private readonly flushBound = (): void => this.flush();

  constructor(
    private readonly target: BatchTarget<T>,
    private readonly eagerAt = EAGER_BATCH,
    private readonly encode: ((msg: T) => string | null) | null = null,
  ) {}

  /** Queues `msg`; posts now once `eagerAt` are queued, otherwise at the end of this turn (setImmediate). */
  push(msg: T): void {
    if (this.closed) return;
    const enc = this.encode === null ? null : this.encode(msg);
    if (enc !== null) this.text += enc;
    else {
      if (this.text !== '') {
        this.batch.push(this.text);
        this.text = '';
      }
      this.batch.push(msg);
    }
    if (++this.count >= this.eagerAt) return this.post();
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushBound);
    }
  }

  /** Posts what is queued, if anything. */
  flush(): void {
    this.scheduled = false;
    if (this.count === 0 || this.closed) return;
    this.post();
  }

  private post(): void {
    if (this.text !== '') {
      this.batch.push(this.text);
      this.text = '';
    }
    const out = this.batch;
    this.batch = [];
    this.count = 0;
    this.target.postMessage(out);
  }

  /** Messages queued and not posted yet. */
  get pending(): number {
    return this.count;
  }

  /** Drops what is queued and takes nothing more (the other side is gone); flush() first to keep it. */
  close(): void {
    this.closed = true;
    this.batch = [];
    this.text = '';
    this.count = 0;
  }
}
