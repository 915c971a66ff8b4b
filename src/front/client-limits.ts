/**
 * Limits keyed by client identity: requests per second (MCP_RATE_LIMIT, MCP_RATE_BURST) and live
 * sessions (MCP_MAX_SESSIONS_PER_PRINCIPAL). The identity is the authenticated principal when the
 * handler has one, else the client's address (client-address.ts). Over a limit the answer is 429 with
 * Retry-After and a JSON-RPC error naming the limit; other clients are served as before.
 *
 * Limits are per node. A request a peer forwarded was counted by the node it reached first, so it is
 * not counted again here; it carries the identity in CLIENT_KEY_HEADER, bound into the node-to-node
 * HMAC (cluster/forward-auth.ts), so a client can neither set it nor move it to another request. The
 * owner needs it for an initialize a draining node handed over: the session is opened, and counted, here.
 */
import { createHash } from 'node:crypto';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { NodeOptions } from '../config.js';
import { RpcCodes } from '../errors.js';
import { FORWARD_AUTH_HEADER } from '../cluster/forward-auth.js';
import { M_INIT, RL_REQUESTS, RL_SESSIONS } from '../metrics/metrics.js';
import { errorBody } from '../protocol/jsonrpc.js';
import { MAX_SESSIONS_RETRY_AFTER_S } from '../protocol/limits.js';
import { AddressSet, clientKey } from './client-address.js';
import { JSON_TYPE, Status } from './http.js';
import { SessionQuota } from './session-quota.js';
import { TokenBuckets } from './token-bucket.js';
import { peerSigned } from './forward.js';
import type { NodeContext } from './context.js';

/** The client identity a forwarded request carries (base64url of the key), covered by the forward HMAC. */
export const CLIENT_KEY_HEADER = 'x-mcp-client-key';
/** Principal keys longer than this are kept as their SHA-256 (memory per tracked identity stays small). */
const MAX_KEY_CHARS = 128;
const RETRY_SESSIONS = String(MAX_SESSIONS_RETRY_AFTER_S);

type LimitsConfig = Pick<NodeOptions, 'rateLimit' | 'rateBurst' | 'maxSessionsPerPrincipal' | 'trustedProxies'>;

/** One node's per-client limit state. */
export class ClientLimits {
  /** null: no request rate limit. */
  readonly buckets: TokenBuckets | null;
  /** null: no session limit (also given to the session table, which reports closes). */
  readonly sessions: SessionQuota | null;
  readonly trusted: AddressSet;

  constructor(config: Readonly<LimitsConfig>) {
    this.buckets =
      config.rateLimit > 0 ? new TokenBuckets(config.rateLimit, config.rateBurst || Math.max(1, Math.ceil(2 * config.rateLimit))) : null;
    this.sessions = config.maxSessionsPerPrincipal > 0 ? new SessionQuota(config.maxSessionsPerPrincipal) : null;
    this.trusted = new AddressSet(config.trustedProxies);
  }
}

/** The node's limits, or null when every per-client limit is off (then the handlers skip them with one branch). */
export function createClientLimits(config: Readonly<LimitsConfig>): ClientLimits | null {
  return config.rateLimit > 0 || config.maxSessionsPerPrincipal > 0 ? new ClientLimits(config) : null;
}

/** What the limits decided about one request (made only when limits are on). */
export interface ClientCheck {
  /** The identity; '' for a forwarded request that carries none (nothing is counted for it here). */
  key: string;
  /** 0: admitted (or counted elsewhere); else the seconds for Retry-After. */
  retryAfter: number;
}

/** A principal's key as a limit key: prefixed so that it never equals an address, hashed when long. */
export function principalIdentity(principalKey: string): string {
  const key = `p:${principalKey}`;
  return key.length <= MAX_KEY_CHARS ? key : `p#${createHash('sha256').update(key).digest('base64url')}`;
}

function remoteAddress(res: HttpResponse): string {
  return Buffer.from(res.getRemoteAddressAsText()).toString('latin1');
}

/** Every X-Forwarded-For line in order, joined (uWS's getHeader returns only the first). */
function forwardedFor(req: HttpRequest): string {
  let all = '';
  req.forEach((name, value) => {
    if (name === 'x-forwarded-for') all = all === '' ? value : `${all},${value}`;
  });
  return all;
}

/**
 * Identifies the client of a request and takes a token for it. Call synchronously at the top of the
 * handler (uWS's request is valid only then). `sid` is the request's Mcp-Session-Id ('' if none).
 */
export function checkClient(
  st: NodeContext,
  res: HttpResponse,
  req: HttpRequest,
  method: 'POST' | 'GET' | 'DELETE',
  sid: string,
  principalKey: string | null,
): ClientCheck {
  const peer = peerClient(st, req, method, sid);
  if (peer !== null) return peer;
  return take(st, principalKey !== null ? principalIdentity(principalKey) : addressKey(st, res, req));
}

