/** Worker → front messages, batched: one postMessage per event-loop turn. */
import type { MessagePort } from 'node:worker_threads';
import type { ToFront } from '../src/pool/messages.js';

export class Outbox {
  private batch: ToFront[] = [];
  private scheduled = false;
  private readonly flushBound = (): void => this.flush();

  constructor(private readonly port: MessagePort) {}

  push(msg: ToFront): void {
    this.batch.push(msg);
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
