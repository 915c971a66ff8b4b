/**
 * The bounded registry write queue. One entry per session id (insertion-ordered Map): a later write
 * for the same id replaces the earlier one and moves to the back, so the queue never holds more than
 * one write per session. When full, the oldest entries are dropped and reported, never unbounded
 * memory (DESIGN "Known traps": ioredis would otherwise queue without bound while Redis is down).
 */
export const OP_DEL = 0;
export const OP_SET = 1;
export type WriteOp = typeof OP_DEL | typeof OP_SET;

/** A batch taken from the queue: parallel arrays, filled in queue order. */
export interface WriteBatch {
  ids: string[];
  ops: WriteOp[];
}

export class WriteQueue {
  private readonly entries = new Map<string, WriteOp>();

  constructor(
    private readonly max: number,
    private readonly onDrop: (count: number) => void,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  push(id: string, op: WriteOp): void {
    const entries = this.entries;
    entries.delete(id);
    entries.set(id, op);
    if (entries.size > this.max) this.dropOldest(entries.size - this.max);
  }

  /** Moves up to `limit` of the oldest entries into `batch`. */
  take(limit: number, batch: WriteBatch): void {
    if (limit <= 0) return;
    let n = 0;
    for (const [id, op] of this.entries) {
      this.entries.delete(id);
      batch.ids.push(id);
      batch.ops.push(op);
      if (++n >= limit) break;
    }
  }

  /**
   * Puts writes back ahead of everything queued (they are older), skipping ids that have a newer
   * write queued already; then trims to the bound, oldest first.
   */
  requeue(ids: readonly string[], ops: readonly WriteOp[]): void {
    if (ids.length === 0) return;
    const merged = new Map<string, WriteOp>();
    for (let i = 0; i < ids.length; i++) if (!this.entries.has(ids[i])) merged.set(ids[i], ops[i]);
    if (merged.size === 0) return;
    for (const [id, op] of this.entries) merged.set(id, op);
    this.entries.clear();
    for (const [id, op] of merged) this.entries.set(id, op);
    if (this.entries.size > this.max) this.dropOldest(this.entries.size - this.max);
  }

  /** Drops every queued SET (at shutdown no session lives on), keeping the DELs. */
  dropSets(): void {
    for (const [id, op] of this.entries) if (op === OP_SET) this.entries.delete(id);
  }

  /** Empties the queue, returning how many entries it held. */
  clear(): number {
    const n = this.entries.size;
    this.entries.clear();
    return n;
  }

  private dropOldest(count: number): void {
    let n = 0;
    for (const id of this.entries.keys()) {
      this.entries.delete(id);
      if (++n >= count) break;
    }
    this.onDrop(n);
  }
}
