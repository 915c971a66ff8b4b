/** JSON-RPC 2.0 message classification and the error bodies the transport answers with. */
import { RpcCodes } from '../errors.js';
import { MAX_BATCH_MESSAGES, MAX_JSON_DEPTH, MAX_JSON_NODES } from './limits.js';

export const enum MsgKind {
  Invalid = 0,
  Request = 1,
  Notification = 2,
  Response = 3,
}

export function classify(m: unknown): MsgKind {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return MsgKind.Invalid;
  const o = m as Record<string, unknown>;
  if (o.jsonrpc !== '2.0') return MsgKind.Invalid;
  const id = o.id;
  const hasId = typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
  if (typeof o.method === 'string') {
    if (o.params !== undefined && (typeof o.params !== 'object' || o.params === null)) return MsgKind.Invalid;
    if ('id' in o) return hasId ? MsgKind.Request : MsgKind.Invalid;
    return MsgKind.Notification;
  }
  if (hasId && 'result' in o !== 'error' in o) return MsgKind.Response;
  // An error response to something we could not parse carries id null.
  if (o.id === null && 'error' in o) return MsgKind.Response;
  return MsgKind.Invalid;
}

export function errorBody(id: string | number | null, code: number, message: string, data?: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } });
}

/** Bodies that never vary, built once at start-up. */
export const Bodies = Object.freeze({
  parseError: errorBody(null, RpcCodes.PARSE_ERROR, 'Parse error: the body is not valid JSON'),
  invalidRequest: errorBody(null, RpcCodes.INVALID_REQUEST, 'Invalid Request: the body is not a JSON-RPC 2.0 message'),
  emptyBatch: errorBody(null, RpcCodes.INVALID_REQUEST, 'Invalid Request: empty batch'),
  batchNotAllowed: errorBody(
    null,
    RpcCodes.INVALID_REQUEST,
    'Invalid Request: JSON-RPC batches are not supported in this protocol revision',
  ),
  initInBatch: errorBody(null, RpcCodes.INVALID_REQUEST, 'Invalid Request: initialize must not be part of a batch'),
  batchTooLarge: errorBody(null, RpcCodes.INVALID_REQUEST, `Invalid Request: a batch carries at most ${MAX_BATCH_MESSAGES} messages`),
  missingSession: errorBody(null, RpcCodes.INVALID_REQUEST, 'Bad Request: Mcp-Session-Id header is required'),
  sessionNotFound: errorBody(null, RpcCodes.SESSION_NOT_FOUND, 'Session not found: initialize a new session'),
  notAcceptablePost: errorBody(
    null,
    RpcCodes.CONNECTION_CLOSED,
    'Not Acceptable: Accept must list both application/json and text/event-stream',
  ),
  notAcceptableGet: errorBody(null, RpcCodes.CONNECTION_CLOSED, 'Not Acceptable: Accept must list text/event-stream'),
  unsupportedMediaType: errorBody(null, RpcCodes.CONNECTION_CLOSED, 'Unsupported Media Type: Content-Type must be application/json'),
  tooComplex: errorBody(
    null,
    RpcCodes.INVALID_REQUEST,
    `Invalid Request: the body nests deeper than ${MAX_JSON_DEPTH} levels or holds more than ${MAX_JSON_NODES} objects, arrays and members`,
  ),
  tooLarge: errorBody(null, RpcCodes.INVALID_REQUEST, 'Payload Too Large: the body exceeds the configured limit'),
  badVersion: errorBody(null, RpcCodes.INVALID_REQUEST, 'Bad Request: unsupported MCP-Protocol-Version'),
  forbiddenOrigin: errorBody(null, RpcCodes.CONNECTION_CLOSED, 'Forbidden: Origin not allowed'),
  forbiddenHost: errorBody(null, RpcCodes.CONNECTION_CLOSED, 'Forbidden: Host not allowed'),
  methodNotAllowed: errorBody(null, RpcCodes.CONNECTION_CLOSED, 'Method Not Allowed'),
  overloaded: errorBody(null, RpcCodes.CONNECTION_CLOSED, 'Service Unavailable: the node is overloaded, retry later'),
  shuttingDown: errorBody(null, RpcCodes.CONNECTION_CLOSED, 'Service Unavailable: the node is shutting down, re-initialize'),
  tooManySessions: errorBody(
    null,
    RpcCodes.CONNECTION_CLOSED,
    'Service Unavailable: this node holds its maximum of live sessions, retry later',
  ),
  /** An unexpected error in the front (a bug): the request failed, the node and other sessions go on. */
  internalError: errorBody(null, RpcCodes.INTERNAL_ERROR, 'Internal error: the request failed; the node logged it'),
});
