import type { MessagePort } from 'node:worker_threads';
import type { LogLevel } from '../log.js';
import type { WireAuthInfo } from '../auth/principal.js';

/**
 * The front ↔ session-worker channel. Messages travel in arrays (one postMessage per batch, see
 * channel.ts); each is a plain object told apart by its `type`. `exchange` is the front's key for one
 * HTTP exchange (a POST waiting for its reply, or an open SSE stream); 0 means "no HTTP reply wanted".
 */

// ---- front → worker --------------------------------------------------------------------------------

/** A new session: `body` is the initialize request's text, `version` the negotiated revision. */
export interface InitMsg {
  type: 'init';
  sessionId: string;
  exchange: number;
  body: string;
  version: string;
  /** The verified caller (authorization on): what the session's handlers see as `authInfo`. */
  auth?: WireAuthInfo;
}
/** A POST body for a live session. */
export interface PostMsg {
  type: 'post';
  sessionId: string;
  exchange: number;
  body: string;
  /** Set only when the caller's token differs from the one the worker has for the session (a refresh). */
  auth?: WireAuthInfo;
  /**
   * The front did not parse `body` (src/front/mcp.ts, sessionPostUnparsed): the worker classifies it,
   * answers what the front would have (400, or 202 for a notification or a response, on `exchange`),
   * and reports its method for the metrics first (MethodOut).
   */
  unparsed?: true;
}
/** Open the session's GET stream, or resume the stream that `lastEventId` names. */
export interface GetMsg {
  type: 'get';
  sessionId: string;
  exchange: number;
  lastEventId: string | null;
}
/** The client went away from `exchange`: its stream's events are kept for resumption. */
export interface DetachMsg {
  type: 'detach';
  sessionId: string;
  exchange: number;
}
/** End the session. */
export interface DeleteMsg {
  type: 'delete';
  sessionId: string;
  reason: string;
}
/** Ask for the worker's counters; answered by a StatsOut with the same `request`. */
export interface StatsMsg {
  type: 'stats';
  request: number;
}
/**
 * A 2026-07-28 request: no session, so any worker serves it. The header fields are the values the
 * revision mirrors from the body ('' when absent); `paramHeaders` the request's `mcp-param-*` headers.
 */
export interface ModernMsg {
  type: 'modern';
  exchange: number;
  body: string;
  protocolVersion: string;
  mcpMethod: string;
  mcpName: string;
  paramHeaders: Record<string, string> | null;
  /**
   * The verified caller (authorization on), when this worker does not hold it yet under `principal`
   * with this token; otherwise the worker uses what it holds (the channel keeps the order, so it has it).
   */
  auth?: WireAuthInfo;
  /** The caller's principal key (authorization on): a sealed requestState is bound to it. */
  principal?: string;
  /** The worker forgets every caller it holds before this request (the front's record was full). */
  authReset?: true;
}
/** The client closed a 2026-07-28 request's response: that is its cancellation. */
export interface CancelMsg {
  type: 'cancel';
  exchange: number;
}
export type ToWorker = InitMsg | PostMsg | GetMsg | DetachMsg | DeleteMsg | StatsMsg | ModernMsg | CancelMsg;

// ---- worker → front --------------------------------------------------------------------------------

/** The whole reply of `exchange`. */
export interface JsonOut {
  type: 'json';
  exchange: number;
  status: number;
  body: string;
}
/** One SSE event on `exchange` (an empty `body` is a priming event, or only opens the stream). */
export interface EventOut {
  type: 'event';
  exchange: number;
  eventId: string;
  body: string;
  /** The last event of the stream: the response that completes its POST. */
  end: boolean;
}
/** The metrics index (methodIndex) of the POST on `exchange`, which the front sent unparsed; before its reply. */
export interface MethodOut {
  type: 'method';
  exchange: number;
  method: number;
}
/** Send `retry:` and close the SSE stream of `exchange`. */
export interface CloseOut {
  type: 'close';
  exchange: number;
  retryMs: number;
}
/** The worker ended a session on its own (idle expiry, error). */
export interface GoneOut {
  type: 'gone';
  sessionId: string;
  reason: string;
}
export interface StatsOut {
  type: 'stats';
  request: number;
  stats: WorkerStats;
}
/** A worker's definitions changed (`sendToolListChanged` ...): every matching listen stream of the node hears it. */
export interface ChangedOut {
  type: 'changed';
  kind: 'tools' | 'prompts' | 'resources';
  /** kind 'tools': every tool of the worker now, and whether it declares `Mcp-Param-*` headers (toolHeaderFlags). */
  toolHeaders?: Record<string, boolean>;
}
/** A worker's module announced `notifyResourceUpdated(uri)`. */
export interface UpdatedOut {
  type: 'updated';
  uri: string;
}
/** The host task is serving. */
export interface ReadyOut {
  type: 'ready';
  slot: number;
  /** Scopes each tool declares (`scopes` in its config), for tools that declare any. */
  toolScopes?: Record<string, string[]>;
  /** Every tool, and whether its input schema declares `Mcp-Param-*` headers (`x-mcp-header`). */
  toolHeaders?: Record<string, boolean>;
}
export type ToFront = JsonOut | EventOut | MethodOut | CloseOut | GoneOut | StatsOut | ReadyOut | ChangedOut | UpdatedOut;

export interface WorkerStats {
  sessions: number;
  eventLoopLagSeconds: number;
  /** Event-loop utilization since the last stats request, 0..1. */
  utilization: number;
  /** Serialized prom-client metrics of the worker thread, if any. */
  metrics: unknown[];
}

/** What a host task receives from the front when it starts. */
export interface HostTaskData {
  port: MessagePort;
  slot: number;
  tools: string | null;
  /** The node's id, for the worker's log lines. */
  nodeId: string;
  sessionIdleMs: number;
  replayEvents: number;
  sseRetryMs: number;
  requestTimeoutMs: number;
  metrics: boolean;
  /** Handler timeout (MCP_HANDLER_TIMEOUT_MS), ms. */
  handlerTimeoutMs: number;
  /** Int32Array over a SharedArrayBuffer, laid out by the HB_* indexes below: the watchdog's view. */
  heartbeat: Int32Array;
  /** How often the worker bumps HB_BEAT, ms. */
  heartbeatMs: number;
  /** Live-heap cap, MiB, checked after major GCs (0: none). */
  maxHeapMb: number;
  /** The node's LOG_LEVEL: the worker's log lines carry the node id and honour it like the front's. */
  logLevel: LogLevel;
  /** Seals 2026-07-28 `requestState`: the cluster secret, or random bytes the node made once (hex). */
  requestStateKey: string;
  requestStateTtlMs: number;
  listTtlMs: number;
  readTtlMs: number;
}

/**
 * The heartbeat words a worker shares with the front (one SharedArrayBuffer per host task). The worker
 * adds 1 to HB_BEAT from a timer; the front only compares it with what it saw last, so neither
 * thread's clock matters. HB_EXIT tells why a worker ended itself, written before it exits.
 * HB_TAKEN counts the messages the worker has taken up (added once a batch is handled, wrapping as an
 * Int32): the front's count of messages sent, less this, is what waits in the worker's inbox.
 */
export const HB_BEAT = 0;
export const HB_EXIT = 1;
export const HB_TAKEN = 2;
export const HB_WORDS = 3;
/** HB_EXIT when the worker ended itself over its heap cap (0, the initial value, means it did not). */
export const EXIT_HEAP = 1;
