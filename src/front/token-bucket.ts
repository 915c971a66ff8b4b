/**
 * Request rate per client identity: one token bucket per identity, `rate` tokens a second up to
 * `burst`. Buckets refill lazily when they are next used (no timer per bucket).
 *
 * The identities tracked are bounded in two generations of at most half the cap each: a bucket used
 * in the current generation lives in `current`; one last used in the previous generation is moved
 * back on its next use; when `current` is full, the previous generation is dropped whole and
 * `current` becomes it. So the identities dropped first are the ones idle longest (idle a whole
 * generation: usually refilled to full, so nothing is lost), every operation is O(1), and a flood of
 * new identities costs no scan. A client dropped while its bucket was not full starts again from a
 * full one: under such a flood the limit fails open for the idle, never closed for newcomers.
 */

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms, the clock given to TokenBuckets). */
  at: number;
}

/** Identities the node keeps a bucket for at most (about 100 bytes each). */
export const MAX_TRACKED_IDENTITIES = 100_000;

export class TokenBuckets {
  private current = new Map<string, Bucket>();
  private previous = new Map<string, Bucket>();
  /** Tokens per millisecond. */
  private readonly perMs: number;
  private readonly generation: number;

  constructor(
    /** Tokens added per second. */
    readonly rate: number,
    /** Most tokens a bucket holds (the burst a client may send at once). */
    readonly burst: number,
    readonly maxIdentities = MAX_TRACKED_IDENTITIES,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(rate > 0) || !(burst >= 1) || !(maxIdentities >= 2))
      throw new RangeError('TokenBuckets: rate > 0, burst >= 1, maxIdentities >= 2');
    this.perMs = rate / 1000;
    this.generation = Math.floor(maxIdentities / 2);
  }

  /** Identities tracked now (at most maxIdentities). */
  get size(): number {
    return this.current.size + this.previous.size;
  }

  /**
   * Takes one token from `key`'s bucket. Returns 0 when it had one; otherwise the whole seconds until
   * it will (at least 1), for Retry-After.
   */
  take(key: string): number {
    const t = this.now();
    let b = this.current.get(key);
    if (b === undefined) {
      b = this.previous.get(key);
      if (b !== undefined) this.previous.delete(key);
      else b = { tokens: this.burst, at: t };
      if (this.current.size >= this.generation) {
        this.previous = this.current;
        this.current = new Map();
      }
      this.current.set(key, b);
    }
    const elapsed = t - b.at;
    if (elapsed > 0) {
      b.tokens = Math.min(this.burst, b.tokens + elapsed * this.perMs);
      b.at = t;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.rate));
  }
}
