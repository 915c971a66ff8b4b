/**
 * The Streamable HTTP endpoint: POST, GET and DELETE on /mcp. Handlers validate the HTTP layer,
 * read the body with a cap, and hand each message to the worker that owns its session. They are
 * top-level functions over the node context (context.ts); the only per-request closures are the ones
 * uWS needs.
 */
import { jsonShapeTooLarge, SHAPE_SCAN_MIN_BYTES } from '../protocol/limits.js';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { log, sessionRef } from '../log.js';
import {
  ERA_MODERN,
  FR_HANDOFF,
  FR_NO_TAG,
  M_BATCH,
  M_DELETE,
  M_GET,
  M_INIT,
  M_NOTIFICATION,
  M_OTHER,
  M_RESPONSE,
  methodIndex,
  modernMethodIndex,
} from '../metrics/metrics.js';
import { Bodies, classify, MsgKind } from '../protocol/jsonrpc.js';
import { allowsBatch, negotiate, versionIndex } from '../protocol/versions.js';
import {
  bodyIsModern,
  checkEnvelope,
  decodeHeaderValue,
  Era,
  eraOfHeaders,
  listenAckBody,
  listenFilter,
  modernErrorBody,
  MODERN_METHODS,
  trimOws,
} from '../protocol/modern.js';
import type { Slot } from '../pool/pool.js';
import type { ModernMsg } from '../pool/messages.js';
import { accepts, ALLOW_MCP, JSON_TYPE, SSE_TYPE, Status, writeJson } from './http.js';
import { internalError } from './fault.js';
import { forward, forwardReason, fromPeer, PASSED, type ForwardRequest } from './forward.js';
import { admitInitParams, admitSession, batchTooLarge } from './limits.js';
import {
  admitClient,
  admitClientSession,
  carryClient,
  checkClient,
  pendingClient,
  refuseRate,
  settleClient,
  type ClientCheck,
} from './client-limits.js';
import { textFault } from './test-faults.js';
import type { NodeContext } from './context.js';
import { afterVerification, authenticate, carryPrincipal, missingToolScopes, REFUSED, refuseTool, wireAuth } from './auth.js';
import { B_DELETE, B_GET, B_POST, B_RESUME } from '../auth/binding.js';
import type { Principal, WireAuthInfo } from '../auth/principal.js';
import type { AuthOutcome } from '../auth/verifier.js';

/** The headers a 2026-07-28 request mirrors from its body, read while uWS's request is valid. */
interface ModernHead {
  protocolVersion: string;
  mcpMethod: string;
  mcpName: string;
  paramHeaders: Record<string, string> | null;
}

const M_TOOLS_CALL = methodIndex('tools/call');

/** `mcp-param-*` headers kept per request at most (a tool schema names at most this many). */
const MAX_PARAM_HEADERS = 32;
const PARAM_PREFIX = 'mcp-param-';

function modernHead(st: NodeContext, req: HttpRequest, protocolVersion: string): ModernHead {
  const mcpMethod = req.getHeader('mcp-method');
  const mcpName = req.getHeader('mcp-name');
  let paramHeaders: Record<string, string> | null = null;
  // Only tools/call checks Mcp-Param-* headers, and only against the tool's declared ones (a request
  // whose Mcp-Method or Mcp-Name does not match its body is refused before that). Reading every header
  // costs a callback and a string per header (a bearer token included): skipped for a tool the
  // workers reported without such declarations.
  if (trimOws(mcpMethod) === 'tools/call' && st.pool.toolHeaders.get(decodeHeaderValue(mcpName) ?? '') !== false) {
    let n = 0;
    req.forEach((name, value) => {
      if (n < MAX_PARAM_HEADERS && name.startsWith(PARAM_PREFIX)) {
        (paramHeaders ??= {})[name] = value;
        n++;
      }
    });
  }
  return { protocolVersion, mcpMethod, mcpName, paramHeaders };
}

interface PostHead {
  sid: string;
  /** The era from the headers (protocol/modern.ts); Undecided: the body's `_meta` decides. */
  era: Era;
  /** Set for a request the headers make modern. */
  modern: ModernHead | null;
  aborted: boolean;
  started: number;
  /** Headers to forward with, captured only when this request may have to be forwarded. */
  fwd: Record<string, string> | null;
  /** Why it reached this node, if forwarded (FORWARD_REASONS index; read with `fwd`). */
  reason: number;
  /** The per-client limits' view of it; null when they are off (counted once the caller is known). */
  client: ClientCheck | null;
  /**
   * The verified caller (null: authorization off). Set before onPostBody's dispatch; limits and
   * session binding read it there.
   */
  principal: Principal | null;
  /** A verification still running while the body is read; onPostBody waits for it. */
  pending: Promise<AuthOutcome> | null;
}