/**
 * For a request whose token is still being verified (a token the node has not seen): what can only be
 * read while uWS's request is valid. Nothing is counted yet; settleClient counts it once the caller is known.
 */
export function pendingClient(
  st: NodeContext,
  res: HttpResponse,
  req: HttpRequest,
  method: 'POST' | 'GET' | 'DELETE',
  sid: string,
): ClientCheck {
  return peerClient(st, req, method, sid) ?? { key: addressKey(st, res, req), retryAfter: PENDING };
}

/** Counts a pendingClient check for its caller (`principalKey`; null: the address read before). */
export function settleClient(st: NodeContext, c: ClientCheck, principalKey: string | null): ClientCheck {
  if (c.retryAfter !== PENDING) return c;
  return take(st, principalKey !== null ? principalIdentity(principalKey) : c.key);
}

/** retryAfter of a check not counted yet. */
const PENDING = -1;

/** The identity a peer node carried with a request it forwarded (authenticated); null when a client sent it. */
function peerClient(st: NodeContext, req: HttpRequest, method: 'POST' | 'GET' | 'DELETE', sid: string): ClientCheck | null {
  if (st.forwarder === null) return null;
  const auth = req.getHeader(FORWARD_AUTH_HEADER);
  // An auth header that does not verify is a client's: it is limited as one (and counted by fromPeer).
  if (auth === '') return null;
  if (!peerSigned(st.forwarder, req, method, sid, auth)) return null;
  const carried = req.getHeader(CLIENT_KEY_HEADER);
  return { key: carried === '' ? '' : Buffer.from(carried, 'base64url').toString('utf8'), retryAfter: 0 };
}

function addressKey(st: NodeContext, res: HttpResponse, req: HttpRequest): string {
  return clientKey(remoteAddress(res), st.limits!.trusted, () => forwardedFor(req));
}

function take(st: NodeContext, key: string): ClientCheck {
  const buckets = st.limits!.buckets;
  const retryAfter = buckets === null ? 0 : buckets.take(key);
  if (retryAfter > 0) st.metrics.rateLimited.inc(RL_REQUESTS);
  return { key, retryAfter };
}

/** Adds the identity to the headers of a request that may be forwarded, for the node that takes it. */
export function carryClient(headers: Record<string, string>, client: ClientCheck | null): void {
  if (client !== null && client.key !== '') headers[CLIENT_KEY_HEADER] = Buffer.from(client.key, 'utf8').toString('base64url');
}

function tooMany(res: HttpResponse, retryAfter: string, body: string): void {
  res.cork(() => {
    res.writeStatus(Status[429]).writeHeader('retry-after', retryAfter).writeHeader('content-type', JSON_TYPE).end(body);
  });
}

/** 429 for a request over the rate; `id` is the JSON-RPC request's id when known. `method`: metrics index. */
export function refuseRate(st: NodeContext, res: HttpResponse, id: string | number | null, retryAfter: number, method: number): void {
  const b = st.limits!.buckets!;
  const body = errorBody(
    id,
    RpcCodes.RATE_LIMITED,
    `Too Many Requests: this client is over the request rate limit (MCP_RATE_LIMIT ${b.rate}/s, burst ${b.burst}); retry after ${retryAfter} s`,
    { limit: 'requests', retryAfter },
  );
  tooMany(res, String(retryAfter), body);
  st.metrics.request(method, 429, -1);
}

/**
 * GET and DELETE: answers 429 when the client is over the rate (no body, so no id). Returns false if
 * answered. `c` comes from checkClient (or settleClient).
 */
export function admitClient(st: NodeContext, res: HttpResponse, c: ClientCheck, metricsMethod: number): boolean {
  if (c.retryAfter <= 0) return true;
  refuseRate(st, res, null, c.retryAfter, metricsMethod);
  return false;
}

/**
 * An initialize: 429 when its client holds MCP_MAX_SESSIONS_PER_PRINCIPAL live sessions on this node
 * already. Returns false if answered. The count belongs to the identity, not to a session, so
 * initializing again never resets it; only a session leaving the table frees a slot.
 */
export function admitClientSession(st: NodeContext, res: HttpResponse, client: ClientCheck | null, id: string | number | null): boolean {
  const quota = st.limits?.sessions;
  if (quota === undefined || quota === null || client === null || client.key === '' || !quota.full(client.key)) return true;
  st.metrics.rateLimited.inc(RL_SESSIONS);
  const body = errorBody(
    id,
    RpcCodes.RATE_LIMITED,
    `Too Many Sessions: this client holds ${quota.max} live sessions on this node, the most MCP_MAX_SESSIONS_PER_PRINCIPAL allows; end one (DELETE) before opening another`,
    { limit: 'sessions', max: quota.max },
  );
  tooMany(res, RETRY_SESSIONS, body);
  st.metrics.request(M_INIT, 429, -1);
  return false;
}
