/**
 * Fixed caps on what a client can make a node keep (issue 9 point 4). Shared by the front (checked
 * before anything reaches a worker) and the session workers (subscriptions). Not options: they bound
 * memory against hostile clients and are far above what any real client sends.
 */

/** Largest `params.capabilities` / `params.clientInfo` an initialize may carry, each, in JSON characters. */
export const MAX_CLIENT_STATE_CHARS = 16 * 1024;

/** Messages per JSON-RPC batch (only revision 2025-03-26 allows batches). */
export const MAX_BATCH_MESSAGES = 64;

/** Resource subscriptions one session may hold. */
export const MAX_SUBSCRIPTIONS = 1000;

/** Longest URI a session may subscribe to, in characters. */
export const MAX_SUBSCRIPTION_URI_CHARS = 2048;

/** `Retry-After` (seconds) on the 503 for an initialize beyond MCP_MAX_SESSIONS. */
export const MAX_SESSIONS_RETRY_AFTER_S = 5;

/**
 * Whether `value` would serialize to more than `limit` characters of JSON. Counts what
 * JSON.stringify writes (an escaped character counts as one) and stops as soon as the limit is passed,
 * so its cost is bounded by `limit`, not by the value: a 4 MB clientInfo costs the same as a 16 KiB
 * one. Iterative, so nesting depth cannot overflow the stack.
 */
export function jsonLargerThan(value: unknown, limit: number): boolean {
  let size = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    switch (typeof v) {
      case 'string':
        size += v.length + 2;
        break;
      case 'number':
        size += String(v).length;
        break;
      case 'boolean':
        size += v ? 4 : 5;
        break;
      case 'object':
        if (v === null) size += 4;
        else if (Array.isArray(v)) {
          // Brackets and commas first: an array longer than the limit never gets its items pushed.
          size += 2 + v.length;
          if (size > limit) return true;
          for (let i = 0; i < v.length; i++) stack.push(v[i]);
        } else {
          size += 2;
          for (const k in v) {
            // "key": plus a comma.
            size += k.length + 4;
            if (size > limit) return true;
            stack.push((v as Record<string, unknown>)[k]);
          }
        }
        break;
      default:
        // undefined and functions do not come out of JSON.parse.
        break;
    }
    if (size > limit) return true;
  }
  return false;
}