/**
 * Can this node forward at all (cluster secret, directory, MCP_FORWARD), and was `req` not forwarded
 * by a peer already (authenticated, so a client cannot claim it)?
 */
function mayForward(st: NodeContext, req: HttpRequest, method: string, sid: string): boolean {
  return st.forwarder !== null && !fromPeer(st, req, method, sid);
}

function captureHeaders(req: HttpRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of PASSED) {
    const v = req.getHeader(name);
    if (v !== '') out[name] = v;
  }
  return out;
}

/**
 * The live owner's address for a session this node does not have; null when it cannot be forwarded
 * (untagged or forged id, this node, owner not alive). Answers from the cache; only an owner the
 * cache has never seen costs a Redis round trip.
 */
function ownerAddress(st: NodeContext, sid: string): string | null | Promise<string | null> {
  const owner = st.tagger!.owner(sid);
  if (owner === null || owner === st.config.nodeId) return null;
  const cached = st.directory!.address(owner);
  return cached === undefined ? st.directory!.lookup(owner) : cached;
}

/** Forwards when the owner is alive, otherwise answers the sticky-session design's 404 (+ misroute bookkeeping). */
function forwardOr404(
  st: NodeContext,
  res: HttpResponse,
  fr: Omit<ForwardRequest, 'address'>,
  sid: string,
  method: number,
  aborted: () => boolean,
  address: string | null | Promise<string | null>,
): void {
  if (address === null) {
    writeJson(res, 404, Bodies.sessionNotFound);
    st.metrics.request(method, 404, -1);
    return unknownSession(st, sid);
  }
  if (typeof address === 'string') return forward(st, res, { ...fr, address, metricsMethod: method }, aborted);
  let gone = aborted();
  res.onAborted(() => {
    gone = true;
  });
  address
    .then((a) => {
      if (gone) return;
      if (a) return forward(st, res, { ...fr, address: a, metricsMethod: method }, () => gone);
      res.cork(() => writeJson(res, 404, Bodies.sessionNotFound));
      st.metrics.request(method, 404, -1);
      unknownSession(st, sid);
    })
    // forward() rebinds onAborted; if it threw after that, `gone` is stale and uWS's own refusal to
    // touch an aborted response (fault.ts) is what keeps the 500 from being written.
    .catch((err: unknown) => internalError(st, gone ? null : res, 'forward', err));
}

function reject(st: NodeContext, res: HttpResponse, status: number, body: string, method = M_OTHER, close = false): void {
  writeJson(res, status, body, undefined, close);
  st.metrics.request(method, status, -1);
}

/**
 * Same checks for every method: Host, Origin, protocol-version header (the 2025 table's; a modern
 * POST's version is checked against its body later). Returns false if answered.
 */
function commonChecks(
  st: NodeContext,
  res: HttpResponse,
  req: HttpRequest,
  close: boolean,
  hv = req.getHeader('mcp-protocol-version'),
  modern = false,
): boolean {
  const host = req.getHeader('host');
  if (!st.guard.hostAllowed(host)) {
    reject(st, res, 403, Bodies.forbiddenHost, M_OTHER, close);
    return false;
  }
  if (!st.guard.originAllowed(req.getHeader('origin'), host)) {
    reject(st, res, 403, Bodies.forbiddenOrigin, M_OTHER, close);
    return false;
  }
  // "If the server receives a request with an invalid or unsupported MCP-Protocol-Version, it MUST
  // respond with 400 Bad Request."
  if (!modern && hv !== '' && versionIndex(hv) < 0) {
    reject(st, res, 400, Bodies.badVersion, M_OTHER, close);
    return false;
  }
  return true;
}

/** `principalKey`: the authenticated principal's key, the identity per-client limits count by (null: the client's address). */
export function handlePost(st: NodeContext, res: HttpResponse, req: HttpRequest): void {
  const sid = req.getHeader('mcp-session-id');
  const hv = req.getHeader('mcp-protocol-version');
  const era = eraOfHeaders(hv, sid);
  if (!commonChecks(st, res, req, true, hv, era === Era.Modern)) return;
  const other = era === Era.Modern ? ERA_MODERN + M_OTHER : M_OTHER;
  const auth = authenticate(st, res, req, other, true, 'POST', sid);
  if (auth === REFUSED) return;
  const client = clientOf(st, res, req, 'POST', sid, auth);
  const accept = req.getHeader('accept');
  if (!accepts(accept, JSON_TYPE) || !accepts(accept, SSE_TYPE)) return reject(st, res, 406, Bodies.notAcceptablePost, other, true);
  const ctype = req.getHeader('content-type');
  if (!ctype.toLowerCase().startsWith(JSON_TYPE)) return reject(st, res, 415, Bodies.unsupportedMediaType, other, true);
  const declared = req.getHeader('content-length');
  const length = declared === '' ? -1 : Number(declared);

  const head: PostHead = {
    sid,
    era,
    modern: era === Era.Modern ? modernHead(st, req, hv) : null,
    aborted: false,
    started: performance.now(),
    // Only requests that are not local (or initializes while draining) may need forwarding.
    fwd: (st.readiness.draining || (sid !== '' && !st.sessions.has(sid))) && mayForward(st, req, 'POST', sid) ? captureHeaders(req) : null,
    reason: FR_NO_TAG,
    client,
    principal: auth instanceof Promise ? null : auth,
    pending: auth instanceof Promise ? auth : null,
  };
  if (head.fwd !== null) {
    head.reason = forwardReason(req);
    carryClient(head.fwd, client);
    if (!(auth instanceof Promise)) carryPrincipal(head.fwd, auth);
  }
  res.onAborted(() => {
    head.aborted = true;
  });
  readBody(st, res, head, length);
}

