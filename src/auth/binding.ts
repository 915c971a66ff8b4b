/**
 * Session binding (authorization on): a 2025 session, a sealed 2026-07-28 `requestState` and a
 * `subscriptions/listen` stream each belong to the principal that opened them (its `key`: issuer +
 * subject + client). Another principal naming them is answered as if they did not exist, and counted
 * in mcp_auth_binding_refusals_total by kind (this closed list).
 */

export const BINDING_KINDS = [
  /** A POST for another principal's session. */
  'post',
  /** A GET stream for another principal's session. */
  'get',
  /** A GET with Last-Event-ID (a resume) for another principal's session. */
  'resume',
  /** A DELETE of another principal's session. */
  'delete',
  /** A requestState sealed for another principal (counted by the session worker that opened it). */
  'request_state',
  /** A listen stream ended because its token expired: its principal is not trusted any longer without a new token. */
  'listen',
  /** A 2025 session's GET stream ended because its token expired: the client reconnects (and resumes) with a current one. */
  'get_expired',
] as const;

export const B_POST = 0;
export const B_GET = 1;
export const B_RESUME = 2;
export const B_DELETE = 3;
export const B_REQUEST_STATE = 4;
export const B_LISTEN = 5;
export const B_GET_EXPIRED = 6;

/** The help of mcp_auth_binding_refusals_total (the front's and the workers' counters merge under one name). */
export const BINDING_HELP =
  "Requests answered as if their session did not exist because it belongs to another principal (post, get, resume, delete), requestStates sealed for another principal (request_state), listen streams and 2025 GET streams ended at their token's expiry (listen, get_expired)";
