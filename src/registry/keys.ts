/**
 * Registry key names and constants, in one place (ARCHITECTURE.md, sticky sessions). Session keys carry no literal braces:
 * braces would make the id a Redis Cluster hash tag and pile sessions onto one slot.
 */

/** `mcp:session:<id>` → JSON `{"node","address","createdAt"}`. */
export const SESSION_PREFIX = 'mcp:session:';

/** Redis records which sessions exist, for 30 days (ARCHITECTURE.md, sticky sessions). */
export const SESSION_TTL_S = 30 * 24 * 60 * 60;

export function sessionKey(sessionId: string): string {
  return SESSION_PREFIX + sessionId;
}

/**
 * The set of session ids a node has written, maintained in the same batches as the session keys.
 * It makes removing a dead node's keys one SMEMBERS away (cluster issue) instead of a keyspace SCAN.
 */
export function nodeSessionsKey(nodeId: string): string {
  return `mcp:node:${nodeId}:sessions`;
}

/** The start of every value this node writes; only createdAt varies. Built once. */
export function ownerValuePrefix(nodeId: string, address: string): string {
  return `{"node":${JSON.stringify(nodeId)},"address":${JSON.stringify(address)},"createdAt":`;
}

/** Longest a misroute check may wait on Redis before it answers local-only. */
export const LOOKUP_TIMEOUT_MS = 250;
/** Misroute checks in flight at most; beyond it they answer local-only at once (counted). */
export const LOOKUP_MAX_IN_FLIGHT = 1024;
/** Pipeline rounds (one batch each) in flight at most. */
export const FLUSH_MAX_IN_FLIGHT = 4;
/** Pause after a failed flush before the next attempt. */
export const FLUSH_RETRY_MS = 250;
/** Members read per SSCAN page when reconciling this node's session set. */
export const RECONCILE_PAGE = 1000;
/** A failing flush is logged at most this often (the failures are counted in any case). */
export const FLUSH_WARN_EVERY_MS = 10_000;
/** close(): longest spent flushing what is still queued. */
export const CLOSE_FLUSH_MS = 2000;
/** close(): longest spent waiting for QUIT before the socket is cut. */
export const CLOSE_QUIT_MS = 500;
/**
 * ioredis: connect timeout; how long a connection with replies outstanding may stay silent before it
 * is cut and re-established (one timer per connection, where a per-command timeout would cost one
 * timer per command of every pipeline); the longest pause between reconnect attempts.
 */
export const CONNECT_TIMEOUT_MS = 1000;
export const SOCKET_TIMEOUT_MS = 2000;
export const RECONNECT_MAX_MS = 1000;