/**
 * Bytes of one request body the node reads at most: MAX_BODY, then up to max(1 MiB, MAX_BODY) more,
 * read only to be discarded after a 413 (see refuseBody).
 */
function drainLimit(max: number): number {
  return max + Math.max(1 << 20, max);
}

/**
 * The 413 for a body over MAX_BODY, written so that the client sees it. Answering with "close" while
 * the client is still sending leaves its unsent bytes unread, and closing a socket with unread bytes
 * sends a TCP reset, on which the client's kernel drops the 413 it has not read yet: the client saw
 * only a reset. So the answer goes out at once (status, headers, body; uWS frames it chunked because
 * the response stays open) and the rest of the body is read and discarded (finishRefusal).
 */
function refuseBody(st: NodeContext, res: HttpResponse): void {
  res.cork(() => {
    res.writeStatus(Status[413]).writeHeader('content-type', JSON_TYPE).writeHeader('connection', 'close');
    res.write(Bodies.tooLarge);
  });
  st.metrics.request(M_OTHER, 413, -1);
}

/**
 * After reading drainLimit bytes of a refused body, the node stops reading and closes the connection
 * this much later. Closing at once would reset it while the 413 may still sit unread on the client
 * (a client that writes its whole body before it reads loses it then); pausing stops the upload, and
 * the close comes when the client has long had its answer.
 */
const REFUSAL_LINGER_MS = 1000;

/**
 * The end of a refused body. When the body ended within drainLimit, the 413 ends cleanly (the
 * connection stays usable). Otherwise (an absurd or endless body) reading stops and the connection
 * is closed after REFUSAL_LINGER_MS. Not `end(body, true)`: uWS then writes its "Connection: close"
 * line into a chunked body.
 */
function finishRefusal(res: HttpResponse, head: PostHead, bodyEnded: boolean): void {
  if (bodyEnded) return void res.cork(() => res.end());
  res.pause();
  setTimeout(() => {
    if (!head.aborted) res.close();
  }, REFUSAL_LINGER_MS).unref();
}

/**
 * Reads a POST body into one buffer, never more than MAX_BODY bytes, then hands it to onPostBody. A
 * body over the cap (declared or streamed) is refused with 413 and drained (refuseBody). Anything
 * unexpected thrown while the body is handled goes to the guard (fault.ts) as where="body".
 */
function readBody(st: NodeContext, res: HttpResponse, head: PostHead, length: number): void {
  const max = st.config.maxBody;
  const declared = length >= 0;
  // Content-Length known: one allocation of the exact size; otherwise chunks, capped while streaming.
  const buf = declared && length <= max ? Buffer.allocUnsafe(length) : null;
  const chunks: Buffer[] = [];
  let read = 0;
  let over = declared && length > max;
  let finished = false;
  if (over) refuseBody(st, res);
  res.onData((chunk, isLast) => {
    if (finished || head.aborted) return;
    try {
      read += chunk.byteLength;
      if (over) {
        if (isLast || read >= drainLimit(max)) {
          finished = true;
          finishRefusal(res, head, isLast);
        }
        return;
      }
      if (read > max || (buf !== null && read > length)) {
        over = true;
        refuseBody(st, res);
        if (isLast) {
          finished = true;
          finishRefusal(res, head, true);
        }
        return;
      }
      // uWS reuses the chunk's memory after this callback returns: copy it now.
      if (buf !== null) buf.set(new Uint8Array(chunk), read - chunk.byteLength);
      else chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (!isLast) return;
      finished = true;
      const body =
        buf !== null ? (read === length ? buf : buf.subarray(0, read)) : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, read);
      onPostBody(st, res, head, body);
    } catch (err) {
      finished = true;
      internalError(st, head.aborted ? null : res, 'body', err);
    }
  });
}

/** The id of a JSON-RPC request, for an error answer; null for anything else (a batch, a notification). */
function requestId(msg: unknown): string | number | null {
  const id = (msg as { id?: unknown } | null)?.id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}

function methodOf(msg: unknown): unknown {
  return (msg as { method?: unknown } | null)?.method;
}

