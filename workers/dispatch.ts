/**
 * The MCP server side of every session in this worker: JSON-RPC requests, notifications and the
 * responses to our own server→client requests.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { ErrorCodes, McpRuntimeError, RpcCodes } from '../src/errors.js';
import { Bodies, classify, errorBody, MsgKind } from '../src/protocol/jsonrpc.js';
import { M_NOTIFICATION, M_OTHER, M_RESPONSE, methodIndex } from '../src/metrics/metrics.js';
import { subscriptionError } from './limits.js';
import type { GetMsg, InitMsg, PostMsg, ToWorker } from '../src/pool/messages.js';
import { isThenable, type Definitions } from './definitions.js';
import type { ModernHost } from './modern-host.js';
import type { HandlerExtra, JsonRpcNotification, JsonRpcRequestOut, RequestOptions } from './api.js';
import { E_TIMEOUT, E_UNSERIALIZABLE, WorkerMetrics } from './metrics.js';
import { FaultLog } from './faults.js';
import { authInfoOf } from './auth-info.js';
import { LAG_RESOLUTION_MS, lagSeconds } from '../src/metrics/hot.js';
import { isRpcError } from './rpc-error.js';
import { LateTimers, type Timed } from './late-timers.js';
import type { AuthInfo } from './api.js';
import {
  abortFlight,
  emit,
  newStream,
  openStream,
  replyJson,
  resume,
  Session,
  signalOf,
  type Exchange,
  type FrontSink,
  type Inflight,
  type Stream,
  type StreamLimits,
} from './session.js';

const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];
const NOT_FOUND_BODY = errorBody(null, RpcCodes.SESSION_NOT_FOUND, 'Session not found: initialize a new session');
const CONFLICT_BODY = errorBody(null, RpcCodes.CONNECTION_CLOSED, 'Conflict: only one GET stream per session may be open');
const EVENT_ID = /^(\d+)_(\d+)$/;

type Json = Record<string, unknown>;

export interface WorkerOptions extends StreamLimits {
  metrics: boolean;
  sessionIdleMs: number;
  sseRetryMs: number;
  requestTimeoutMs: number;
  /** MCP_HANDLER_TIMEOUT_MS: see run(). */
  handlerTimeoutMs: number;
  /** This worker's slot, for logs. */
  slot: number;
}

