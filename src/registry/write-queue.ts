/**
 * The bounded registry write queue. One entry per session id (insertion-ordered Map): a later write
 * for the same id replaces the earlier one and moves to the back, so the queue never holds more than
 * one write per session. When full, the oldest entries are dropped and reported, never unbounded
 * memory (ioredis would otherwise queue without bound while Redis is down).
 *
 * Full means too many entries or too many bytes: ids reach the queue from clients too (a DELETE for
 * an unknown id is still cleaned in Redis), and a header may carry an id of many KiB, so a
 * count alone would not bound memory.
 */
export const OP_DEL = 0;
export const OP_SET = 1;
export type WriteOp = typeof OP_DEL | typeof OP_SET;

/** A batch taken from the queue: parallel arrays, filled in queue order. */
export interface WriteBatch {
  ids: string[];
  ops: WriteOp[];
}

/** What one entry costs besides its id's characters (Map entry, op), for the byte bound. */
export const ENTRY_OVERHEAD_BYTES = 64;

function entryBytes(id: string): number {
  return id.length + ENTRY_OVERHEAD_BYTES;
}

export class WriteQueue {
  private readonly entries = new Map<string, WriteOp>();
  private byteCount = 0;

  constructor(
    private readonly max: number,
    private readonly onDrop: (count: number) => void,
    private readonly maxBytes = Infinity,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Bytes the queue accounts for: ids' characters plus ENTRY_OVERHEAD_BYTES per entry. */
  get bytes(): number {
    return this.byteCount;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  push(id: string, op: WriteOp): void {
    const entries = this.entries;
    if (!entries.delete(id)) this.byteCount += entryBytes(id);
    entries.set(id, op);
    if (entries.size > this.max || this.byteCount > this.maxBytes) this.dropOldest();
  }

  /** Moves up to `limit` of the oldest entries into `batch`. */
  take(limit: number, batch: WriteBatch): void {
    if (limit <= 0) return;
    let n = 0;
    for (const [id, op] of this.entries) {
      this.entries.delete(id);
      this.byteCount -= entryBytes(id);
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
    for (let i = 0; i < ids.length; i++) {
      if (this.entries.has(ids[i])) continue;
      if (!merged.has(ids[i])) this.byteCount += entryBytes(ids[i]);
      merged.set(ids[i], ops[i]);
    }
    if (merged.size === 0) return;
    for (const [id, op] of this.entries) merged.set(id, op);
    this.entries.clear();
    for (const [id, op] of merged) this.entries.set(id, op);
    if (this.entries.size > this.max || this.byteCount > this.maxBytes) this.dropOldest();
  }

  /** Drops every queued SET (at shutdown no session lives on), keeping the DELs. */
  dropSets(): void {
    for (const [id, op] of this.entries) if (op === OP_SET) this.entries.delete(id);
  }

  /** Empties the queue, returning how many entries it held. */
  clear(): number {
    const n = this.entries.size;
    this.entries.clear();
    this.byteCount = 0;
    return n;
  }

  /** Drops the oldest entries until both bounds hold again; reports how many went. */
  private dropOldest(): void {
    let n = 0;
    for (const id of this.entries.keys()) {
      if (this.entries.size <= this.max && this.byteCount <= this.maxBytes) break;
      this.entries.delete(id);
      this.byteCount -= entryBytes(id);
      n++;
    }
    this.onDrop(n);
  }
}