function answer(st: NodeContext, res: HttpResponse, status: number, body: string, method: number): void {
  res.cork(() => reject(st, res, status, body, method));
}

function onPostBody(st: NodeContext, res: HttpResponse, head: PostHead, raw: Buffer): void {
  const pending = head.pending;
  if (pending !== null) {
    // The token was new: its verification ran while the body was read. onAborted is set already.
    head.pending = null;
    const other = head.era === Era.Modern ? ERA_MODERN + M_OTHER : M_OTHER;
    return afterVerification(
      st,
      res,
      pending,
      other,
      (principal) => {
        head.principal = principal;
        if (head.client !== null) {
          head.client = settleClient(st, head.client, principal.key);
          if (head.fwd !== null) carryClient(head.fwd, head.client);
        }
        if (head.fwd !== null) carryPrincipal(head.fwd, principal);
        onPostBody(st, res, head, raw);
      },
      (err, gone) => internalError(st, gone || head.aborted ? null : res, 'body', err),
    );
  }
  // Small bodies cannot be costly to parse; a large one could stall this thread for every session.
  if (raw.length >= SHAPE_SCAN_MIN_BYTES && jsonShapeTooLarge(raw)) return answer(st, res, 400, Bodies.tooComplex, M_OTHER);
  const text = raw.toString('utf8');
  if (st.config.testFaults) textFault(text, 'body');
  if (head.era === Era.Modern) {
    const method = unparsedModernMethod(st, head);
    if (method >= 0) return modernExchange(st, res, head, text, method);
  } else if (head.sid !== '' && sessionPostUnparsed(st, res, head, text)) return;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return answer(st, res, 400, Bodies.parseError, head.era === Era.Modern ? ERA_MODERN + M_OTHER : M_OTHER);
  }
  const modern = head.era === Era.Modern || (head.era === Era.Undecided && bodyIsModern(parsed));
  // Over the rate: answered now that the body is read (answering earlier resets a client still sending it).
  if (head.client !== null && head.client.retryAfter > 0)
    return refuseRate(st, res, requestId(parsed), head.client.retryAfter, (modern ? modernMethodIndex : methodIndex)(methodOf(parsed)));
  if (head.principal !== null) {
    const needed = missingToolScopes(st, head.principal, parsed);
    if (needed !== null) {
      const metric = (modern ? ERA_MODERN : 0) + (Array.isArray(parsed) ? M_BATCH : M_TOOLS_CALL);
      res.cork(() => refuseTool(st, res, needed, metric));
      return;
    }
  }
  if (modern) return modernPost(st, res, head, parsed, text);
  let requests = 0;
  let method = M_OTHER;
  let isInit = false;
  const isBatch = Array.isArray(parsed);
  if (isBatch) {
    const arr = parsed as unknown[];
    if (arr.length === 0) return answer(st, res, 400, Bodies.emptyBatch, M_BATCH);
    if (batchTooLarge(arr)) return answer(st, res, 400, Bodies.batchTooLarge, M_BATCH);
    for (const m of arr) {
      const kind = classify(m);
      if (kind === MsgKind.Invalid) return answer(st, res, 400, Bodies.invalidRequest, M_BATCH);
      if (kind === MsgKind.Request) {
        requests++;
        if ((m as { method: string }).method === 'initialize') return answer(st, res, 400, Bodies.initInBatch, M_BATCH);
      }
    }
    method = M_BATCH;
  } else {
    const kind = classify(parsed);
    if (kind === MsgKind.Invalid) return answer(st, res, 400, Bodies.invalidRequest, M_OTHER);
    if (kind === MsgKind.Request) {
      requests = 1;
      method = methodIndex((parsed as { method: string }).method);
      isInit = method === M_INIT;
    } else method = kind === MsgKind.Notification ? M_NOTIFICATION : M_RESPONSE;
  }

  if (isInit) {
    if (!admitInitParams(st, res, parsed as { params?: Record<string, unknown> })) return;
    return startSession(st, res, head, parsed as { params?: { protocolVersion?: unknown } }, text);
  }

  const sid = head.sid;
  if (sid === '') return answer(st, res, 400, Bodies.missingSession, method);
  const route = st.sessions.route(sid);
  if (route === undefined) {
    if (head.fwd) {
      const fwd = head.fwd;
      res.cork(() =>
        forwardOr404(
          st,
          res,
          { method: 'POST', headers: fwd, body: text, reason: head.reason },
          sid,
          method,
          () => head.aborted,
          ownerAddress(st, sid),
        ),
      );
      return;
    }
    answer(st, res, 404, Bodies.sessionNotFound, method);
    return unknownSession(st, sid);
  }
  // Another principal's session is answered as one that does not exist, before anything else about it
  // (its revision, its worker) can show through.
  if (!boundTo(st, sid, head.principal, B_POST)) {
    answer(st, res, 404, Bodies.sessionNotFound, method);
    return;
  }
  const slot = st.sessions.slotOf(route);
  if (isBatch && !allowsBatch(st.sessions.revisionOf(route))) return answer(st, res, 400, Bodies.batchNotAllowed, method);
  const auth = authUpdate(st, sid, head.principal);
  if (requests === 0) {
    // "If the input consists solely of JSON-RPC responses or notifications ... the server MUST return
    // HTTP status code 202 Accepted with no body."
    st.pool.send(
      slot,
      auth ? { type: 'post', sessionId: sid, exchange: 0, body: text, auth } : { type: 'post', sessionId: sid, exchange: 0, body: text },
    );
    res.cork(() => {
      res.writeStatus(Status[202]).end();
    });
    st.metrics.request(method, 202, head.started);
    return;
  }
  const conn = st.exchanges.open(res, sid, slot, false, method, head.started);
  res.onAborted(() => st.exchanges.aborted(conn));
  if (head.aborted) return st.exchanges.aborted(conn);
  st.pool.send(
    slot,
    auth
      ? { type: 'post', sessionId: sid, exchange: conn.id, body: text, auth }
      : { type: 'post', sessionId: sid, exchange: conn.id, body: text },
  );
}

