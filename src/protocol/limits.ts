/**
 * Fixed caps on what a client can make a node keep. Shared by the front (checked
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

/** Bodies at least this large are scanned for their shape before JSON.parse runs on the front. */
export const SHAPE_SCAN_MIN_BYTES = 64 * 1024;
/** Deepest nesting of objects and arrays a body may have. */
export const MAX_JSON_DEPTH = 128;
/** Objects, arrays and object members a body may hold (strings and numbers are cheap to parse). */
export const MAX_JSON_NODES = 100_000;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;

/**
 * Whether a JSON text nests deeper than MAX_JSON_DEPTH or holds more than MAX_JSON_NODES objects,
 * arrays and members, found by one pass over its bytes (strings skipped). JSON.parse on the front's
 * thread costs by shape, not by size: a 4 MiB body of nested arrays took about 0.8 s and one of small
 * objects 0.35 s here, against a few milliseconds for this scan. Malformed text is left to JSON.parse.
 */
export function jsonShapeTooLarge(body: Uint8Array): boolean {
  let depth = 0;
  let nodes = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const b = body[i];
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
      continue;
    }
    switch (b) {
      case QUOTE:
        inString = true;
        break;
      case OPEN_BRACE:
      case OPEN_BRACKET:
        if (++depth > MAX_JSON_DEPTH || ++nodes > MAX_JSON_NODES) return true;
        break;
      case CLOSE_BRACE:
      case CLOSE_BRACKET:
        depth--;
        break;
      case COLON:
        if (++nodes > MAX_JSON_NODES) return true;
        break;
    }
  }
  return false;
}