function resultBody(id: unknown, resultJson: string): string {
  return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${resultJson}}`;
}

/** `JSON.stringify`, or null when the value cannot be encoded (BigInt, cycle, throwing toJSON, undefined). */
function encode(value: unknown): string | null {
  try {
    const json = JSON.stringify(value);
    return typeof json === 'string' ? json : null;
  } catch {
    return null;
  }
}

function messageOf(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return 'unprintable error';
  }
}

/** `LegacyCall.tool` of a request that is not a tools/call (a tools/call holds its tool name, for the metric). */
const NO_TOOL: unique symbol = Symbol('not a tool call');

/**
 * One request a handler runs for: its in-flight record and the handler's `extra` in one object. The
 * functions of `extra` are made when first read (most handlers read none), from getters on this
 * prototype, so a handler may still take them off the object (`const { sendNotification } = extra`).
 * Its other members are the dispatcher's record of the call; a handler that writes to them can only
 * spoil its own answer.
 */
class LegacyCall implements Inflight, HandlerExtra, Timed {
  controller: AbortController | null = null;
  cancelled = false;
  abortReason: unknown = undefined;
  timer: NodeJS.Timeout | null = null;
  settled = false;
  readonly sessionId: string;
  readonly _meta: Json | undefined;
  readonly authInfo: AuthInfo | undefined;
  readonly #worker: SessionWorker;
  readonly #session: Session;
  #notify: HandlerExtra['sendNotification'] | null = null;
  #request: HandlerExtra['sendRequest'] | null = null;
  #close: HandlerExtra['closeSSEStream'] | null = null;

  constructor(
    worker: SessionWorker,
    session: Session,
    /** The HTTP exchange the answer goes to; null when the client is not waiting for one. */
    readonly exchange: Exchange | null,
    readonly requestId: string | number,
    params: Json,
    readonly timeoutMs: number,
    /** performance.now() at the start; `deadline` is this plus the timeout. */
    readonly started: number,
    /** tools/call: the tool's name, for its metric. */
    readonly tool: unknown,
  ) {
    this.#worker = worker;
    this.#session = session;
    this.sessionId = session.id;
    this._meta = params._meta as Json | undefined;
    this.authInfo = session.authInfo;
  }

  get deadline(): number {
    return this.started + this.timeoutMs;
  }

  get signal(): AbortSignal {
    return signalOf(this);
  }

  get sendNotification(): HandlerExtra['sendNotification'] {
    return (this.#notify ??= (n: JsonRpcNotification) => this.#worker.notifyFrom(this.#session, this.exchange, n));
  }

  get sendRequest(): HandlerExtra['sendRequest'] {
    return (this.#request ??= <T>(r: JsonRpcRequestOut, resultSchema?: unknown, options?: RequestOptions): Promise<T> =>
      this.#worker.requestFrom<T>(this.#session, this.exchange, r, resultSchema, options, signalOf(this)));
  }

  get closeSSEStream(): HandlerExtra['closeSSEStream'] {
    return (this.#close ??= () => this.#worker.closeFrom(this.#session, this.exchange));
  }

  /** The session this call belongs to (the dispatcher's view; not part of `extra`). */
  static sessionOf(c: LegacyCall): Session {
    return c.#session;
  }
}

export class SessionWorker {
  readonly sessions = new Map<string, Session>();
  private readonly initCache = new Map<string, string>();
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });

  readonly metrics: WorkerMetrics;
  /** Contained faults: counted, and logged at a bounded rate. */
  readonly faults: FaultLog;
  /** Set by host.ts: the 2026-07-28 side of this worker. */
  modern: ModernHost | null = null;
  /** Handler timeouts of calls still running after their turn. */
  private readonly timers = new LateTimers<LegacyCall>((call) => this.timedOut(call));

  constructor(
    private readonly out: FrontSink,
    private readonly defs: Definitions,
    private readonly opts: WorkerOptions,
  ) {
    this.metrics = new WorkerMetrics([...defs.tools.keys()], opts.metrics);
    this.faults = new FaultLog(opts.slot, this.metrics);
    defs.onResourceUpdated = (uri) => this.resourceUpdated(uri);
    defs.onListChanged = (kind) => this.listChanged(kind);
    this.sweepTimer = setInterval(() => this.sweep(), Math.max(50, Math.min(opts.sessionIdleMs / 4, 5000)));
    this.lag.enable();
  }

  stop(): void {
    clearInterval(this.sweepTimer);
    this.lag.disable();
    for (const s of [...this.sessions.values()]) this.closeSession(s, 'shutdown', false);
  }

  onBatch(batch: ToWorker[]): void {
    for (let i = 0; i < batch.length; i++) {
      const m = batch[i];
      try {
        this.handle(m);
      } catch (err) {
        // One bad message must not take the worker (and its other sessions) down.
        const exchange = (m as { exchange?: number }).exchange;
        if (exchange)
          this.out.push({ type: 'json', exchange, status: 500, body: errorBody(null, RpcCodes.INTERNAL_ERROR, 'Internal error') });
        console.error(JSON.stringify({ level: 'error', msg: 'worker message failed', err: String((err as Error)?.stack ?? err) }));
      }
    }
  }

  private handle(m: ToWorker): void {
    switch (m.type) {
      case 'init':
        return this.init(m);
      case 'post':
        return this.post(m);
      case 'get':
        return this.get(m);
      case 'detach': {
        const s = this.sessions.get(m.sessionId);
        if (s) this.detach(s, m.exchange);
        return;
      }
      case 'delete': {
        const s = this.sessions.get(m.sessionId);
        if (s) this.closeSession(s, m.reason, false);
        return;
      }
      case 'modern':
      case 'cancel':
        // 2026-07-28 requests: stateless, served by workers/modern-host.ts.
        return this.modern?.handle(m);
      case 'stats': {
        const lag = lagSeconds(this.lag);
        this.lag.reset();
        const utilization = this.metrics.utilization();
        const request = m.request;
        void this.metrics.json().then((metrics) => {
          this.out.push({
            type: 'stats',
            request,
            stats: { sessions: this.sessions.size, eventLoopLagSeconds: lag, utilization, metrics },
          });
        });
        return;
      }
    }
  }

  // ---- sessions ---------------------------------------------------------------------------------

  private init(m: InitMsg): void {
    const msg = JSON.parse(m.body) as Json;
    const params = (msg.params ?? {}) as Json;
    const s = new Session(m.sessionId, m.version);
    if (m.auth !== undefined) s.authInfo = authInfoOf(m.auth);
    s.clientCapabilities = (params.capabilities as Json) ?? {};
    s.clientInfo = params.clientInfo ?? null;
    this.sessions.set(s.id, s);
    let body = this.initCache.get(m.version);
    if (body === undefined) {
      body = JSON.stringify({
        protocolVersion: m.version,
        capabilities: this.defs.capabilities(),
        serverInfo: this.defs.serverInfo,
        ...(this.defs.instructions ? { instructions: this.defs.instructions } : {}),
      });
      this.initCache.set(m.version, body);
    }
    this.out.push({ type: 'json', exchange: m.exchange, status: 200, body: resultBody(msg.id, body) });
  }

  private closeSession(s: Session, reason: string, tellFront: boolean): void {
    if (s.closed) return;
    s.closed = true;
    this.sessions.delete(s.id);
    if (s.inflight) {
      for (const f of s.inflight.values()) {
        // Nobody is left to answer: a later outcome of the handler is dropped unread.
        f.settled = true;
        LateTimers.clear(f);
        abortFlight(f, new McpRuntimeError(ErrorCodes.MCP_ERR_SESSION_CLOSED, 'session closed'));
      }
      s.inflight.clear();
    }
    if (s.outbound) {
      for (const p of s.outbound.values()) {
        clearTimeout(p.timer);
        p.reject(new McpRuntimeError(ErrorCodes.MCP_ERR_SESSION_CLOSED, 'session closed'));
      }
      s.outbound.clear();
    }
    // Every open exchange of the session ends now; clients that come back get 404 and re-initialize.
    if (s.exchanges) {
      for (const ex of s.exchanges.values()) {
        if (ex.stream?.conn) this.out.push({ type: 'close', exchange: ex.stream.conn, retryMs: this.opts.sseRetryMs });
        else if (!ex.stream && !ex.gone) this.out.push({ type: 'json', exchange: ex.c, status: 404, body: NOT_FOUND_BODY });
      }
      s.exchanges.clear();
    }
    if (s.standalone?.conn) this.out.push({ type: 'close', exchange: s.standalone.conn, retryMs: this.opts.sseRetryMs });
    if (s.streams)
      for (const st of s.streams.values()) if (st.conn) this.out.push({ type: 'close', exchange: st.conn, retryMs: this.opts.sseRetryMs });
    if (tellFront) this.out.push({ type: 'gone', sessionId: s.id, reason });
  }

  private sweep(): void {
    const now = Date.now();
    const idle = this.opts.sessionIdleMs;
    for (const s of this.sessions.values()) {
      if (s.busy()) s.lastSeen = now;
      else if (now - s.lastSeen > idle) this.closeSession(s, 'idle', true);
    }
  }

  private missing(c: number): void {
    if (c) this.out.push({ type: 'json', exchange: c, status: 404, body: NOT_FOUND_BODY });
  }

  // ---- POST ---------------------------------------------------------------------------------------

  private post(m: PostMsg): void {
    const s = this.sessions.get(m.sessionId);
    if (!s) return this.missing(m.exchange);
    s.lastSeen = Date.now();
    if (m.auth !== undefined) s.authInfo = authInfoOf(m.auth);
    const parsed = m.unparsed ? this.readUnparsed(m) : (JSON.parse(m.body) as Json | Json[]);
    if (parsed === null) return;
    const batch = Array.isArray(parsed);
    const msgs = batch ? parsed : [parsed];
    let requests = 0;
    for (const msg of msgs) if (typeof msg.method === 'string' && 'id' in msg) requests++;
    let ex: Exchange | null = null;
    if (requests > 0 && m.exchange) {
      ex = { c: m.exchange, pending: requests, batch, responses: [], stream: null, gone: false };
      (s.exchanges ??= new Map()).set(m.exchange, ex);
    }
    for (const msg of msgs) {
      if (typeof msg.method !== 'string') this.clientResponse(s, msg);
      else if (!('id' in msg)) this.notification(s, msg);
      else this.request(s, ex, msg);
    }
    // "If the input consists solely of JSON-RPC responses or notifications ... the server MUST return
    // HTTP status code 202 Accepted with no body" (the front answers this itself for a body it read).
    if (requests === 0 && m.unparsed && m.exchange) this.out.push({ type: 'json', exchange: m.exchange, status: 202, body: '' });
  }

  /**
   * The one JSON message of a POST the front passed unparsed (one object, never an initialize: see
   * sessionPostUnparsed in src/front/mcp.ts), with its method reported for the metrics; null when
   * it was answered here as the front answers a body it reads (400 for no JSON, no JSON-RPC message).
   */
  private readUnparsed(m: PostMsg): Json | null {
    let parsed: unknown;
    try {
      parsed = JSON.parse(m.body);
    } catch {
      this.refuseUnparsed(m.exchange, Bodies.parseError);
      return null;
    }
    const kind = classify(parsed);
    const msg = parsed as Json;
    // The front's check makes an initialize impossible here; were one to arrive, it is no request for a session.
    if (kind === MsgKind.Invalid || (kind === MsgKind.Request && msg.method === 'initialize')) {
      this.refuseUnparsed(m.exchange, Bodies.invalidRequest);
      return null;
    }
    const method = kind === MsgKind.Request ? methodIndex(msg.method) : kind === MsgKind.Notification ? M_NOTIFICATION : M_RESPONSE;
    if (m.exchange) this.out.push({ type: 'method', exchange: m.exchange, method });
    return msg;
  }

  private refuseUnparsed(exchange: number, body: string): void {
    if (!exchange) return;
    this.out.push({ type: 'method', exchange, method: M_OTHER });
    this.out.push({ type: 'json', exchange, status: 400, body });
  }

  private notification(s: Session, msg: Json): void {
    const params = (msg.params ?? {}) as Json;
    switch (msg.method) {
      case 'notifications/cancelled': {
        const f = s.inflight?.get(params.requestId as string | number);
        if (f) {
          f.cancelled = true;
          abortFlight(f, typeof params.reason === 'string' ? params.reason : 'cancelled');
        }
        return;
      }
      default:
        // notifications/initialized, roots/list_changed, progress: nothing to do per session.
        return;
    }
  }

  private clientResponse(s: Session, msg: Json): void {
    const id = msg.id;
    if (typeof id !== 'number') return;
    const p = s.outbound?.get(id);
    if (!p) return;
    s.outbound!.delete(id);
    clearTimeout(p.timer);
    if (msg.error) {
      const e = msg.error as { code?: number; message?: string; data?: unknown };
      const err = new Error(e.message ?? 'client error') as Error & { code?: number; data?: unknown };
      err.code = e.code;
      err.data = e.data;
      p.reject(err);
    } else p.resolve(msg.result);
  }

  /** Delivers one response of exchange `ex` (JSON collected, or an event on its stream). */
  private deliver(s: Session, ex: Exchange | null, body: string): void {
    if (!ex) return;
    ex.pending--;
    const done = ex.pending === 0;
    if (ex.stream) emit(this.out, s, ex.stream, body, done, this.opts);
    else {
      ex.responses!.push(body);
      if (done) replyJson(this.out, ex, 200);
    }
    if (done) s.exchanges?.delete(ex.c);
  }

  private request(s: Session, ex: Exchange | null, msg: Json): void {
    const id = msg.id as string | number;
    const params = (msg.params ?? {}) as Json;
    const defs = this.defs;
    switch (msg.method) {
      case 'ping':
        return this.deliver(s, ex, resultBody(id, '{}'));
      case 'tools/list':
        return this.deliver(s, ex, resultBody(id, defs.toolsListJson()));
      case 'resources/templates/list':
        return this.deliver(s, ex, resultBody(id, defs.templatesListJson()));
      case 'prompts/list':
        return this.deliver(s, ex, resultBody(id, defs.promptsListJson()));
      case 'logging/setLevel': {
        const i = LOG_LEVELS.indexOf(params.level as string);
        if (i < 0) return this.deliver(s, ex, errorBody(id, RpcCodes.INVALID_PARAMS, `Invalid log level: ${String(params.level)}`));
        s.logLevel = i;
        return this.deliver(s, ex, resultBody(id, '{}'));
      }
      case 'resources/subscribe':
      case 'resources/unsubscribe': {
        if (typeof params.uri !== 'string') return this.deliver(s, ex, errorBody(id, RpcCodes.INVALID_PARAMS, 'uri must be a string'));
        if (msg.method === 'resources/subscribe') {
          const refused = subscriptionError(s.subscriptions, params.uri);
          if (refused) return this.deliver(s, ex, errorBody(id, RpcCodes.INVALID_PARAMS, refused));
          (s.subscriptions ??= new Set()).add(params.uri);
        } else s.subscriptions?.delete(params.uri);
        return this.deliver(s, ex, resultBody(id, '{}'));
      }
      case 'initialize':
        return this.deliver(s, ex, errorBody(id, RpcCodes.INVALID_REQUEST, 'Invalid Request: session is already initialized'));
      case 'tools/call':
        return this.run(
          s,
          ex,
          id,
          params,
          defs.toolTimeout(params.name, this.opts.handlerTimeoutMs),
          (extra) => defs.callTool(params, extra),
          params.name,
        );
      case 'resources/list':
        return this.run(s, ex, id, params, this.opts.handlerTimeoutMs, (extra) => defs.listResources(extra));
      case 'resources/read':
        return this.run(s, ex, id, params, this.opts.handlerTimeoutMs, (extra) => defs.readResource(params, extra));
      case 'prompts/get':
        return this.run(s, ex, id, params, this.opts.handlerTimeoutMs, (extra) => defs.getPrompt(params, extra));
      case 'completion/complete':
        return this.run(s, ex, id, params, this.opts.handlerTimeoutMs, () => defs.complete(params));
      default:
        return this.deliver(s, ex, errorBody(id, RpcCodes.METHOD_NOT_FOUND, `Method not found: ${String(msg.method)}`));
    }
  }

  /**
   * Runs a handler with an `extra` bound to this request and answers with its outcome, exactly once:
   * the first of result, error, or timeout wins. A handler that answers in this turn is answered at
   * once, with no promise. After `timeoutMs` the request's signal is aborted (reason: an
   * MCP_ERR_HANDLER_TIMEOUT error) and it is answered -32603 "Handler timed out after N ms" (-32001,
   * the SDK's RequestTimeout, is what clients read as "session not found" here); a handler whose
   * promise never settles thus costs nothing beyond its own closure. The timer is made only for a call
   * still running at the end of the turn (late-timers.ts). The continuations never throw: a result
   * JSON cannot encode becomes -32603 for this request alone.
   */
  private run(
    s: Session,
    ex: Exchange | null,
    id: string | number,
    params: Json,
    timeoutMs: number,
    fn: (extra: HandlerExtra) => unknown,
    tool: unknown = NO_TOOL,
    started = performance.now(),
  ): void {
    const call = new LegacyCall(this, s, ex, id, params, timeoutMs, started, tool);
    (s.inflight ??= new Map()).set(id, call);
    let p: unknown;
    try {
      p = fn(call);
    } catch (err) {
      this.settleError(call, err);
      return;
    }
    if (isThenable(p)) {
      this.timers.add(call);
      // Promise.resolve returns a native promise as it is.
      Promise.resolve(p).then(
        (result) => this.settleResult(call, result),
        (err) => this.settleError(call, err),
      );
    } else this.settleResult(call, p);
  }

  private settleResult(call: LegacyCall, result: unknown): void {
    if (call.tool !== NO_TOOL) this.metrics.toolCall(call.tool, (result as { isError?: boolean } | null)?.isError === true, call.started);
    if (call.settled) return;
    const json = encode(result ?? {});
    if (json !== null) return this.finish(call, resultBody(call.requestId, json));
    // Find out why, for the client and the log (only on this rare path).
    let why = 'the value has no JSON form';
    try {
      JSON.stringify(result);
    } catch (err) {
      why = messageOf(err);
    }
    this.faults.record(E_UNSERIALIZABLE, 'handler result cannot be serialized; answered -32603', why, 'warn');
    this.finish(call, errorBody(call.requestId, RpcCodes.INTERNAL_ERROR, `Result could not be serialized: ${why}`));
  }

  private settleError(call: LegacyCall, err: unknown): void {
    if (call.settled) return;
    const id = call.requestId;
    let body: string | null = null;
    if (isRpcError(err)) {
      try {
        body = errorBody(id, err.rpcCode, err.message, err.data);
      } catch {
        // `data` JSON cannot encode: the code and message still go out.
        body = errorBody(id, err.rpcCode, messageOf(err));
      }
    }
    this.finish(call, body ?? errorBody(id, RpcCodes.INTERNAL_ERROR, messageOf(err)));
  }

  /** Counts and logs a handler that ran past its timeout (either era). */
  handlerTimedOut(requestId: string | number, message: string): void {
    this.faults.record(
      E_TIMEOUT,
      'request handler timed out; answered -32603 and aborted its signal',
      `request ${JSON.stringify(requestId)}: ${message}`,
      'warn',
    );
  }

  /** The call's deadline passed: see run(). */
  private timedOut(call: LegacyCall): void {
    const ms = call.timeoutMs;
    const message = `Handler timed out after ${ms} ms`;
    this.handlerTimedOut(call.requestId, message);
    // Answered before the abort: whatever the handler makes of the abort comes too late to count.
    this.finish(call, errorBody(call.requestId, RpcCodes.INTERNAL_ERROR, message, { timeoutMs: ms }));
    abortFlight(call, new McpRuntimeError(ErrorCodes.MCP_ERR_HANDLER_TIMEOUT, message));
  }

  private finish(call: LegacyCall, body: string): void {
    call.settled = true;
    LateTimers.clear(call);
    const s = LegacyCall.sessionOf(call);
    const id = call.requestId;
    if (s.inflight?.get(id) === call) s.inflight.delete(id);
    if (s.closed) return;
    // The client stopped waiting; whatever the handler made of the abort, the answer is "cancelled"
    // (the HTTP exchange still needs one, and the client ignores it).
    this.deliver(s, call.exchange, call.cancelled ? errorBody(id, RpcCodes.REQUEST_CANCELLED, 'Request cancelled') : body);
  }

  // ---- server → client --------------------------------------------------------------------------

  /** The stream a request-related message goes on: the request's own, switching it to SSE. */
  private relatedStream(s: Session, ex: Exchange | null): Stream {
    if (!ex || ex.pending === 0) return (s.standalone ??= newStream(0, 0));
    if (ex.stream) return ex.stream;
    const conn = ex.gone ? 0 : ex.c;
    const stream = newStream(s.nextStreamId++, conn);
    ex.stream = stream;
    if (conn) openStream(this.out, s, stream, conn);
    // Responses a batch already produced go first, as events.
    const earlier = ex.responses;
    ex.responses = null;
    if (earlier) for (const body of earlier) emit(this.out, s, stream, body, false, this.opts);
    return stream;
  }

  private send(s: Session, ex: Exchange | null, body: string): void {
    emit(this.out, s, this.relatedStream(s, ex), body, false, this.opts);
  }

  /** `extra.sendNotification` of a call in session `s` (LegacyCall). */
  notifyFrom(s: Session, ex: Exchange | null, n: JsonRpcNotification): Promise<void> {
    if (s.closed) return Promise.reject(new McpRuntimeError(ErrorCodes.MCP_ERR_SESSION_CLOSED, 'session closed'));
    if (n.method === 'notifications/message' && s.logLevel >= 0) {
      const level = LOG_LEVELS.indexOf(String(n.params?.level));
      if (level >= 0 && level < s.logLevel) return Promise.resolve();
    }
    const body = encode({ jsonrpc: '2.0', method: n.method, params: n.params });
    // Only this call fails: the request and the session go on.
    if (body === null)
      return Promise.reject(
        new McpRuntimeError(ErrorCodes.MCP_ERR_UNSERIALIZABLE, `Notification ${String(n.method)} could not be serialized`),
      );
    this.send(s, ex, body);
    return Promise.resolve();
  }

  /** `extra.closeSSEStream` of a call in session `s` (LegacyCall). */
  closeFrom(s: Session, ex: Exchange | null): void {
    if (!ex || ex.pending === 0 || s.closed) return;
    const stream = this.relatedStream(s, ex);
    if (stream.conn) {
      this.out.push({ type: 'close', exchange: stream.conn, retryMs: this.opts.sseRetryMs });
      stream.conn = 0;
    }
  }

  /** `extra.sendRequest` of a call in session `s` (LegacyCall). */
  requestFrom<T>(
    s: Session,
    ex: Exchange | null,
    r: JsonRpcRequestOut,
    schema: unknown,
    options: RequestOptions | undefined,
    parent: AbortSignal,
  ): Promise<T> {
    if (s.closed) return Promise.reject(new McpRuntimeError(ErrorCodes.MCP_ERR_SESSION_CLOSED, 'session closed'));
    const need =
      r.method === 'sampling/createMessage'
        ? 'sampling'
        : r.method === 'elicitation/create'
          ? 'elicitation'
          : r.method === 'roots/list'
            ? 'roots'
            : null;
    if (need && !s.clientCapabilities[need]) {
      return Promise.reject(
        new McpRuntimeError(ErrorCodes.MCP_ERR_CAPABILITY, `Client does not support ${need} (required for ${r.method})`),
      );
    }
    const id = s.nextOutId;
    // Encoded before anything is registered, so a request JSON cannot encode leaves nothing behind.
    const body = encode({ jsonrpc: '2.0', id, method: r.method, params: r.params });
    if (body === null)
      return Promise.reject(new McpRuntimeError(ErrorCodes.MCP_ERR_UNSERIALIZABLE, `Request ${String(r.method)} could not be serialized`));
    s.nextOutId++;
    return new Promise<T>((resolve, reject) => {
      const timeout = options?.timeout ?? this.opts.requestTimeoutMs;
      const cancel = (reason: Error): void => {
        if (!s.outbound?.delete(id)) return;
        clearTimeout(timer);
        if (!s.closed)
          this.send(
            s,
            ex,
            JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: String(reason) } }),
          );
        reject(reason);
      };
      const timer = setTimeout(
        () => cancel(new McpRuntimeError(ErrorCodes.MCP_ERR_REQUEST_TIMEOUT, `Request ${r.method} timed out after ${timeout} ms`)),
        timeout,
      );
      const onAbort = (): void => cancel(parent.reason instanceof Error ? parent.reason : new Error(String(parent.reason ?? 'aborted')));
      parent.addEventListener('abort', onAbort, { once: true });
      options?.signal?.addEventListener('abort', onAbort, { once: true });
      (s.outbound ??= new Map()).set(id, {
        resolve: (v: unknown) => {
          parent.removeEventListener('abort', onAbort);
          const sc = schema as { safeParse?: (x: unknown) => { success: boolean; data?: unknown; error?: unknown } } | undefined;
          if (sc && typeof sc.safeParse === 'function') {
            const parsed = sc.safeParse(v);
            if (!parsed.success) return reject(new Error(`Invalid result for ${r.method}: ${String(parsed.error)}`));
            return resolve(parsed.data as T);
          }
          resolve(v as T);
        },
        reject: (e: Error) => {
          parent.removeEventListener('abort', onAbort);
          reject(e);
        },
        timer,
      });
      this.send(s, ex, body);
    });
  }

  private resourceUpdated(uri: string): void {
    // The front hands it to the node's 2026-07-28 listen streams.
    this.out.push({ type: 'updated', uri });
    const body = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri } });
    for (const s of this.sessions.values()) {
      if (s.subscriptions?.has(uri)) emit(this.out, s, (s.standalone ??= newStream(0, 0)), body, false, this.opts);
    }
  }

  /** A definitions change reaches every session of this worker, on its standalone (GET) stream. */
  private listChanged(kind: 'tools' | 'resources' | 'prompts'): void {
    this.out.push(kind === 'tools' ? { type: 'changed', kind, toolHeaders: this.defs.toolHeaderFlags() } : { type: 'changed', kind });
    const body = `{"jsonrpc":"2.0","method":"notifications/${kind}/list_changed"}`;
    for (const s of this.sessions.values()) emit(this.out, s, (s.standalone ??= newStream(0, 0)), body, false, this.opts);
  }

  // ---- GET ----------------------------------------------------------------------------------------

  private get(m: GetMsg): void {
    const s = this.sessions.get(m.sessionId);
    if (!s) return this.missing(m.exchange);
    s.lastSeen = Date.now();
    const match = m.lastEventId ? EVENT_ID.exec(m.lastEventId) : null;
    if (match) {
      const streamId = Number(match[1]);
      const stream = streamId === 0 ? s.standalone : (s.streams?.get(streamId) ?? this.exchangeStream(s, streamId));
      if (stream) return resume(this.out, s, stream, m.exchange, Number(match[2]));
    }
    // "The server MUST either return Content-Type: text/event-stream ... or else return 405"; one
    // standalone stream per session keeps "each message on exactly one stream" true.
    if (s.standalone?.conn) {
      this.out.push({ type: 'json', exchange: m.exchange, status: 409, body: CONFLICT_BODY });
      return;
    }
    const stream = (s.standalone ??= newStream(0, 0));
    stream.conn = m.exchange;
    openStream(this.out, s, stream, m.exchange);
  }

  private exchangeStream(s: Session, streamId: number): Stream | null {
    if (!s.exchanges) return null;
    for (const ex of s.exchanges.values()) if (ex.stream?.id === streamId) return ex.stream;
    return null;
  }

  private detach(s: Session, c: number): void {
    const ex = s.exchanges?.get(c);
    if (ex) {
      if (ex.stream && ex.stream.conn === c) ex.stream.conn = 0;
      else if (!ex.stream) ex.gone = true;
    }
    if (s.standalone?.conn === c) s.standalone.conn = 0;
    if (s.streams) for (const st of s.streams.values()) if (st.conn === c) st.conn = 0;
    if (s.exchanges) for (const e of s.exchanges.values()) if (e.stream?.conn === c) e.stream.conn = 0;
  }
}