/**
 * Session binding: true when `p` may use local session `sid` (authorization off, or the principal
 * that initialized it, whatever its current token); otherwise counts the refusal under `kind`
 * (BINDING_KINDS) and returns false, and the caller answers 404 exactly as for an unknown session.
 */
function boundTo(st: NodeContext, sid: string, p: Principal | null, kind: number): boolean {
  if (ownedBy(st, sid, p)) return true;
  st.metrics.bindingRefusals.inc(kind);
  log.debug("request for another principal's session refused", { session: sessionRef(sid) });
  return false;
}

/** boundTo without counting: may `p` use local session `sid`? */
function ownedBy(st: NodeContext, sid: string, p: Principal | null): boolean {
  if (p === null) return true;
  const owner = st.sessions.principalOf(sid);
  return owner === undefined || owner === p || owner.key === p.key;
}

/**
 * Must the front read this POST's body whatever it holds? When the caller is over its rate (the
 * refusal names the request's id) or its tool scopes are checked here.
 */
function frontReadsBody(st: NodeContext, head: PostHead): boolean {
  return (head.client !== null && head.client.retryAfter > 0) || (head.principal !== null && st.pool.toolScopes.size > 0);
}

/** The first character of `text` that is not JSON whitespace ('' for none). */
function firstSignificant(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return text[i];
  }
  return '';
}

/**
 * A POST for a live local session, sent to its worker as the text it came as when nothing the front
 * decides depends on the body: the worker parses it anyway (once, now), answers what the front would
 * for a body that is not JSON, not a JSON-RPC message (400) or only a notification or a response
 * (202), and reports the method for the metrics. Everything else takes the full path (returns
 * false): a batch (its rules are the front's), a body that could be an initialize (which starts a new
 * session whatever its session header says: any body holding the word, or a `\u` escape that could
 * spell it), a session elsewhere or another principal's, a caller over its rate, or one whose tool
 * scopes the front checks.
 */
function sessionPostUnparsed(st: NodeContext, res: HttpResponse, head: PostHead, text: string): boolean {
  if (frontReadsBody(st, head)) return false;
  if (firstSignificant(text) !== '{' || text.includes('initialize') || text.includes('\\u')) return false;
  const sid = head.sid;
  const route = st.sessions.route(sid);
  if (route === undefined || !ownedBy(st, sid, head.principal)) return false;
  const slot = st.sessions.slotOf(route);
  const auth = authUpdate(st, sid, head.principal);
  const conn = st.exchanges.open(res, sid, slot, false, M_OTHER, head.started);
  res.onAborted(() => st.exchanges.aborted(conn));
  if (head.aborted) {
    st.exchanges.aborted(conn);
    return true;
  }
  st.pool.send(
    slot,
    auth
      ? { type: 'post', sessionId: sid, exchange: conn.id, body: text, unparsed: true, auth }
      : { type: 'post', sessionId: sid, exchange: conn.id, body: text, unparsed: true },
  );
  return true;
}

/**
 * The caller to send a session's worker with this request: only when its token is not the one the
 * worker has (the first request after a refresh), so the usual request carries nothing more. The
 * principal is the same (boundTo checked it); only its token, scopes and expiry may be new.
 */
function authUpdate(st: NodeContext, sid: string, p: Principal | null): WireAuthInfo | undefined {
  if (p === null) return undefined;
  const cur = st.sessions.principalOf(sid);
  if (cur === p || cur?.token === p.token) return undefined;
  st.sessions.setPrincipal(sid, p);
  return wireAuth(st, p);
}

