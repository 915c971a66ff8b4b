/**
 * Waiting on asynchronous state with a bound: state written off the request path (registry keys,
 * metrics, logs) is polled until it holds or the bound passes, never read once after a fixed sleep.
 */

/** Polls `check` until it returns a truthy value or `ms` pass; the last value or error is reported. */
export async function waitFor<T>(check: () => Promise<T> | T, ms = 10_000, what = 'condition', everyMs = 50): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      last = await check();
      if (last) return last as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((res) => setTimeout(res, everyMs));
  }
}

/**
 * A fetch for the SDK client transport that tells when the session's GET stream is open: the server
 * writes the stream's headers only once the worker has attached it to the session, so from then on
 * notifications sent to the session reach this client.
 */
export function watchGetStreams(): { fetch: typeof fetch; opened: () => Promise<void>; count: () => number } {
  let n = 0;
  const waiters: Array<() => void> = [];
  const watched: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if ((init?.method ?? 'GET') === 'GET' && res.ok && (res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      n++;
      for (const w of waiters.splice(0)) w();
    }
    return res;
  };
  let seen = 0;
  /** Resolves when a GET stream opened after the previous call did (the first call: any). */
  const opened = (): Promise<void> => {
    const want = seen + 1;
    seen = want;
    if (n >= want) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no GET stream opened within 10 s')), 10_000);
      const check = (): void => {
        if (n >= want) {
          clearTimeout(t);
          resolve();
        } else waiters.push(check);
      };
      waiters.push(check);
    });
  };
  return { fetch: watched, opened, count: () => n };
}
