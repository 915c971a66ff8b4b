/**
 * Serves one stateless 2026-07-28 request against the worker's Definitions: no session, no stream
 * ids, no server→client requests. Every result carries `resultType`; list and read results carry
 * caching hints; a handler's `inputRequired(...)` becomes an `input_required` result whose
 * `requestState` is sealed (src/cluster/request-state.ts) so the retry may land on any worker of any
 * node. The dispatcher writes through a `ModernSink`, so it runs the same in a worker thread and in a
 * unit test.
 */
import { performance } from 'node:perf_hooks';
import { ErrorCodes, McpRuntimeError, RpcCodes } from '../src/errors.js';
import { errorBody } from '../src/protocol/jsonrpc.js';
import {
  checkEnvelope,
  checkParamHeaders,
  clientCapabilitiesOf,
  completeJson,
  headerParamsOf,
  INPUT_REQUIRED_METHODS,
  META_LOG_LEVEL,
  META_SERVER_INFO,
  MODERN_VERSIONS,
  modernErrorBody,
  shapeResult,
  type CacheHints,
  type HeaderParam,
  type ModernError,
  type ModernHeaders,
} from '../src/protocol/modern.js';
import type { RequestStateSealer } from '../src/cluster/request-state.js';
import { isThenable, type Definitions } from './definitions.js';
import type { AuthInfo, HandlerExtra, JsonRpcNotification, McpRequestContext } from './api.js';
import { isRpcError, RpcError } from './rpc-error.js';
import { LateTimers } from './late-timers.js';

type Json = Record<string, unknown>;

const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];
/** Client capability each embedded request needs ("MUST NOT send an inputRequests that the client has not declared"). */
const INPUT_CAPABILITY: Readonly<Record<string, string>> = Object.freeze({
  'elicitation/create': 'elicitation',
  'sampling/createMessage': 'sampling',
  'roots/list': 'roots',
});
const MAX_INPUT_REQUESTS = 16;

/** One modern request as the front hands it over: the parsed message and the headers the revision mirrors. */
export interface ModernRequest {
  id: string | number;
  method: string;
  params: unknown;
  headers: ModernHeaders;
  /** The request's `mcp-param-*` headers by lower-cased name (bounded by the front). */
  paramHeaders?: Readonly<Record<string, string>>;
  /** The verified caller (authorization on). */
  authInfo?: AuthInfo;
  /** The caller's principal key (authorization on): the requestState it gets back is bound to it. */
  principal?: string;
}

/** Where the answer goes. `notify` switches the response to SSE; `reply` ends it (JSON, or the last event). */
export interface ModernSink {
  notify(body: string): void;
  reply(status: number, body: string): void;
}

export interface ModernOptions {
  handlerTimeoutMs: number;
  /** Hints on tools/list, prompts/list, resources/list, resources/templates/list and server/discover. */
  listCache: CacheHints;
  /** Hints on resources/read. */
  readCache: CacheHints;
  /** Called after each tools/call settles (worker metrics); optional. */
  onToolCall?: (name: unknown, isError: boolean, startedMs: number) => void;
  /** Called when a requestState sealed for another principal is refused (worker metrics); optional. */
  onStateRefused?: () => void;
  /** Called when a handler runs past its timeout (the worker's fault log and metrics); optional. */
  onTimeout?: (requestId: string | number, message: string) => void;
  now?: () => number;
}

/** A running request: `cancel` is the client closing its stream. */
export interface ModernFlight {
  cancel(): void;
}

/** State of one request in flight; the handler's timer and abort callbacks take it as an argument. */
interface Flight {
  req: ModernRequest;
  sink: ModernSink;
  /** Made when the handler first reads its signal (most never do): an AbortController costs microseconds per request. */
  controller: AbortController | null;
  /** Why the request was aborted, if it was before anyone asked for the signal. */
  abortReason: unknown;
  timer: NodeJS.Timeout | null;
  settled: boolean;
  /** Level index below which log notifications are dropped; -1: the request set none, so none are sent. */
  logLevel: number;
  /** performance.now() at the start, and when the handler times out. */
  started: number;
  deadline: number;
  timeoutMs: number;
  /** A tools/call: its outcome is counted (onToolCall). */
  toolCall: boolean;
}