/**
 * A 2026-07-28 request whose headers name a method the revision defines goes to a worker as the text
 * it came as: the worker parses it anyway and answers everything the front would (a body that is not
 * JSON, not a request, a notification's 202, each counted as the front counts it), and its envelope
 * check refuses a body whose method is not the header's (HeaderMismatch), so the front's own parse
 * would only repeat work on the thread every request crosses. Returns the request's metrics index,
 * or -1 when the front must read the body itself: a `subscriptions/listen` stream (held here), a
 * method the revision does not define (a notification among them), a caller over its rate (its
 * refusal names the request's id) or one whose tool scopes are to be checked here.
 */
function unparsedModernMethod(st: NodeContext, head: PostHead): number {
  if (frontReadsBody(st, head)) return -1;
  // Only a method the revision defines: a header naming anything else (a notification, a made-up
  // method, or one of the metrics' own labels such as `batch`) has its body read here.
  const m = trimOws(head.modern!.mcpMethod);
  if (!MODERN_METHODS.has(m) || m === 'subscriptions/listen') return -1;
  return modernMethodIndex(m);
}

/**
 * A 2026-07-28 request: stateless, so the least recently picked worker serves it (no session, no
 * stickiness). The worker validates the envelope and answers JSON, or SSE when the handler sends
 * notifications first.
 */
function modernPost(st: NodeContext, res: HttpResponse, head: PostHead, parsed: unknown, text: string): void {
  const kind = classify(parsed);
  if (kind === MsgKind.Notification) {
    // "If the server accepts it, the server MUST return HTTP status code 202 Accepted with no body";
    // this revision defines no client notification over HTTP, so nothing is done with it.
    res.cork(() => {
      res.writeStatus(Status[202]).end();
    });
    st.metrics.request(ERA_MODERN + M_NOTIFICATION, 202, head.started);
    return;
  }
  // A batch, a response, or no JSON-RPC message: "The body of the HTTP POST MUST be a single JSON-RPC request or notification."
  if (kind !== MsgKind.Request) return answer(st, res, 400, Bodies.invalidRequest, ERA_MODERN + M_OTHER);
  const method = modernMethodIndex((parsed as { method: string }).method);
  if ((parsed as { method: string }).method === 'subscriptions/listen') {
    const slot = st.pool.pickAny();
    if (!slot) return answer(st, res, 503, Bodies.overloaded, method);
    return listen(st, res, head, parsed as ListenRequest, slot, method);
  }
  modernExchange(st, res, head, text, method);
}

/** Hands a 2026-07-28 request (`text`, not parsed by the front or parsed and found a request) to a worker. */
function modernExchange(st: NodeContext, res: HttpResponse, head: PostHead, text: string, method: number): void {
  const slot = st.pool.pickAny();
  if (!slot) return answer(st, res, 503, Bodies.overloaded, method);
  const conn = st.exchanges.open(res, '', slot, false, method, head.started);
  res.onAborted(() => st.exchanges.aborted(conn));
  if (head.aborted) return st.exchanges.aborted(conn);
  const h = head.modern;
  const msg: ModernMsg = {
    type: 'modern',
    exchange: conn.id,
    body: text,
    protocolVersion: h?.protocolVersion ?? '',
    mcpMethod: h?.mcpMethod ?? '',
    mcpName: h?.mcpName ?? '',
    paramHeaders: h?.paramHeaders ?? null,
  };
  if (head.principal !== null) {
    const p = head.principal;
    msg.principal = p.key;
    // The caller's auth info crosses to a worker once per token, not with every request.
    const send = slot.authSent.note(p.key, p.token);
    if (send !== 'known') msg.auth = wireAuth(st, p);
    if (send === 'reset') msg.authReset = true;
  }
  st.pool.send(slot, msg);
}

interface ListenRequest {
  id: string | number;
  method: string;
  params?: Record<string, unknown>;
}

/**
 * `subscriptions/listen`: the front holds the stream itself, since a change may come from any
 * worker. The acknowledgement goes first, then every change the client opted in to (listeners.ts).
 * The stream's exchange is nominally on `slot` only so that closing it follows the path of every
 * other exchange (a `cancel` the worker ignores).
 */
function listen(st: NodeContext, res: HttpResponse, head: PostHead, msg: ListenRequest, slot: Slot, method: number): void {
  const h = head.modern;
  const refused = checkEnvelope(msg.method, msg.params, {
    protocolVersion: h?.protocolVersion ?? '',
    method: h?.mcpMethod ?? '',
    name: h?.mcpName ?? '',
  });
  if (refused) return answer(st, res, refused.status, modernErrorBody(msg.id, refused), method);
  // A draining node ends its listen streams; a new one belongs on a node that stays.
  if (st.readiness.draining) return answer(st, res, 503, Bodies.shuttingDown, method);
  const filter = listenFilter(msg.params!);
  if ('code' in filter) return answer(st, res, filter.status, modernErrorBody(msg.id, filter), method);
  if (head.aborted) return;
  const conn = st.exchanges.open(res, '', slot, false, method, head.started);
  res.onAborted(() => st.exchanges.aborted(conn));
  if (!st.listeners.add(conn, msg.id, filter, head.principal)) {
    st.exchanges.json(conn.id, 503, Bodies.overloaded);
    return;
  }
  st.exchanges.event(conn.id, '', listenAckBody(msg.id, filter), false);
}

