/**
 * Authorization on the request path (MCP_AUTH_ISSUER set): every /mcp request is checked before it
 * reaches a session. The Authorization header is read while uWS's request is valid; a token verified
 * before is answered from the cache synchronously (no closure, no promise); a new one is verified
 * asynchronously, after the caller has set `onAborted`. Refusals are answered here: 401 with a
 * `WWW-Authenticate` challenge naming the protected resource metadata, 403 `insufficient_scope`, or 503
 * when the authorization server cannot be reached.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { AUTH_FAILURES, failure, isFailure, type AuthFailure } from '../auth/failures.js';
import { hasScopes, type Principal, type WireAuthInfo } from '../auth/principal.js';
import type { Refusal, ResourceServer } from '../auth/resource-server.js';
import { bearerToken, LEEWAY_S, type AuthOutcome } from '../auth/verifier.js';
import { FORWARD_AUTH_HEADER } from '../cluster/forward-auth.js';
import { decodePrincipal, encodePrincipal, PRINCIPAL_HEADER } from '../cluster/forward-principal.js';
import { peerSigned, type Forwarder } from './forward.js';
import { log } from '../log.js';
import { JSON_TYPE, Status } from './http.js';
import type { NodeContext } from './context.js';

/** Returned by `authenticate` when the request was refused and answered. */
export const REFUSED = false;

/** Seconds a client is asked to wait when its token could not be checked (503). */
const RETRY_AFTER_S = '5';

const INSUFFICIENT_SCOPE = failure('insufficient_scope', 'the access token lacks a scope every request needs');

/**
 * The caller of `req`: null when authorization is off, a Principal when its token is known good,
 * REFUSED when it was refused (the answer is written), or a promise of the verification's outcome
 * (then pass it to `admit` once settled). Call it synchronously in the route handler.
 */
export function authenticate(
  st: NodeContext,
  res: HttpResponse,
  req: HttpRequest,
  method: number,
  close: boolean,
  httpMethod: 'POST' | 'GET' | 'DELETE',
  sid: string,
): Principal | null | typeof REFUSED | Promise<AuthOutcome> {
  const rs = st.auth;
  if (rs === null) return null;
  // A request a peer forwarded carries the principal that peer verified: taken as it is (the peer
  // applied the same configuration), so the owner neither verifies the token again nor introspects it.
  const carried = st.forwarder === null ? null : peerPrincipal(st.forwarder, req, httpMethod, sid);
  const outcome = carried ?? rs.verifier.verify(req.getHeader('authorization'));
  if (outcome instanceof Promise) return outcome;
  const admitted = admit(rs, outcome);
  if (!isFailure(admitted)) return admitted;
  refuse(st, res, admitted, method, close);
  return REFUSED;
}

/**
 * The principal a peer verified and carried with a request it forwarded, or null: not forwarded,
 * carrying none, not signed by a peer for exactly this request, principal and Authorization header
 * (a client's own x-mcp-principal is never trusted), or expired since.
 */
function peerPrincipal(fw: Forwarder, req: HttpRequest, method: 'POST' | 'GET' | 'DELETE', sid: string): Principal | null {
  const signed = req.getHeader(FORWARD_AUTH_HEADER);
  if (signed === '') return null;
  const value = req.getHeader(PRINCIPAL_HEADER);
  if (value === '' || !peerSigned(fw, req, method, sid, signed)) return null;
  const token = bearerToken(req.getHeader('authorization'));
  if (typeof token !== 'string') return null;
  const p = decodePrincipal(value, token);
  if (p === null || (p.expiresAt !== undefined && (p.expiresAt + LEEWAY_S) * 1000 <= Date.now())) return null;
  return p;
}

/** A verification's outcome with the node's required scopes applied. */
export function admit(rs: ResourceServer, outcome: AuthOutcome): Principal | AuthFailure {
  if (isFailure(outcome)) return outcome;
  return rs.requiredScopes.length === 0 || hasScopes(outcome, rs.requiredScopes) ? outcome : INSUFFICIENT_SCOPE;
}