/** The request's AbortSignal, made on first read, already aborted if the abort came first. */
function signalOf(f: Flight): AbortSignal {
  if (!f.controller) {
    f.controller = new AbortController();
    if (f.abortReason !== undefined) f.controller.abort(f.abortReason);
  }
  return f.controller.signal;
}

function abortFlight(f: Flight, reason: unknown): void {
  if (f.abortReason !== undefined) return;
  f.abortReason = reason;
  f.controller?.abort(reason);
}

/** A 2026-07-28 request carries no server-to-client requests: `extra.sendRequest` always rejects. */
function noServerRequests(): Promise<never> {
  return Promise.reject(
    new McpRuntimeError(
      ErrorCodes.MCP_ERR_CAPABILITY,
      'a 2026-07-28 request cannot carry server-to-client requests: return inputRequired(...) instead',
    ),
  );
}

function noop(): void {}

/**
 * `extra.mcpReq` of a 2026-07-28 request. A class, so `signal` is a getter on the prototype that
 * makes the request's AbortController on first read: an accessor in an object literal, or an
 * AbortController made for every request, costs V8 microseconds per call.
 */
class ModernRequestContext implements McpRequestContext {
  readonly #flight: Flight;
  readonly id: string | number;
  readonly _meta: Json;
  readonly clientCapabilities: Record<string, unknown>;

  constructor(
    flight: Flight,
    readonly notify: (n: JsonRpcNotification) => Promise<void>,
    readonly inputResponses: Json | undefined,
    readonly requestState: <T>() => T | undefined,
  ) {
    const params = flight.req.params as Json;
    this.#flight = flight;
    this.id = flight.req.id;
    this._meta = params._meta as Json;
    this.clientCapabilities = clientCapabilitiesOf(params);
  }

  get signal(): AbortSignal {
    return signalOf(this.#flight);
  }
}

/** The handler's `extra` on a 2026-07-28 request; a class for the same reason as ModernRequestContext. */
class ModernExtra implements HandlerExtra {
  readonly #flight: Flight;
  readonly sessionId = '';
  readonly requestId: string | number;
  readonly _meta: Json;
  readonly sendRequest = noServerRequests;
  readonly closeSSEStream = noop;
  readonly era = 'modern';
  readonly authInfo: AuthInfo | undefined;

  constructor(
    flight: Flight,
    readonly sendNotification: (n: JsonRpcNotification) => Promise<void>,
    readonly mcpReq: ModernRequestContext,
  ) {
    this.#flight = flight;
    this.requestId = flight.req.id;
    this._meta = mcpReq._meta;
    this.authInfo = flight.req.authInfo;
  }