function startSession(
  st: NodeContext,
  res: HttpResponse,
  head: PostHead,
  msg: { params?: { protocolVersion?: unknown } },
  text: string,
): void {
  if (st.readiness.draining) {
    // A draining node takes no new sessions; in a cluster it hands them to a live peer.
    const peers = head.fwd ? st.directory!.livePeers() : [];
    if (peers.length > 0) {
      const address = peers[Math.floor(Math.random() * peers.length)];
      return forward(st, res, { method: 'POST', address, headers: head.fwd!, body: text, reason: FR_HANDOFF }, () => head.aborted);
    }
    return answer(st, res, 503, Bodies.shuttingDown, M_INIT);
  }
  if (!admitSession(st, res)) return;
  if (!admitClientSession(st, res, head.client, requestId(msg))) return;
  const slot = st.pool.pick();
  if (!slot) return answer(st, res, 503, Bodies.overloaded, M_INIT);
  const version = negotiate(msg.params?.protocolVersion);
  const sid = st.sessions.mintId();
  st.sessions.add(sid, slot, versionIndex(version), head.client?.key || null);
  const conn = st.exchanges.open(res, sid, slot, true, M_INIT, head.started);
  res.onAborted(() => st.exchanges.aborted(conn));
  const p = head.principal;
  if (p === null) st.pool.send(slot, { type: 'init', sessionId: sid, exchange: conn.id, body: text, version });
  else {
    st.sessions.setPrincipal(sid, p);
    st.pool.send(slot, { type: 'init', sessionId: sid, exchange: conn.id, body: text, version, auth: wireAuth(st, p) });
  }
}

/** A session this node does not have: 404 went out already; the registry only shapes bookkeeping. */
function unknownSession(st: NodeContext, sid: string): void {
  st.sessions.registry
    .lookup(sid)
    .then(
      (owner) => {
        if (owner && owner.node !== st.config.nodeId) {
          st.metrics.misroutes.inc();
          log.warn('misrouted session', {
            session: sessionRef(sid),
            node: st.config.nodeId,
            owner: owner.node,
            ownerAddress: owner.address,
          });
        } else st.metrics.unknown.inc();
      },
      () => st.metrics.unknown.inc(),
    )
    .catch((err: unknown) => internalError(st, null, 'registry', err));
}

/** What a GET or DELETE needs from its request, read while uWS's request is valid. */
interface SessionHead {
  sid: string;
  /** GET: the Last-Event-ID to resume from ('' for none). */
  last: string;
  /** Headers to forward with, when the session is not local and this node may forward. */
  fwd: Record<string, string> | null;
  reason: number;
}

function sessionHead(st: NodeContext, req: HttpRequest, method: 'GET' | 'DELETE', sid: string): SessionHead {
  const fwd = !st.sessions.has(sid) && mayForward(st, req, method, sid) ? captureHeaders(req) : null;
  return { sid, last: method === 'GET' ? req.getHeader('last-event-id') : '', fwd, reason: fwd === null ? FR_NO_TAG : forwardReason(req) };
}

export function handleGet(st: NodeContext, res: HttpResponse, req: HttpRequest): void {
  if (!commonChecks(st, res, req, false)) return;
  const sid = req.getHeader('mcp-session-id');
  const auth = authenticate(st, res, req, M_GET, false, 'GET', sid);
  if (auth === REFUSED) return;
  const client = clientOf(st, res, req, 'GET', sid, auth);
  if (client !== null && !admitClient(st, res, client, M_GET)) return;
  // "The client MUST include an Accept header, listing text/event-stream as a supported content type."
  if (!accepts(req.getHeader('accept'), SSE_TYPE)) return reject(st, res, 406, Bodies.notAcceptableGet, M_GET);
  if (sid === '') return reject(st, res, 400, Bodies.missingSession);
  const head = sessionHead(st, req, 'GET', sid);
  if (!(auth instanceof Promise)) return getStream(st, res, head, auth, NOT_ABORTED);
  afterVerification(
    st,
    res,
    auth,
    M_GET,
    (p, aborted) => {
      if (client === null || admitClient(st, res, settleClient(st, client, p.key), M_GET)) getStream(st, res, head, p, aborted);
    },
    (err, gone) => internalError(st, gone ? null : res, 'get', err),
  );
}

const NOT_ABORTED = (): boolean => false;

