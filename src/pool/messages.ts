import type { MessagePort } from 'node:worker_threads';
import type { LogLevel } from '../log.js';

/**
 * The front ↔ session-worker channel. Messages travel in arrays (one postMessage per event-loop turn
 * in each direction); `k` is the opcode. `c` is the front's key for one HTTP exchange (a POST waiting
 * for its reply or an open SSE stream); 0 means "no HTTP reply wanted".
 */

// front → worker
export const W_INIT = 1; // { k, sid, c, body, v }       new session, body = initialize request text
export const W_POST = 2; // { k, sid, c, body }          POST body text for a live session
export const W_GET = 3; // { k, sid, c, last }           open (or resume, last = Last-Event-ID) an SSE stream
export const W_DETACH = 4; // { k, sid, c }              the client went away from exchange c
export const W_DELETE = 5; // { k, sid, reason }         end the session
export const W_STATS = 6; // { k, c }                    ask for counters (metrics)

export interface InitMsg {
  k: 1;
  sid: string;
  c: number;
  body: string;
  v: string;
}
export interface PostMsg {
  k: 2;
  sid: string;
  c: number;
  body: string;
}
export interface GetMsg {
  k: 3;
  sid: string;
  c: number;
  last: string | null;
}
export interface DetachMsg {
  k: 4;
  sid: string;
  c: number;
}
export interface DeleteMsg {
  k: 5;
  sid: string;
  reason: string;
}
export interface StatsMsg {
  k: 6;
  c: number;
}
export type ToWorker = InitMsg | PostMsg | GetMsg | DetachMsg | DeleteMsg | StatsMsg;

// worker → front
export const F_JSON = 1; // { k, c, status, body, drop? }  whole reply; drop: forget session sid (failed initialize)
export const F_EVENT = 2; // { k, c, eid, body, end }      one SSE event on exchange c ('' body = priming event)
export const F_CLOSE = 3; // { k, c, retry }               send `retry:` and close the SSE stream of exchange c
export const F_GONE = 4; // { k, sid, reason }             the worker ended a session (idle expiry, error)
export const F_STATS = 5; // { k, c, stats }
export const F_READY = 6; // { k, slot }                the host task is serving

export interface JsonOut {
  k: 1;
  c: number;
  status: number;
  body: string;
  drop?: string;
}
export interface EventOut {
  k: 2;
  c: number;
  eid: string;
  body: string;
  end: boolean;
}
export interface CloseOut {
  k: 3;
  c: number;
  retry: number;
}
export interface GoneOut {
  k: 4;
  sid: string;
  reason: string;
}
export interface StatsOut {
  k: 5;
  c: number;
  stats: WorkerStats;
}
export interface ReadyOut {
  k: 6;
  slot: number;
}
export type ToFront = JsonOut | EventOut | CloseOut | GoneOut | StatsOut | ReadyOut;

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
}

/**
 * The heartbeat words a worker shares with the front (one SharedArrayBuffer per host task). The worker
 * adds 1 to HB_BEAT from a timer; the front only compares it with what it saw last, so neither
 * thread's clock matters. HB_EXIT tells why a worker ended itself, written before it exits.
 */
export const HB_BEAT = 0;
export const HB_EXIT = 1;
export const HB_WORDS = 2;
/** HB_EXIT values. */
export const EXIT_NONE = 0;
export const EXIT_HEAP = 1;