  get signal(): AbortSignal {
    return signalOf(this.#flight);
  }
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function resultBody(id: string | number, json: string): string {
  return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${json}}`;
}

function messageOf(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return 'unprintable error';
  }
}

export class ModernDispatcher {
  private readonly now: () => number;
  /** Handler timeouts of calls still running after their turn. */
  private readonly timers = new LateTimers<Flight>((f) => this.timeout(f));
  private discoverJson = '';
  private discoverFor: string | null = null;
  /** `x-mcp-header` annotations per tool, rebuilt when the tools list changes. */
  private headerParams = new Map<string, HeaderParam[]>();
  private headerParamsFor: string | null = null;
  /** tools/list, prompts/list, resources/templates/list: the source list and its modern form. */
  private readonly lists = [
    { source: '', json: '' },
    { source: '', json: '' },
    { source: '', json: '' },
  ];

  constructor(
    private readonly defs: Definitions,
    private readonly sealer: RequestStateSealer,
    private readonly opts: ModernOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** Serves `req`; the sink gets exactly one `reply`. */
  dispatch(req: ModernRequest, sink: ModernSink): ModernFlight | null {
    const refused = checkEnvelope(req.method, req.params, req.headers);
    if (refused) {
      sink.reply(refused.status, modernErrorBody(req.id, refused));
      return null;
    }
    const params = req.params as Json;
    const defs = this.defs;
    switch (req.method) {
      case 'server/discover':
        sink.reply(200, resultBody(req.id, this.discover()));
        return null;
      case 'tools/list':
        sink.reply(200, resultBody(req.id, this.listJson(0, defs.toolsListJson())));
        return null;
      case 'prompts/list':
        sink.reply(200, resultBody(req.id, this.listJson(1, defs.promptsListJson())));
        return null;
      case 'resources/templates/list':
        sink.reply(200, resultBody(req.id, this.listJson(2, defs.templatesListJson())));
        return null;
      case 'tools/call': {
        const bad = this.checkToolHeaders(req, params);
        if (bad) {
          sink.reply(bad.status, modernErrorBody(req.id, bad));
          return null;
        }
        return this.run(
          req,
          sink,
          defs.toolTimeout(params.name, this.opts.handlerTimeoutMs),
          (extra) => defs.callTool(params, extra),
          true,
        );
      }
      case 'resources/list':
        return this.run(req, sink, this.opts.handlerTimeoutMs, (extra) => defs.listResources(extra));
      case 'resources/read':
        return this.run(req, sink, this.opts.handlerTimeoutMs, (extra) => defs.readResource(params, extra));
      case 'prompts/get':
        return this.run(req, sink, this.opts.handlerTimeoutMs, (extra) => defs.getPrompt(params, extra));
      case 'completion/complete':
        return this.run(req, sink, this.opts.handlerTimeoutMs, () => defs.complete(params));
      default:
        // checkEnvelope admits only methods this switch serves; a method added there but not here lands here.
        sink.reply(404, errorBody(req.id, RpcCodes.METHOD_NOT_FOUND, `Method not found: ${req.method}`));
        return null;
    }
  }

  /** Capabilities a modern client sees; changes reach it on `subscriptions/listen` streams (the front's). */
  capabilities(): Json {
    const caps: Json = { logging: {}, completions: {} };
    if (this.defs.tools.size) caps.tools = { listChanged: true };
    if (this.defs.resources.size || this.defs.templates.length) caps.resources = { subscribe: true, listChanged: true };
    if (this.defs.prompts.size) caps.prompts = { listChanged: true };
    return caps;
  }

  /**
   * A list result with resultType and hints, built once per version of the Definitions' cached list
   * (the same string until a registration or a list change replaces it).
   */
  private listJson(slot: 0 | 1 | 2, source: string): string {
    const c = this.lists[slot];
    if (c.source !== source) {
      c.source = source;
      c.json = completeJson(source, this.opts.listCache);
    }
    return c.json;
  }

  private discover(): string {
    // Rebuilt only when the definitions' list cache was reset (a registration or a list change).
    const key = this.defs.toolsListJson() + this.defs.promptsListJson();
    if (this.discoverFor !== key) {
      const result: Json = {
        supportedVersions: [...MODERN_VERSIONS],
        capabilities: this.capabilities(),
        ...(this.defs.instructions ? { instructions: this.defs.instructions } : {}),
        _meta: { [META_SERVER_INFO]: this.defs.serverInfo },
      };
      this.discoverJson = completeJson(JSON.stringify(result), this.opts.listCache);
      this.discoverFor = key;
    }
    return this.discoverJson;
  }

  private checkToolHeaders(req: ModernRequest, params: Json): ModernError | null {
    const list = this.defs.toolsListJson();
    if (this.headerParamsFor !== list) {
      const map = new Map<string, HeaderParam[]>();
      for (const t of (JSON.parse(list) as { tools: Array<{ name: string; inputSchema?: unknown }> }).tools) {
        const hp = headerParamsOf(t.inputSchema);
        if (hp.length) map.set(t.name, hp);
      }
      this.headerParams = map;
      this.headerParamsFor = list;
    }
    const hp = typeof params.name === 'string' ? this.headerParams.get(params.name) : undefined;
    return hp ? checkParamHeaders(hp, params.arguments, req.paramHeaders) : null;
  }

  /**
   * Runs a handler and answers once: result, error or timeout, whichever comes first. A request that
   * carries `requestState` or `inputResponses` has them verified before the handler runs.
   */
  private run(
    req: ModernRequest,
    sink: ModernSink,
    timeoutMs: number,
    fn: (extra: HandlerExtra) => unknown,
    toolCall = false,
  ): ModernFlight | null {
    const params = req.params as Json;
    let state: unknown;
    if ('requestState' in params) {
      const opened = this.openState(req, params.requestState);
      if (opened === null) {
        sink.reply(200, errorBody(req.id, RpcCodes.INVALID_PARAMS, 'Invalid or expired requestState'));
        return null;
      }
      state = opened.value;
    }
    const responses = params.inputResponses;
    if ('inputResponses' in params && !(isObject(responses) && Object.values(responses).every(isObject))) {
      sink.reply(200, errorBody(req.id, RpcCodes.INVALID_PARAMS, 'inputResponses must map each key to a response object'));
      return null;
    }
    const meta = params._meta as Json;
    const level = LOG_LEVELS.indexOf(meta[META_LOG_LEVEL] as string);
    const started = performance.now();
    const f: Flight = {
      req,
      sink,
      controller: null,
      abortReason: undefined,
      timer: null,
      settled: false,
      logLevel: level,
      started,
      deadline: started + timeoutMs,
      timeoutMs,
      toolCall,
    };
    let p: unknown;
    try {
      p = fn(this.extraFor(f, responses as Json | undefined, state));
    } catch (err) {
      this.settleError(f, err instanceof Error ? err : new Error(messageOf(err)));
      return null;
    }
    // A handler that answered in this turn is answered now: no promise, no timer (late-timers.ts).
    if (!isThenable(p)) {
      this.settleResult(f, p);
      return null;
    }
    this.timers.add(f);
    Promise.resolve(p).then(
      (result) => this.settleResult(f, result),
      (err) => this.settleError(f, err),
    );
    return { cancel: () => this.cancel(f) };
  }

  private openState(req: ModernRequest, state: unknown): { value: unknown } | null {
    if (typeof state !== 'string') return null;
    const params = req.params as Json;
    const opened = this.sealer.open(state, req.method, nameOf(req.method, params), this.now(), req.principal);
    if (!opened.ok) {
      // Refused as any state that fails verification; counted apart.
      if (opened.reason === 'wrong_principal') this.opts.onStateRefused?.();
      return null;
    }
    try {
      return { value: opened.payload === '' ? undefined : (JSON.parse(opened.payload) as unknown) };
    } catch {
      return null;
    }
  }

  private extraFor(f: Flight, responses: Json | undefined, state: unknown): HandlerExtra {
    const notify = (n: JsonRpcNotification): Promise<void> => this.notify(f, n);
    return new ModernExtra(f, notify, new ModernRequestContext(f, notify, responses, <T>() => state as T | undefined));
  }

  private notify(f: Flight, n: JsonRpcNotification): Promise<void> {
    if (f.settled) return Promise.resolve();
    if (n.method === 'notifications/message') {
      // "If absent, the server MUST NOT send any notifications/message notifications for this request."
      if (f.logLevel < 0) return Promise.resolve();
      const level = LOG_LEVELS.indexOf(String(n.params?.level));
      if (level >= 0 && level < f.logLevel) return Promise.resolve();
    }
    let body: string;
    try {
      body = JSON.stringify({ jsonrpc: '2.0', method: n.method, params: n.params });
    } catch {
      return Promise.reject(
        new McpRuntimeError(ErrorCodes.MCP_ERR_UNSERIALIZABLE, `Notification ${String(n.method)} could not be serialized`),
      );
    }
    f.sink.notify(body);
    return Promise.resolve();
  }

  private settleResult(f: Flight, result: unknown): void {
    if (f.toolCall)
      this.opts.onToolCall?.((f.req.params as Json).name, (result as { isError?: boolean } | null)?.isError === true, f.started);
    if (f.settled) return;
    const req = f.req;
    if (!isObject(result)) result = {};
    const r = result as Json;
    if (r.resultType === 'input_required') {
      if (!INPUT_REQUIRED_METHODS.has(req.method))
        return this.finish(f, 200, errorBody(req.id, RpcCodes.INTERNAL_ERROR, `${req.method} cannot return input_required`));
      return this.inputRequired(f, r);
    }
    const hints = req.method === 'resources/read' ? this.opts.readCache : req.method === 'resources/list' ? this.opts.listCache : undefined;
    let json: string | undefined;
    try {
      json = JSON.stringify(shapeResult(r, hints));
    } catch {
      json = undefined;
    }
    if (typeof json !== 'string') return this.finish(f, 200, errorBody(req.id, RpcCodes.INTERNAL_ERROR, 'Result could not be serialized'));
    this.finish(f, 200, resultBody(req.id, json));
  }

  /** Checks the embedded requests against the client's capabilities and seals the state. */
  private inputRequired(f: Flight, r: Json): void {
    const req = f.req;
    const params = req.params as Json;
    const caps = clientCapabilitiesOf(params);
    const out: Json = { resultType: 'input_required' };
    if (r.inputRequests !== undefined) {
      if (!isObject(r.inputRequests) || Object.keys(r.inputRequests).length > MAX_INPUT_REQUESTS)
        return this.finish(f, 200, errorBody(req.id, RpcCodes.INTERNAL_ERROR, 'inputRequests must be an object of at most 16 requests'));
      const missing: Json = {};
      for (const ir of Object.values(r.inputRequests)) {
        const cap = isObject(ir) && typeof ir.method === 'string' ? INPUT_CAPABILITY[ir.method] : undefined;
        if (!cap) return this.finish(f, 200, errorBody(req.id, RpcCodes.INTERNAL_ERROR, 'an input request names an unknown method'));
        if (!isObject(caps[cap])) missing[cap] = {};
      }
      // "If processing a request requires a capability the client did not include ... the server MUST
      // return a MissingRequiredClientCapabilityError"; for HTTP, 400.
      if (Object.keys(missing).length > 0)
        return this.finish(
          f,
          400,
          errorBody(req.id, RpcCodes.MISSING_REQUIRED_CLIENT_CAPABILITY, 'Missing required client capability', {
            requiredCapabilities: missing,
          }),
        );
      out.inputRequests = r.inputRequests;
    }
    if (r.requestState !== undefined) {
      let sealed: string;
      try {
        sealed = this.sealer.seal(req.method, nameOf(req.method, params), JSON.stringify(r.requestState) ?? '', this.now(), req.principal);
      } catch (err) {
        return this.finish(f, 200, errorBody(req.id, RpcCodes.INTERNAL_ERROR, `requestState could not be sealed: ${messageOf(err)}`));
      }
      out.requestState = sealed;
    }
    if (out.inputRequests === undefined && out.requestState === undefined)
      return this.finish(f, 200, errorBody(req.id, RpcCodes.INTERNAL_ERROR, 'input_required needs inputRequests or requestState'));
    let json: string;
    try {
      json = JSON.stringify(out);
    } catch {
      return this.finish(f, 200, errorBody(req.id, RpcCodes.INTERNAL_ERROR, 'Result could not be serialized'));
    }
    this.finish(f, 200, resultBody(req.id, json));
  }

  private settleError(f: Flight, err: unknown): void {
    if (f.settled) return;
    const id = f.req.id;
    if (isRpcError(err)) {
      // 2026-07-28 moved "resource not found" from -32002 to -32602 (Invalid Params).
      const code = err.rpcCode === RpcCodes.RESOURCE_NOT_FOUND ? RpcCodes.INVALID_PARAMS : err.rpcCode;
      let body: string;
      try {
        body = errorBody(id, code, err.message, err.data);
      } catch {
        body = errorBody(id, code, messageOf(err));
      }
      return this.finish(f, 200, body);
    }
    const code = (err as { code?: unknown })?.code;
    if (code === ErrorCodes.MCP_ERR_CAPABILITY) return this.finish(f, 200, errorBody(id, RpcCodes.INVALID_REQUEST, messageOf(err)));
    this.finish(f, 200, errorBody(id, RpcCodes.INTERNAL_ERROR, messageOf(err)));
  }

  /** The handler's deadline passed: answer -32603 first, then abort its signal. */
  private timeout(f: Flight): void {
    const ms = f.timeoutMs;
    const message = `Handler timed out after ${ms} ms`;
    this.opts.onTimeout?.(f.req.id, message);
    this.finish(f, 200, errorBody(f.req.id, RpcCodes.INTERNAL_ERROR, message, { timeoutMs: ms }));
    abortFlight(f, new McpRuntimeError(ErrorCodes.MCP_ERR_HANDLER_TIMEOUT, message));
  }

  /** "Closing the SSE response stream MUST be treated by the server as cancellation ... MUST NOT send any further messages for it." */
  private cancel(f: Flight): void {
    if (f.settled) return;
    f.settled = true;
    LateTimers.clear(f);
    abortFlight(f, new RpcError(RpcCodes.REQUEST_CANCELLED, 'the client closed the stream'));
  }

  private finish(f: Flight, status: number, body: string): void {
    f.settled = true;
    LateTimers.clear(f);
    f.sink.reply(status, body);
  }
}

/** The name a sealed state is bound to: the tool or prompt name, or the resource uri. */
function nameOf(method: string, params: Json): string {
  const v = method === 'resources/read' ? params.uri : params.name;
  return typeof v === 'string' ? v : '';
}