/**
 * The per-client limits' check of a request (null: limits off): counted now for a known caller (the
 * principal, or the client's address with authorization off), or read now and counted by settleClient
 * once a new token is verified.
 */
function clientOf(
  st: NodeContext,
  res: HttpResponse,
  req: HttpRequest,
  method: 'POST' | 'GET' | 'DELETE',
  sid: string,
  auth: Principal | null | Promise<AuthOutcome>,
): ClientCheck | null {
  if (st.limits === null) return null;
  if (auth instanceof Promise) return pendingClient(st, res, req, method, sid);
  return checkClient(st, res, req, method, sid, auth === null ? null : auth.key);
}

/**
 * A GET with its caller known (null: authorization off); `aborted` tells whether the client left while
 * its token was verified. Another principal's GET or resume gets the unknown session's 404: the
 * session's stream stays with its owner and nothing is replayed.
 */
function getStream(st: NodeContext, res: HttpResponse, head: SessionHead, principal: Principal | null, aborted: () => boolean): void {
  const sid = head.sid;
  const route = st.sessions.route(sid);
  if (route === undefined) {
    if (head.fwd !== null) carryPrincipal(head.fwd, principal);
    if (head.fwd !== null)
      return forwardOr404(
        st,
        res,
        { method: 'GET', headers: head.fwd, body: null, reason: head.reason },
        sid,
        M_GET,
        aborted,
        ownerAddress(st, sid),
      );
    reject(st, res, 404, Bodies.sessionNotFound, M_GET);
    return unknownSession(st, sid);
  }
  const last = head.last;
  if (!boundTo(st, sid, principal, last === '' ? B_GET : B_RESUME)) return reject(st, res, 404, Bodies.sessionNotFound, M_GET);
  const slot = st.sessions.slotOf(route);
  const conn = st.exchanges.open(res, sid, slot, false, M_GET, performance.now());
  if (principal !== null && st.auth !== null) conn.until = st.auth.verifier.trustedUntil(principal);
  res.onAborted(() => st.exchanges.aborted(conn));
  st.pool.send(slot, { type: 'get', sessionId: sid, exchange: conn.id, lastEventId: last === '' ? null : last });
}

export function handleDelete(st: NodeContext, res: HttpResponse, req: HttpRequest): void {
  if (!commonChecks(st, res, req, false)) return;
  const sid = req.getHeader('mcp-session-id');
  const auth = authenticate(st, res, req, M_DELETE, false, 'DELETE', sid);
  if (auth === REFUSED) return;
  const client = clientOf(st, res, req, 'DELETE', sid, auth);
  if (client !== null && !admitClient(st, res, client, M_DELETE)) return;
  if (sid === '') return reject(st, res, 400, Bodies.missingSession);
  const head = sessionHead(st, req, 'DELETE', sid);
  if (!(auth instanceof Promise)) return deleteSession(st, res, head, auth, NOT_ABORTED);
  afterVerification(
    st,
    res,
    auth,
    M_DELETE,
    (p, aborted) => {
      if (client === null || admitClient(st, res, settleClient(st, client, p.key), M_DELETE)) deleteSession(st, res, head, p, aborted);
    },
    (err, gone) => internalError(st, gone ? null : res, 'delete', err),
  );
}

/** A DELETE with its caller known (null: authorization off); another principal's gets the unknown session's 404. */
function deleteSession(st: NodeContext, res: HttpResponse, head: SessionHead, principal: Principal | null, aborted: () => boolean): void {
  const sid = head.sid;
  if (!st.sessions.has(sid)) {
    if (head.fwd !== null) carryPrincipal(head.fwd, principal);
    const address = head.fwd !== null ? ownerAddress(st, sid) : null;
    if (address !== null)
      return forwardOr404(
        st,
        res,
        { method: 'DELETE', headers: head.fwd!, body: null, reason: head.reason },
        sid,
        M_DELETE,
        aborted,
        address,
      );
    // Clean the registry even though nothing closes here; the session may belong to
    // another node or an earlier process.
    st.sessions.forgetUnknown(sid);
    reject(st, res, 404, Bodies.sessionNotFound);
    return unknownSession(st, sid);
  }
  // Not forgetUnknown: the registry key is the owner's, and stays.
  if (!boundTo(st, sid, principal, B_DELETE)) return reject(st, res, 404, Bodies.sessionNotFound);
  st.sessions.end(sid, 'delete');
  res.writeStatus(Status[200]).writeHeader('content-type', JSON_TYPE).end('{}');
  st.metrics.request(M_DELETE, 200, -1);
}

export function handleMethodNotAllowed(st: NodeContext, res: HttpResponse): void {
  res.writeStatus(Status[405]).writeHeader('allow', ALLOW_MCP).writeHeader('content-type', JSON_TYPE).end(Bodies.methodNotAllowed, true);
  st.metrics.request(M_OTHER, 405, -1);
}
