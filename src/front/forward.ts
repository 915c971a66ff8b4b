/**
 * Forwarding a request to the node that owns its session (cookie-less clients land anywhere). The
 * owner's answer, SSE streams included, is relayed chunk by chunk with backpressure: when the client
 * socket is full the upstream is paused until uWS reports it writable again.
 *
 * Bounded at every step, because a client decides what is forwarded and an owner may stall:
 * - header values Node's http client cannot send (control characters, DEL, non-Latin-1) get 400 here
 *   instead of an exception out of http.request;
 * - calls (POST, DELETE) and relayed GET streams use separate agents and separate per-owner limits, so
 *   long-lived streams never take the sockets calls need; beyond a limit the answer is 503 at once
 *   (Retry-After), never a queue inside the agent;
 * - connecting and waiting for the owner's response headers are timed (502 when either runs out);
 * - the request carries an HMAC (cluster/forward-auth.ts) so the owner does not forward it again,
 *   which no client can forge; it also covers the verified principal the request carries
 *   (cluster/forward-principal.ts), which the owner then takes instead of checking the token again.
 * The state lives in one Forwarder per node (agents, counts, relayed streams), not in the module.
 */
import { Agent, request, STATUS_CODES, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { NodeOptions } from '../config.js';
import { RpcCodes } from '../errors.js';
import { log } from '../log.js';
import { Bodies, errorBody } from '../protocol/jsonrpc.js';
import { createForwardAuth, FORWARD_AUTH_HEADER, type ForwardAuth } from '../cluster/forward-auth.js';
import { JSON_TYPE, Status, writeJson } from './http.js';
import { FR_NO_TAG, FR_OWNER_UNROUTABLE, FR_STALE_ROUTE, M_OTHER, type ForwardFailure } from '../metrics/metrics.js';
import type { NodeContext } from './context.js';
import { CLIENT_KEY_HEADER } from './client-limits.js';
import { PRINCIPAL_HEADER } from '../cluster/forward-principal.js';

/** The only path forwarded (and covered by the forward HMAC). */
const PATH = '/mcp';

/** Response headers relayed to the client; hop-by-hop and framing headers are uWS's own. */
const RELAYED = ['content-type', 'mcp-session-id', 'cache-control', 'allow', 'x-accel-buffering', 'www-authenticate', 'retry-after'];

/** Request headers a forwarded request carries over. */
export const PASSED = [
  'host',
  'origin',
  'accept',
  'content-type',
  'mcp-session-id',
  'mcp-protocol-version',
  'last-event-id',
  // The owner checks the caller's token again (from its own cache once seen).
  'authorization',
] as const;

/**
 * What Node's http client refuses in a header value (its checkInvalidHeaderChar): anything but TAB,
 * visible ASCII, space and Latin-1. uWS's parser drops requests with most control bytes itself but
 * passes DEL (0x7F); getHeader hands bytes over one character each (Latin-1), so bytes above 0x7F are
 * relayed as they came.
 */
const UNSENDABLE = /[^\t\x20-\x7e\x80-\xff]/;

const BODY_BAD_HEADER = errorBody(
  null,
  RpcCodes.INVALID_REQUEST,
  'Bad Request: a header value holds characters that cannot be forwarded (control characters or non-Latin-1)',
);
const BODY_OWNER_BUSY = errorBody(
  null,
  RpcCodes.CONNECTION_CLOSED,
  'Service Unavailable: too many requests in flight to the node that owns this session, retry later',
);
const BODY_OWNER_TIMEOUT = errorBody(
  null,
  RpcCodes.CONNECTION_CLOSED,
  'Bad Gateway: the node that owns this session did not answer in time, retry later',
);
const BODY_OWNER_ERROR = errorBody(
  null,
  RpcCodes.CONNECTION_CLOSED,
  'Bad Gateway: the connection to the node that owns this session failed, retry later',
);
const STATUS_502 = Status[502];
const STATUS_503 = '503 Service Unavailable';
/** Seconds a client is asked to wait when an owner has too many requests in flight. */
const RETRY_AFTER_S = '1';

/** Relayed SSE streams in flight, so a draining node can end them cleanly (with `retry:`). */
interface Relay {
  res: HttpResponse;
  end(retryMs: number): void;
}

type ForwardConfig = Pick<
  NodeOptions,
  'clusterSecret' | 'nodeId' | 'forwardConnectTimeoutMs' | 'forwardResponseTimeoutMs' | 'forwardMaxPerOwner' | 'forwardMaxStreamsPerOwner'
>;

/** One node's forwarding state. */
export class Forwarder {
  readonly auth: ForwardAuth;
  /** Calls: pooled keep-alive sockets, as many per owner as calls may be in flight to it. */
  readonly calls: Agent;
  /** GET streams: one socket each for the stream's life, never pooled (a stream ends its socket). */
  readonly streams: Agent;
  readonly callsInFlight = new Map<string, number>();
  readonly streamsOpen = new Map<string, number>();
  readonly relays = new Set<Relay>();
  readonly connectMs: number;
  readonly responseMs: number;
  readonly maxCalls: number;
  readonly maxStreams: number;

  constructor(config: Readonly<ForwardConfig>) {
    this.auth = createForwardAuth(config.clusterSecret, config.nodeId);
    this.connectMs = config.forwardConnectTimeoutMs;
    this.responseMs = config.forwardResponseTimeoutMs;
    this.maxCalls = config.forwardMaxPerOwner;
    this.maxStreams = config.forwardMaxStreamsPerOwner;
    // maxSockets equals the per-owner limit checked before each request: the agent never queues.
    this.calls = new Agent({ keepAlive: true, maxSockets: this.maxCalls, maxFreeSockets: Math.min(64, this.maxCalls), timeout: 0 });
    this.streams = new Agent({ keepAlive: false, maxSockets: this.maxStreams, timeout: 0 });
  }

  close(): void {
    this.calls.destroy();
    this.streams.destroy();
  }
}

/**
 * Ends every relayed SSE stream with `retry:`: the client reconnects (with Last-Event-ID) through the
 * load balancer, which by then sends it to a live node that relays to the owner. Without this, the
 * streams would be cut when the draining process exits.
 */
export function endRelayedStreams(st: NodeContext): number {
  const fw = st.forwarder;
  if (fw === null) return 0;
  const n = fw.relays.size;
  for (const r of [...fw.relays]) r.end(st.config.sseRetryMs);
  return n;
}

/**
 * True when the request was forwarded by a peer (valid forward HMAC): the session is then not
 * forwarded again. A header that does not verify is counted and ignored: the sender is a client.
 */
export function fromPeer(st: NodeContext, req: HttpRequest, method: string, sid: string): boolean {
  const header = req.getHeader(FORWARD_AUTH_HEADER);
  if (header === '') return false;
  if (peerSigned(st.forwarder!, req, method, sid, header)) return true;
  st.metrics.forwardAuthRejected.inc();
  return false;
}

/**
 * True when `header` (a non-empty x-mcp-forward-auth) was signed by a peer for this request and the
 * identity headers it carries: the client key and, when present, the principal with the
 * Authorization header. A client that adds or changes either makes it fail.
 */
export function peerSigned(fw: Forwarder, req: HttpRequest, method: string, sid: string, header: string): boolean {
  const principal = req.getHeader(PRINCIPAL_HEADER);
  return fw.auth.verify(
    header,
    method,
    PATH,
    sid,
    Date.now(),
    req.getHeader(CLIENT_KEY_HEADER),
    principal,
    principal === '' ? '' : req.getHeader('authorization'),
  );
}

/**
 * The load balancer's route mark: how it chose this node for a request naming a session. The local
 * cluster's HAProxy and the Traefik configuration in deploy/ set it and drop any value a client sent;
 * it only labels a metric, so a balancer that passes a client's value through skews a count, nothing more.
 */
export const ROUTE_MARK_HEADER = 'x-mcp-route';

/** Why a request for another node's session reached this node (FORWARD_REASONS index), from the route mark. */
export function forwardReason(req: HttpRequest): number {
  const mark = req.getHeader(ROUTE_MARK_HEADER);
  return mark === 'owner' ? FR_OWNER_UNROUTABLE : mark === 'cookie' ? FR_STALE_ROUTE : FR_NO_TAG;
}

export interface ForwardRequest {
  method: 'POST' | 'GET' | 'DELETE';
  /** host:port of the owner, validated by the directory (cluster/peer-address.ts). */
  address: string;
  /** Request headers to pass on (lower-case names, only those that are set). */
  headers: Record<string, string>;
  body: string | null;
  /** Metrics index of the JSON-RPC method, for the answers written here. */
  metricsMethod?: number;
  /** Why the request reached this node (FORWARD_REASONS index). */
  reason: number;
}

/** One forwarded exchange, from the per-owner slot taken to its release. */
interface Exchange {
  st: NodeContext;
  fw: Forwarder;
  res: HttpResponse;
  fr: ForwardRequest;
  stream: boolean;
  /** Nothing more may be written to `res`: the client went away, or the answer is complete. */
  closed: boolean;
  /** The owner's response headers were relayed. */
  started: boolean;
  released: boolean;
  req: ClientRequest | null;
  upstream: IncomingMessage | null;
  timer: NodeJS.Timeout | null;
  relay: Relay | null;
}

/**
 * Relays `fr` to its owner and the answer back to `res`. The caller has read the request already;
 * `res.onAborted` is (re)bound here, so call it synchronously from the handler or after the body.
 */
export function forward(st: NodeContext, res: HttpResponse, fr: ForwardRequest, alreadyAborted: () => boolean): void {
  const fw = st.forwarder!;
  st.metrics.forwarded.inc();
  st.metrics.forwardedByReason.inc(fr.reason);
  const method = fr.metricsMethod ?? M_OTHER;
  for (const name in fr.headers) {
    if (UNSENDABLE.test(fr.headers[name])) {
      if (!alreadyAborted()) res.cork(() => writeJson(res, 400, BODY_BAD_HEADER));
      return failed(st, 'bad_header', method, 400);
    }
  }
  const stream = fr.method === 'GET';
  const counts = stream ? fw.streamsOpen : fw.callsInFlight;
  const n = counts.get(fr.address) ?? 0;
  if (n >= (stream ? fw.maxStreams : fw.maxCalls)) {
    if (!alreadyAborted())
      res.cork(() =>
        res.writeStatus(STATUS_503).writeHeader('retry-after', RETRY_AFTER_S).writeHeader('content-type', JSON_TYPE).end(BODY_OWNER_BUSY),
      );
    return failed(st, 'owner_busy', method, 503);
  }
  counts.set(fr.address, n + 1);
  const ex: Exchange = {
    st,
    fw,
    res,
    fr,
    stream,
    closed: false,
    started: false,
    released: false,
    req: null,
    upstream: null,
    timer: null,
    relay: null,
  };
  res.onAborted(() => clientGone(ex));
  if (alreadyAborted()) return clientGone(ex);
  send(ex, 0);
}

function failed(st: NodeContext, reason: ForwardFailure, method: number, status: number): void {
  st.metrics.forwardFailed(reason);
  st.metrics.request(method, status, -1);
}

function send(ex: Exchange, attempt: number): void {
  const { fw, fr } = ex;
  const colon = fr.address.lastIndexOf(':');
  const headers: Record<string, string> = {
    ...fr.headers,
    [FORWARD_AUTH_HEADER]: fw.auth.sign(
      fr.method,
      PATH,
      fr.headers['mcp-session-id'] ?? '',
      Date.now(),
      fr.headers[CLIENT_KEY_HEADER] ?? '',
      fr.headers[PRINCIPAL_HEADER] ?? '',
      fr.headers[PRINCIPAL_HEADER] === undefined ? '' : (fr.headers.authorization ?? ''),
    ),
  };
  if (fr.body !== null) headers['content-length'] = String(Buffer.byteLength(fr.body));
  let req: ClientRequest;
  try {
    req = request({
      host: fr.address.slice(0, colon).replace(/^\[|\]$/g, ''),
      port: Number(fr.address.slice(colon + 1)),
      method: fr.method,
      path: PATH,
      headers,
      agent: ex.stream ? fw.streams : fw.calls,
    });
  } catch (err) {
    // Headers were checked above; this is whatever else http.request refuses synchronously.
    return answerFailure(ex, 'error', err as Error);
  }
  ex.req = req;
  ex.timer = setTimeout(onTimeout, fw.connectMs, ex, req, 'connect_timeout');
  req.on('socket', (socket: Socket) => {
    // A pooled keep-alive socket is connected already; a new one reports when it is.
    if (socket.connecting) socket.once('connect', () => waitForResponse(ex, req));
    else waitForResponse(ex, req);
  });
  req.on('response', (ur) => onResponse(ex, req, ur));
  req.on('error', (err: NodeJS.ErrnoException) => onRequestError(ex, req, err, attempt));
  req.end(fr.body ?? undefined);
}

/** Connected: the owner now has forwardResponseTimeoutMs to send its response headers. */
function waitForResponse(ex: Exchange, req: ClientRequest): void {
  if (ex.req !== req || ex.started || ex.closed) return;
  if (ex.timer !== null) clearTimeout(ex.timer);
  ex.timer = setTimeout(onTimeout, ex.fw.responseMs, ex, req, 'response_timeout');
}

function onTimeout(ex: Exchange, req: ClientRequest, reason: ForwardFailure): void {
  ex.timer = null;
  if (ex.req !== req || ex.started || ex.closed) return;
  answerFailure(ex, reason, null);
  req.destroy();
}

function clearTimer(ex: Exchange): void {
  if (ex.timer !== null) clearTimeout(ex.timer);
  ex.timer = null;
}

/** Frees the exchange's per-owner slot, once. */
function release(ex: Exchange): void {
  if (ex.released) return;
  ex.released = true;
  clearTimer(ex);
  if (ex.relay) ex.fw.relays.delete(ex.relay);
  const counts = ex.stream ? ex.fw.streamsOpen : ex.fw.callsInFlight;
  const n = (counts.get(ex.fr.address) ?? 1) - 1;
  if (n <= 0) counts.delete(ex.fr.address);
  else counts.set(ex.fr.address, n);
}

function clientGone(ex: Exchange): void {
  ex.closed = true;
  release(ex);
  ex.req?.destroy();
  ex.upstream?.destroy();
}

/** The owner's answer could not be had: 404 when nothing listens (the owner is gone), else 502. */
function answerFailure(ex: Exchange, reason: ForwardFailure, err: Error | null): void {
  const { st, res } = ex;
  const method = ex.fr.metricsMethod ?? M_OTHER;
  const closed = ex.closed;
  ex.closed = true;
  release(ex);
  if (reason === 'refused') {
    // The owner went away between the directory's last heartbeat and now: the session is gone, and
    // 404 is what makes the client re-initialize.
    log.warn('forwarding refused; answering 404', { address: ex.fr.address });
    if (!closed) res.cork(() => writeJson(res, 404, Bodies.sessionNotFound));
    return failed(st, reason, method, 404);
  }
  log.warn('forwarding failed; answering 502', { address: ex.fr.address, reason, err: err?.message });
  if (!closed)
    res.cork(() =>
      res
        .writeStatus(STATUS_502)
        .writeHeader('content-type', JSON_TYPE)
        .end(reason === 'error' ? BODY_OWNER_ERROR : BODY_OWNER_TIMEOUT),
    );
  failed(st, reason, method, 502);
}

function onRequestError(ex: Exchange, req: ClientRequest, err: NodeJS.ErrnoException, attempt: number): void {
  if (ex.req !== req || ex.closed) return;
  clearTimer(ex);
  // A pooled keep-alive socket the owner closed as idle (uWS does after 10 s) just as we reused
  // it: the owner never saw the request, so it is safe to send once more on a fresh socket.
  if (!ex.started && attempt === 0 && req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) return send(ex, 1);
  if (ex.started) {
    ex.closed = true;
    release(ex);
    ex.res.cork(() => ex.res.end());
    return;
  }
  answerFailure(ex, err.code === 'ECONNREFUSED' ? 'refused' : 'error', err);
}

function onResponse(ex: Exchange, req: ClientRequest, ur: IncomingMessage): void {
  clearTimer(ex);
  if (ex.req !== req || ex.closed) return void ur.destroy();
  ex.upstream = ur;
  ex.started = true;
  const { res, st } = ex;
  if (String(ur.headers['content-type'] ?? '').startsWith('text/event-stream')) {
    ex.relay = {
      res,
      end(retryMs: number): void {
        if (ex.closed) return release(ex);
        ex.closed = true;
        release(ex);
        ur.destroy();
        res.cork(() => {
          res.write(`retry: ${retryMs}\n\n`);
          res.end();
        });
      },
    };
    ex.fw.relays.add(ex.relay);
  }
  res.cork(() => {
    res.writeStatus(`${ur.statusCode} ${STATUS_CODES[ur.statusCode ?? 500] ?? ''}`);
    for (const name of RELAYED) {
      const v = ur.headers[name];
      if (typeof v === 'string') res.writeHeader(name, v);
    }
  });
  ur.on('data', (chunk: Buffer) => {
    if (ex.closed) return;
    let ok = true;
    res.cork(() => {
      ok = res.write(chunk);
    });
    if (!ok) {
      st.metrics.sseBackpressure.inc();
      ur.pause();
      res.onWritable(() => {
        // With a handler registered uWS leaves its own buffer in place until something writes; an
        // empty cork's uncork flushes it, so a relayed stream's tail does not wait for the next chunk.
        res.cork(() => {});
        ur.resume();
        return true;
      });
    }
  });
  const done = (): void => {
    release(ex);
    if (!ex.closed) res.cork(() => res.end());
    ex.closed = true;
  };
  ur.on('end', done);
  ur.on('error', done);
}
