/**
 * Request rate per client identity: one token bucket per identity, `rate` tokens a second up to
 * `burst`. Buckets refill lazily when they are next used (no timer per bucket), and the number of
 * identities tracked is capped: beyond the cap a new identity takes the place of a bucket that has
 * refilled to full (it has nothing to remember: a new bucket starts full too), or, when the scan finds
 * none, of the least recently active one.
 */

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms, the clock given to TokenBuckets). */
  at: number;
}

/** Identities the node keeps a bucket for at most (about 100 bytes each). */
export const MAX_TRACKED_IDENTITIES = 100_000;
/** Buckets looked at, least recently active first, when a new identity needs room. */
const EVICTION_SCAN = 64;
/**
 * A bucket used again this long after its last use moves to the back of the eviction order. Moving
 * it on every use would cost a delete and an insert per request; at this granularity the order is
 * still "least recently active first" to within a second.
 */
const REORDER_AFTER_MS = 1000;

export class TokenBuckets {
  /** Insertion order is the eviction order: least recently active first. */
  private readonly buckets = new Map<string, Bucket>();
  /** Tokens per millisecond. */
  private readonly perMs: number;

  constructor(
    /** Tokens added per second. */
    readonly rate: number,
    /** Most tokens a bucket holds (the burst a client may send at once). */
    readonly burst: number,
    readonly maxIdentities = MAX_TRACKED_IDENTITIES,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(rate > 0) || !(burst >= 1) || !(maxIdentities >= 1))
      throw new RangeError('TokenBuckets: rate > 0, burst >= 1, maxIdentities >= 1');
    this.perMs = rate / 1000;
  }

  get size(): number {
    return this.buckets.size;
  }

  /**
   * Takes one token from `key`'s bucket. Returns 0 when it had one; otherwise the whole seconds until
   * it will (at least 1), for Retry-After.
   */
  take(key: string): number {
    const t = this.now();
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= this.maxIdentities) this.evict(t);
      b = { tokens: this.burst, at: t };
      this.buckets.set(key, b);
    } else {
      const elapsed = t - b.at;
      if (elapsed > 0) {
        b.tokens = Math.min(this.burst, b.tokens + elapsed * this.perMs);
        b.at = t;
      }
      if (elapsed >= REORDER_AFTER_MS) {
        this.buckets.delete(key);
        this.buckets.set(key, b);
      }
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.rate));
  }

  /** Makes room for one bucket: the full ones among the least recently active, else the least recently active. */
  private evict(t: number): void {
    let scanned = 0;
    let freed = 0;
    for (const [key, b] of this.buckets) {
      if (b.tokens + (t - b.at) * this.perMs >= this.burst) {
        this.buckets.delete(key);
        freed++;
      }
      if (++scanned >= EVICTION_SCAN) break;
    }
    if (freed === 0) {
      const oldest = this.buckets.keys().next();
      if (!oldest.done) this.buckets.delete(oldest.value);
    }
  }
}
