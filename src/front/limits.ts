/**
 * Admission checks of the front against hostile clients: what an initialize may
 * make a worker keep, how many sessions a node holds, how many messages a batch carries. Each runs
 * before anything reaches a worker and answers with a JSON-RPC error body.
 */
import type { HttpResponse } from 'uWebSockets.js';
import { RpcCodes } from '../errors.js';
import { M_INIT, R_CLIENT_STATE, R_MAX_SESSIONS } from '../metrics/metrics.js';
import { Bodies, errorBody } from '../protocol/jsonrpc.js';
import { jsonLargerThan, MAX_BATCH_MESSAGES, MAX_CLIENT_STATE_CHARS, MAX_SESSIONS_RETRY_AFTER_S } from '../protocol/limits.js';
import { JSON_TYPE, Status } from './http.js';
import type { NodeContext } from './context.js';

/** The parts of an initialize a session worker keeps for the session's whole life. */
const STORED_PARAMS = ['capabilities', 'clientInfo'] as const;
const RETRY_AFTER = String(MAX_SESSIONS_RETRY_AFTER_S);

export function batchTooLarge(batch: readonly unknown[]): boolean {
  return batch.length > MAX_BATCH_MESSAGES;
}

/**
 * Checks what a worker would store from this initialize. Over the cap: answers 400 with a JSON-RPC
 * error (-32602 Invalid params, carrying the request's id), counts it and returns false. 400 rather
 * than 200: no session was created, and like every other request the front refuses before a worker
 * sees it, the HTTP status says so (clients see the error either way; no Mcp-Session-Id is sent).
 */
export function admitInitParams(st: NodeContext, res: HttpResponse, msg: { id?: unknown; params?: Record<string, unknown> }): boolean {
  const params = msg.params;
  if (params === undefined) return true;
  for (const name of STORED_PARAMS) {
    if (params[name] === undefined || !jsonLargerThan(params[name], MAX_CLIENT_STATE_CHARS)) continue;
    const id = typeof msg.id === 'string' || typeof msg.id === 'number' ? msg.id : null;
    const body = errorBody(id, RpcCodes.INVALID_PARAMS, `Invalid params: ${name} exceeds ${MAX_CLIENT_STATE_CHARS} characters of JSON`);
    st.metrics.sessionsRejected.inc(R_CLIENT_STATE);
    res.cork(() => {
      res.writeStatus(Status[400]).writeHeader('content-type', JSON_TYPE).end(body);
    });
    st.metrics.request(M_INIT, 400, -1);
    return false;
  }
  return true;
}

/**
 * MCP_MAX_SESSIONS: a node full of live sessions answers a new initialize 503 with Retry-After (in a
 * cluster the balancer or the client can try another node) and counts it. Returns false if answered.
 */
export function admitSession(st: NodeContext, res: HttpResponse): boolean {
  if (st.sessions.size < st.config.maxSessions) return true;
  st.metrics.sessionsRejected.inc(R_MAX_SESSIONS);
  res.cork(() => {
    res.writeStatus(Status[503]).writeHeader('retry-after', RETRY_AFTER).writeHeader('content-type', JSON_TYPE).end(Bodies.tooManySessions);
  });
  st.metrics.request(M_INIT, 503, -1);
  return false;
}
