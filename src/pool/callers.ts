/**
 * A caller's auth info crosses to a worker once per token: the front remembers, per worker, which
 * principal it sent with which token (`CallersSent`), and the worker keeps what it was sent
 * (`CallersHeld`). The front's record is bounded; when it is full it forgets everything and tells the
 * worker to do the same on the very message that needs it, so the two never disagree: messages to a
 * worker arrive in the order they were sent.
 */

/**
 * What to put on a request of principal `key` with `token`: `known`, the key alone (the worker holds
 * this caller with this token); `send`, the auth info with it; `reset`, the auth info, and the worker
 * forgets every caller first.
 */
export type SendAuth = 'known' | 'send' | 'reset';

export class CallersSent {
  private readonly sent = new Map<string, string>();

  constructor(private readonly max: number) {}

  note(key: string, token: string): SendAuth {
    if (this.sent.get(key) === token) return 'known';
    let reset = false;
    if (this.sent.size >= this.max && !this.sent.has(key)) {
      this.sent.clear();
      reset = true;
    }
    this.sent.set(key, token);
    return reset ? 'reset' : 'send';
  }

  get size(): number {
    return this.sent.size;
  }
}

export class CallersHeld<T> {
  private readonly held = new Map<string, T>();

  /**
   * The caller of a request: `info` when it came with the request (kept for the next ones), else what
   * is held for `key`; undefined when nothing is held (a request that must not run).
   */
  take(key: string, info: T | undefined, reset: boolean): T | undefined {
    if (reset) this.held.clear();
    if (info !== undefined) {
      this.held.set(key, info);
      return info;
    }
    return this.held.get(key);
  }

  get size(): number {
    return this.held.size;
  }
}
