/**
 * Verified tokens by their text, each until it expires (or an earlier bound), so that a request whose
 * token was seen before costs one map lookup and no signature check. Bounded: beyond `max` entries the
 * oldest goes (insertion order), and an expired entry goes when it is next read.
 */
import type { Principal } from './principal.js';

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
    const e = this.entries.get(token);
    if (e === undefined) return undefined;
    if (now < e.until) return e.principal;
    this.entries.delete(token);
    return undefined;
  }

  set(token: string, principal: Principal, until: number, now: number): void {
    if (until <= now || this.max === 0) return;
    if (this.entries.size >= this.max && !this.entries.has(token)) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(token, { principal, until });
  }
}
