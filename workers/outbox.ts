/** Worker → front messages, batched: one postMessage per event-loop turn. */
import type { MessagePort } from 'node:worker_threads';
import type { ToFront } from '../src/pool/messages.js';

const EAGER_BATCH = 4;

export class Outbox {
  private batch: ToFront[] = [];
  private scheduled = false;
  private readonly flushBound = (): void => this.flush();

  constructor(private readonly port: MessagePort) {}

  push(msg: ToFront): void {
    // As on the front: a batch this size goes at once so the front can write while we work on.
    if (this.batch.push(msg) >= EAGER_BATCH) {
      const out = this.batch;
      this.batch = [];
      this.port.postMessage(out);
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushBound);
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.batch.length === 0) return;
    const out = this.batch;
    this.batch = [];
    this.port.postMessage(out);
  }
}
