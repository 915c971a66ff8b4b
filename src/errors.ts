/**
 * Every error this runtime raises has a stable `code` from this one registry. Code is matched on
 * `code`, never `instanceof`: errors that cross the worker boundary lose their prototype.
 */
export const ErrorCodes = {
  MCP_ERR_INVALID_CONFIG: 'MCP_ERR_INVALID_CONFIG',
  MCP_ERR_UWS_FALLBACK: 'MCP_ERR_UWS_FALLBACK',
  MCP_ERR_LISTEN: 'MCP_ERR_LISTEN',
  MCP_ERR_TOOLS_MODULE: 'MCP_ERR_TOOLS_MODULE',
  MCP_ERR_REQUEST_TIMEOUT: 'MCP_ERR_REQUEST_TIMEOUT',
  MCP_ERR_SESSION_CLOSED: 'MCP_ERR_SESSION_CLOSED',
  MCP_ERR_CAPABILITY: 'MCP_ERR_CAPABILITY',
  MCP_ERR_REGISTRY_UNAVAILABLE: 'MCP_ERR_REGISTRY_UNAVAILABLE',
  /** A request handler ran past MCP_HANDLER_TIMEOUT_MS (or its tool's timeoutMs). */
  MCP_ERR_HANDLER_TIMEOUT: 'MCP_ERR_HANDLER_TIMEOUT',
  /** A handler's result or a notification JSON cannot encode (BigInt, cycle, throwing toJSON). */
  MCP_ERR_UNSERIALIZABLE: 'MCP_ERR_UNSERIALIZABLE',
  /** The watchdog replaced a worker whose event loop was blocked past MCP_WORKER_STALL_MS. */
  MCP_ERR_WORKER_STALLED: 'MCP_ERR_WORKER_STALLED',
  /** A 2026-07-28 `requestState` failed verification: malformed, altered, expired, or minted for another request. */
  MCP_ERR_REQUEST_STATE: 'MCP_ERR_REQUEST_STATE',
  /** An authorization server's metadata could not be fetched at start, or does not fit its configuration. */
  MCP_ERR_AUTH_DISCOVERY: 'MCP_ERR_AUTH_DISCOVERY',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class McpRuntimeError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'McpRuntimeError';
  }
}

/** JSON-RPC 2.0 and MCP error codes used on the wire. */
export const RpcCodes = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /** What the SDKs answer for an unknown or expired session (and what makes clients re-initialize). */
  SESSION_NOT_FOUND: -32001,
  /** Server-side "connection closed" / request timeout as the SDK uses them. */
  CONNECTION_CLOSED: -32000,
  RESOURCE_NOT_FOUND: -32002,
  /**
   * A request refused by authorization (401, 403) or whose token could not be checked (503): a
   * server error code, since clients act on the HTTP status and WWW-Authenticate, not on this body.
   */
  AUTHORIZATION: -32000,
  REQUEST_CANCELLED: -32800,
  /** 2026-07-28: the Mcp-* / MCP-Protocol-Version headers disagree with the body, or are missing or malformed. */
  HEADER_MISMATCH: -32020,
  /** 2026-07-28: the request needs a client capability its `_meta` did not declare. */
  MISSING_REQUIRED_CLIENT_CAPABILITY: -32021,
  /** 2026-07-28: the request's protocol version is not one this node serves. */
  UNSUPPORTED_PROTOCOL_VERSION: -32022,
  /** A per-client limit refused the request (HTTP 429): `data.limit` names it ("requests" or "sessions"). */
  RATE_LIMITED: -32029,
} as const;