/** Writes the refusal of `f` (cork it when outside the route handler) and counts it. */
export function refuse(st: NodeContext, res: HttpResponse, f: AuthFailure, method: number, close: boolean): void {
  writeRefusal(st, res, st.auth!.refusal(f), f, method, close);
}

/** The 403 of a tools/call whose tool declares scopes the token lacks. */
export function refuseTool(st: NodeContext, res: HttpResponse, scopes: readonly string[], method: number): void {
  writeRefusal(st, res, st.auth!.toolRefusal(scopes), INSUFFICIENT_SCOPE, method, false);
}

function writeRefusal(st: NodeContext, res: HttpResponse, r: Refusal, f: AuthFailure, method: number, close: boolean): void {
  res.writeStatus(Status[r.status]).writeHeader('content-type', JSON_TYPE);
  if (r.challenge !== '') res.writeHeader('www-authenticate', r.challenge);
  else res.writeHeader('retry-after', RETRY_AFTER_S);
  res.end(r.body, close);
  st.metrics.authFailures.inc(AUTH_FAILURES.indexOf(f.reason));
  st.metrics.request(method, r.status, -1);
  if (r.status === 503) {
    if (st.auth!.warnDue(Date.now()))
      log.warn('access tokens cannot be verified: the authorization server is unreachable', { reason: f.reason, err: f.message });
  } else log.debug('request refused by authorization', { reason: f.reason });
}

/**
 * The scopes a tools/call (or each one of a batch) needs that `p` lacks, or null. Only tools whose
 * module declared scopes are in `toolScopes`; with none, this is one size check.
 */
export function missingToolScopes(st: NodeContext, p: Principal, parsed: unknown): readonly string[] | null {
  const declared = st.pool.toolScopes;
  if (declared.size === 0) return null;
  const msgs = Array.isArray(parsed) ? (parsed as unknown[]) : [parsed];
  for (const m of msgs) {
    const msg = m as { method?: unknown; params?: { name?: unknown } };
    if (msg.method !== 'tools/call' || typeof msg.params?.name !== 'string') continue;
    const needed = declared.get(msg.params.name);
    if (needed !== undefined && !hasScopes(p, needed)) return needed;
  }
  return null;
}

/** Adds the verified caller to the headers of a request this node forwards, for its owner (covered by the forward HMAC). */
export function carryPrincipal(headers: Record<string, string>, p: Principal | null): void {
  if (p !== null) headers[PRINCIPAL_HEADER] = encodePrincipal(p);
}

/** The caller as a worker receives it. */
export function wireAuth(st: NodeContext, p: Principal): WireAuthInfo {
  return st.auth!.wire(p);
}

/**
 * Runs `then` with the caller once an asynchronous verification settles, or answers its refusal. The
 * request's `onAborted` is set here (uWS needs one before any asynchronous step); `then` runs corked
 * and may rebind it.
 */
export function afterVerification(
  st: NodeContext,
  res: HttpResponse,
  pending: Promise<AuthOutcome>,
  method: number,
  then: (p: Principal, aborted: () => boolean) => void,
  onError: (err: unknown, aborted: boolean) => void,
): void {
  let gone = false;
  res.onAborted(() => {
    gone = true;
  });
  pending
    .then((outcome) => {
      if (gone) return;
      const admitted = admit(st.auth!, outcome);
      res.cork(() => {
        if (isFailure(admitted)) refuse(st, res, admitted, method, false);
        else then(admitted, () => gone);
      });
    })
    .catch((err: unknown) => onError(err, gone));
}

/** GET on the protected resource metadata paths (routed only when authorization is on): the RFC 9728 document. */
export function serveResourceMetadata(st: NodeContext, res: HttpResponse): void {
  if (st.auth === null) return;
  res
    .writeStatus(Status[200])
    .writeHeader('content-type', JSON_TYPE)
    .writeHeader('cache-control', 'max-age=300')
    .writeHeader('access-control-allow-origin', '*')
    .end(st.auth.metadata(st.pool.toolScopes));
}
