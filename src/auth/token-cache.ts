/**
 * Verified tokens, each until it expires (or an earlier bound), so that a request whose token was
 * seen before costs one map lookup and no signature check. Keyed by the token's last KEY_CHARS
 * characters (a JWT's signature, an opaque token's random tail), since hashing a whole token of a
 * kilobyte or more on every request costs microseconds; a hit then compares the whole token, so a
 * token that only shares the tail is a miss. Bounded: beyond `max` entries the oldest goes (insertion
 * order), and an expired entry goes when it is next read.
 */
import type { Principal } from './principal.js';

/** Characters of a token's tail the cache keys on. */
export const KEY_CHARS = 64;

interface Entry {
  principal: Principal;
  /** Date.now() from which the entry no longer answers. */
  until: number;
}

export class TokenCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(token: string, now: number): Principal | undefined {
    const key = token.length > KEY_CHARS ? token.slice(-KEY_CHARS) : token;
    const e = this.entries.get(key);
    if (e === undefined || e.principal.token !== token) return undefined;
    if (now < e.until) return e.principal;
    this.entries.delete(key);
    return undefined;
  }

  /** When the entry of `token` stops answering (Date.now() ms), or undefined when it is not cached now. */
  until(token: string, now: number): number | undefined {
    const key = token.length > KEY_CHARS ? token.slice(-KEY_CHARS) : token;
    const e = this.entries.get(key);
    return e === undefined || e.principal.token !== token || now >= e.until ? undefined : e.until;
  }

  set(token: string, principal: Principal, until: number, now: number): void {
    if (until <= now || this.max === 0) return;
    const key = token.length > KEY_CHARS ? token.slice(-KEY_CHARS) : token;
    if (this.entries.size >= this.max && !this.entries.has(key)) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { principal, until });
  }
}
