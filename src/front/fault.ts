/**
 * The front's one guard against unexpected errors (bugs, or inputs nobody thought of). Every uWS route
 * handler is wrapped once, in buildApp, by `guarded`; every continuation that runs outside a handler
 * (a body's onData callback, a promise continuation, a worker message being dispatched) ends in
 * `internalError`. An unexpected error then:
 *
 * - answers 500 with a JSON-RPC error body (-32603) if the response is still open, and closes the
 *   connection (the request's framing may be in an unknown state);
 * - is logged once with its stack, and counted in mcp_internal_errors_total{where};
 * - ends nothing else: the node, its other requests and its sessions go on.
 *
 * Why a route handler must never throw out to uWS: uWS terminates the process when a handler returns
 * without having answered or attached onAborted, and an error thrown out of a native callback reaches
 * the process as an uncaught exception.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { log } from '../log.js';
import { M_OTHER, type InternalErrorSite } from '../metrics/metrics.js';
import type { ToFront } from '../pool/messages.js';
import { Bodies } from '../protocol/jsonrpc.js';
import { writeJson } from './http.js';
import type { NodeContext } from './context.js';
import { onWorkerMessage } from './worker-events.js';
import { headerFault, injectedFault, textFault } from './test-faults.js';

export type Handler = (res: HttpResponse, req: HttpRequest) => void;

/** Sites that answer requests on /mcp: their 500s count in mcp_requests_total as well. */
const MCP_SITES: ReadonlySet<InternalErrorSite> = new Set<InternalErrorSite>([
  'post',
  'get',
  'delete',
  'method_not_allowed',
  'body',
  'forward',
  'worker_message',
]);

/**
 * Wraps a route handler so that nothing it throws leaves it. A response cannot be aborted while its
 * synchronous handler runs (uWS reports aborts from its event loop), so the 500 is written unless the
 * handler had ended (or closed) the response already; uWS refuses access to such a response, which
 * `answerInternal` relies on.
 */
export function guarded(st: NodeContext, where: InternalErrorSite, handler: Handler): Handler {
  if (st.config.testFaults) {
    return (res, req) => {
      try {
        if (headerFault(req) === where) throw injectedFault(where);
        handler(res, req);
      } catch (err) {
        internalError(st, res, where, err);
      }
    };
  }
  return (res, req) => {
    try {
      handler(res, req);
    } catch (err) {
      internalError(st, res, where, err);
    }
  };
}

/**
 * Handles one unexpected error: count, log with stack, answer 500 on `res` when given and still open.
 * `res` is null when there is no response to answer (a background continuation), and callers that
 * track an abort pass null once the client has gone: a response is never written after onAborted.
 */
export function internalError(st: NodeContext, res: HttpResponse | null, where: InternalErrorSite, err: unknown): void {
  st.metrics.internalErrors.inc({ where });
  log.error('internal error; the request failed, the node goes on', { where, err: asError(err) });
  if (res !== null && answerInternal(res) && MCP_SITES.has(where)) st.metrics.request(M_OTHER, 500, -1);
}

/**
 * Writes the 500 and closes the connection. Returns false when the response could not be written: uWS
 * throws before writing a byte to a response that was aborted or already ended (its documented guard
 * against use after onAborted or a complete answer). If even that fails the connection is closed, so
 * no request is left without an answer and without an abort handler.
 */
function answerInternal(res: HttpResponse): boolean {
  try {
    res.cork(() => writeJson(res, 500, Bodies.internalError, undefined, true));
    return true;
  } catch {
    try {
      res.close();
    } catch {
      // Already ended or aborted: nothing to answer.
    }
    return false;
  }
}

/** The SSE counterpart: a stream that already sent its headers can only be ended. */
function endStream(res: HttpResponse): void {
  try {
    res.cork(() => res.end());
  } catch {
    // Already ended or aborted.
  }
}

/** Errors keep their stack in the log; anything else thrown is logged as it is. */
function asError(err: unknown): unknown {
  return err instanceof Error ? err : { thrown: String(err) };
}

/**
 * The worker-message dispatch, guarded: one message that cannot be delivered fails its own HTTP
 * exchange (500, or the end of its SSE stream), never the batch, the worker's other sessions or the
 * node. The exchange is looked up before dispatch because delivering a reply forgets it first.
 */
export function dispatchWorkerMessage(st: NodeContext, msg: ToFront): void {
  const id = (msg as { exchange?: number }).exchange;
  const conn = id === undefined ? undefined : st.exchanges.get(id);
  try {
    if (st.config.testFaults && msg.type === 'json') textFault(msg.body, 'worker_message');
    onWorkerMessage(st, msg);
  } catch (err) {
    if (conn === undefined) return internalError(st, null, 'worker_message', err);
    const sse = conn.sse;
    st.exchanges.finish(conn);
    if (sse) {
      internalError(st, null, 'worker_message', err);
      endStream(conn.res);
    } else internalError(st, conn.res, 'worker_message', err);
  }
}
