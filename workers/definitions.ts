/**
 * Tool, resource and prompt definitions of one worker, registered once and shared by all of its
 * sessions. List results never change after start-up, so they are serialised once.
 */
import { RpcCodes } from '../src/errors.js';
import { RpcError } from './rpc-error.js';
import { headerParamsOf } from '../src/protocol/modern.js';
import { completerOf, isStandardSchema, isZod3, parseStandard, schemaOf, type Parsed, type Schema } from './schemas.js';
import type {
  FixedResourceHandler,
  HandlerContext,
  HandlerExtra,
  HttpContext,
  InputRequiredResult,
  JsonRpcNotification,
  JsonRpcRequestOut,
  McpRequestView,
  McpServerApi,
  PromptConfig,
  PromptHandler,
  ResourceMetadata,
  RequestOptions,
  ResourceTemplateLike,
  TemplateResourceHandler,
  ToolConfig,
  ToolHandler,
  ToolResult,
} from './api.js';

const EMPTY_COMPLETION = Object.freeze({ completion: { values: [], total: 0, hasMore: false } });
const MAX_COMPLETIONS = 100;

interface Tool {
  name: string;
  config: ToolConfig;
  input: Schema;
  /** The listed output schema, or undefined. */
  output: Record<string, unknown> | undefined;
  handler: ToolHandler;
}
interface FixedResource {
  name: string;
  uri: string;
  metadata: ResourceMetadata;
  handler: FixedResourceHandler;
}
interface TemplateResource {
  name: string;
  template: ResourceTemplateLike;
  metadata: ResourceMetadata;
  handler: TemplateResourceHandler;
}
interface Prompt {
  name: string;
  config: PromptConfig;
  args: Schema;
  handler: PromptHandler;
}

/** A schema resolved at registration; a schema that cannot be listed fails the registration, naming it. */
function resolveSchema(what: string, schema: unknown, io: 'input' | 'output'): Schema {
  try {
    return schemaOf(schema, io);
  } catch (err) {
    throw new TypeError(`${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** RFC 6749 section 3.3 scope tokens. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

function checkScopes(tool: string, scopes: unknown): void {
  if (scopes === undefined) return;
  if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string' && SCOPE_TOKEN.test(s)))
    throw new TypeError(`Tool ${tool} scopes: expected an array of OAuth scope tokens`);
}

function completionResult(suggested: unknown): unknown {
  const values = Array.isArray(suggested) ? suggested.map(String) : [];
  const list = values.slice(0, MAX_COMPLETIONS);
  return { completion: { values: list, total: values.length, hasMore: values.length > MAX_COMPLETIONS } };
}

function toolError(message: string): ToolResult {
  return { content: [{ type: 'text', text: message }], isError: true };
}

/** Rounds of `input_required` a 2025 request may go through before the handler must answer. */
const MAX_LEGACY_ROUNDS = 8;
const MAX_LEGACY_INPUTS = 16;

function isInputRequired(r: unknown): r is InputRequiredResult {
  return typeof r === 'object' && r !== null && (r as { resultType?: unknown }).resultType === 'input_required';
}

/** `ctx.http` of a request when the node checks no tokens: `authInfo` is undefined. */
const NO_HTTP: HttpContext = Object.freeze({});
const NO_STATE = <T>(): T | undefined => undefined;

/** `ctx.mcpReq.send`: a Standard Schema checks the result here; a zod 3 schema goes to the dispatcher, as `sendRequest`'s does. */
async function sendFrom<T>(extra: HandlerExtra, request: JsonRpcRequestOut, schema: unknown, options?: RequestOptions): Promise<T> {
  if (!isStandardSchema(schema) || isZod3(schema)) return extra.sendRequest<T>(request, schema, options);
  const result = await extra.sendRequest(request, undefined, options);
  const p = parseStandard(schema, result);
  const parsed = p instanceof Promise ? await p : p;
  if (!parsed.ok) throw new Error(`Invalid result for ${request.method}: ${parsed.message}`);
  return parsed.value as T;
}

/**
 * `ctx.mcpReq` of one handler run. A class, so `signal` is a getter on the prototype: it reads
 * through to the dispatcher's, which a 2025 request makes on first use (a getter in an object literal
 * would cost V8 about a microsecond per object). The functions are own closures, so they can be taken
 * off the object (`const { send } = ctx.mcpReq`), as in the SDK v2.
 */
class RequestView implements McpRequestView {
  readonly #extra: HandlerExtra;
  readonly id: string | number;
  readonly _meta: Record<string, unknown> | undefined;
  readonly notify: (n: JsonRpcNotification) => Promise<void>;
  readonly send: <T = Record<string, unknown>>(r: JsonRpcRequestOut, schema?: unknown, options?: RequestOptions) => Promise<T>;
  readonly log: McpRequestView['log'];
  readonly elicitInput: McpRequestView['elicitInput'];
  readonly requestSampling: McpRequestView['requestSampling'];
  readonly clientCapabilities: Record<string, unknown>;

  constructor(
    extra: HandlerExtra,
    readonly method: string,
    readonly inputResponses: Readonly<Record<string, unknown>> | undefined,
    readonly requestState: <T = unknown>() => T | undefined,
  ) {
    this.#extra = extra;
    this.id = extra.requestId;
    this._meta = extra._meta;
    const notify = extra.mcpReq?.notify ?? ((n: JsonRpcNotification): Promise<void> => extra.sendNotification(n));
    const send = <T = Record<string, unknown>>(r: JsonRpcRequestOut, schema?: unknown, options?: RequestOptions): Promise<T> =>
      sendFrom<T>(extra, r, schema, options);
    this.notify = notify;
    this.send = send;
    this.log = (level, data, logger) =>
      notify({ method: 'notifications/message', params: logger === undefined ? { level, data } : { level, data, logger } });
    this.elicitInput = (params, options) => send({ method: 'elicitation/create', params }, undefined, options);
    this.requestSampling = (params, options) => send({ method: 'sampling/createMessage', params }, undefined, options);
    this.clientCapabilities = extra.mcpReq?.clientCapabilities ?? {};
  }

  get signal(): AbortSignal {
    return this.#extra.signal;
  }
}

/**
 * What a handler receives: the dispatcher's `extra` with the SDK v2 context completed, the same in
 * both eras (`mcpReq` with this run's answers and state, and `http`). Not a child object of `extra`
 * (an object made a prototype costs V8 microseconds per request): its values are copied, and its
 * functions read through to `extra` from getters on this prototype, so the dispatcher makes them only
 * for a handler that reads them (which may still take them off the object:
 * `const { sendNotification } = ctx`).
 */
class Context implements HandlerContext {
  readonly sessionId: string;
  readonly requestId: string | number;
  readonly _meta: Record<string, unknown> | undefined;
  readonly era: HandlerExtra['era'];
  readonly authInfo: HandlerExtra['authInfo'];
  readonly #extra: HandlerExtra;
  #view: McpRequestView | null = null;
  #http: HttpContext | null = null;
  readonly #method: string;
  readonly #inputResponses: Readonly<Record<string, unknown>> | undefined;
  readonly #requestState: <T>() => T | undefined;

  constructor(
    extra: HandlerExtra,
    method: string,
    inputResponses: Readonly<Record<string, unknown>> | undefined,
    requestState: <T>() => T | undefined,
  ) {
    this.#extra = extra;
    this.#method = method;
    this.#inputResponses = inputResponses;
    this.#requestState = requestState;
    this.sessionId = extra.sessionId;
    this.requestId = extra.requestId;
    this._meta = extra._meta;
    this.era = extra.era;
    this.authInfo = extra.authInfo;
  }

  get sendNotification(): HandlerExtra['sendNotification'] {
    return this.#extra.sendNotification;
  }

  get sendRequest(): HandlerExtra['sendRequest'] {
    return this.#extra.sendRequest;
  }

  get closeSSEStream(): HandlerExtra['closeSSEStream'] {
    return this.#extra.closeSSEStream;
  }

  get http(): HttpContext {
    const authInfo = this.#extra.authInfo;
    return authInfo === undefined ? NO_HTTP : (this.#http ??= { authInfo });
  }

  get signal(): AbortSignal {
    return this.#extra.signal;
  }

  /** Built on first read: most 2025 handlers never look at it, and it holds five closures. */
  get mcpReq(): McpRequestView {
    return (this.#view ??= new RequestView(this.#extra, this.#method, this.#inputResponses, this.#requestState));
  }
}

function handlerContext(
  extra: HandlerExtra,
  method: string,
  inputResponses: Readonly<Record<string, unknown>> | undefined,
  requestState: <T>() => T | undefined,
): HandlerContext {
  return new Context(extra, method, inputResponses, requestState);
}

/** The context of a request that runs once (resources): in the modern era with the request's own state. */
function onceContext(extra: HandlerExtra, method: string): HandlerContext {
  return handlerContext(extra, method, extra.mcpReq?.inputResponses, extra.mcpReq?.requestState ?? NO_STATE);
}

/**
 * Runs a handler written for both eras. A 2026-07-28 request gets its `input_required` result back
 * as is (the modern dispatcher seals it). A 2025 session has real server→client requests instead:
 * each embedded request is sent on the request's stream, and the handler runs again with the answers
 * and the state it returned, until it answers or MAX_LEGACY_ROUNDS is reached.
 */
function inRounds(extra: HandlerExtra, method: string, run: (ctx: HandlerContext) => unknown): unknown {
  if (extra.era === 'modern') return run(onceContext(extra, method));
  // The usual call answers in one round: no further promise on that path.
  const first = run(handlerContext(extra, method, undefined, NO_STATE));
  if (isThenable(first)) return first.then((r) => (isInputRequired(r) ? moreRounds(extra, method, r, run) : r));
  return isInputRequired(first) ? moreRounds(extra, method, first, run) : first;
}

/** A promise or any object with a `then` (a handler may return either). */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

async function moreRounds(
  extra: HandlerExtra,
  method: string,
  asked: InputRequiredResult,
  run: (ctx: HandlerContext) => unknown,
): Promise<unknown> {
  let result: unknown = asked;
  for (let round = 0; isInputRequired(result); round++) {
    if (round >= MAX_LEGACY_ROUNDS) throw new Error(`the handler asked for input more than ${MAX_LEGACY_ROUNDS} times`);
    const asks = Object.entries(result.inputRequests ?? {}).slice(0, MAX_LEGACY_INPUTS);
    const answers = await Promise.all(
      asks.map(([key, r]) => extra.sendRequest({ method: r.method, params: r.params }).then((v) => [key, v])),
    );
    const state = result.requestState;
    result = await run(
      handlerContext(extra, method, Object.fromEntries(answers) as Record<string, unknown>, <T>() => state as T | undefined),
    );
  }
  return result;
}

/** A parsed input: the handler's outcome, or the validation error as a tool error. */
function checkedRun(tool: Tool, parsed: Parsed, extra: HandlerExtra): unknown {
  // 2025-11-25: input validation errors are tool execution errors, so the model can correct itself.
  if (!parsed.ok) return toolError(`Input validation error: Invalid arguments for tool ${tool.name}: ${parsed.message}`);
  return runTool(tool, parsed.value, extra);
}

/** Runs a tool's handler; a throw or a rejection becomes an isError result, and the session goes on. */
function runTool(tool: Tool, args: unknown, extra: HandlerExtra): unknown {
  const handler = tool.handler;
  let r: unknown;
  try {
    r = inRounds(extra, 'tools/call', (x) => handler(args, x));
  } catch (err) {
    return thrownToolError(err);
  }
  return isThenable(r) ? Promise.resolve(r).then(undefined, thrownToolError) : r;
}

function thrownToolError(err: unknown): ToolResult {
  return toolError(err instanceof Error ? err.message : String(err));
}

export class Definitions implements McpServerApi {
  readonly tools = new Map<string, Tool>();
  readonly resources = new Map<string, FixedResource>();
  readonly templates: TemplateResource[] = [];
  readonly prompts = new Map<string, Prompt>();
  serverInfo = { name: 'mcp-storm', version: '0.1.0' } as { name: string; version: string; title?: string };
  instructions: string | undefined;
  /** Set by the worker: fan-out of resources/updated to subscribed sessions. */
  onResourceUpdated: (uri: string) => void = () => {};
  /** Set by the worker: fan-out of `notifications/<kind>/list_changed` to every session. */
  onListChanged: (kind: 'tools' | 'resources' | 'prompts') => void = () => {};

  private cache = new Map<string, string>();

  registerTool(name: string, config: ToolConfig, handler: ToolHandler): void {
    if (this.tools.has(name)) throw new Error(`Tool ${name} is already registered`);
    const input = resolveSchema(`Tool ${name} inputSchema`, config.inputSchema, 'input');
    checkScopes(name, config.scopes);
    const output =
      config.outputSchema === undefined ? undefined : resolveSchema(`Tool ${name} outputSchema`, config.outputSchema, 'output').json;
    this.tools.set(name, { name, config, input, output, handler });
    this.cache.clear();
  }

  registerResource(
    name: string,
    uri: string | ResourceTemplateLike,
    metadata: ResourceMetadata,
    handler: FixedResourceHandler | TemplateResourceHandler,
  ): void {
    if (typeof uri === 'string') {
      if (this.resources.has(uri)) throw new Error(`Resource ${uri} is already registered`);
      this.resources.set(uri, { name, uri, metadata, handler: handler as FixedResourceHandler });
    } else {
      this.templates.push({ name, template: uri, metadata, handler: handler as TemplateResourceHandler });
    }
    this.cache.clear();
  }

  registerPrompt(name: string, config: PromptConfig, handler: PromptHandler): void {
    if (this.prompts.has(name)) throw new Error(`Prompt ${name} is already registered`);
    this.prompts.set(name, { name, config, args: resolveSchema(`Prompt ${name} argsSchema`, config.argsSchema, 'input'), handler });
    this.cache.clear();
  }

  notifyResourceUpdated(uri: string): void {
    this.onResourceUpdated(uri);
  }

  sendToolListChanged(): void {
    this.cache.clear();
    this.onListChanged('tools');
  }

  sendResourceListChanged(): void {
    this.cache.clear();
    this.onListChanged('resources');
  }

  sendPromptListChanged(): void {
    this.cache.clear();
    this.onListChanged('prompts');
  }

  setServerInfo(info: { name: string; version: string; title?: string }, instructions?: string): void {
    this.serverInfo = info;
    this.instructions = instructions;
  }

  capabilities(): Record<string, unknown> {
    const caps: Record<string, unknown> = { logging: {}, completions: {} };
    if (this.tools.size) caps.tools = { listChanged: true };
    if (this.resources.size || this.templates.length) caps.resources = { subscribe: true, listChanged: true };
    if (this.prompts.size) caps.prompts = { listChanged: true };
    return caps;
  }

  private cached(key: string, build: () => unknown): string {
    let s = this.cache.get(key);
    if (s === undefined) {
      s = JSON.stringify(build());
      this.cache.set(key, s);
    }
    return s;
  }

  /** tools/list result, serialised once. */
  toolsListJson(): string {
    return this.cached('tools', () => ({
      tools: [...this.tools.values()].map((t) => {
        const def: Record<string, unknown> = {
          name: t.name,
          title: t.config.title,
          description: t.config.description,
          inputSchema: t.input.json,
          annotations: t.config.annotations,
          icons: t.config.icons,
          _meta: t.config._meta,
        };
        if (t.output) def.outputSchema = t.output;
        return def;
      }),
    }));
  }

  templatesListJson(): string {
    return this.cached('templates', () => ({
      resourceTemplates: this.templates.map((t) => ({ name: t.name, uriTemplate: t.template.uriTemplate.toString(), ...t.metadata })),
    }));
  }

  promptsListJson(): string {
    return this.cached('prompts', () => ({
      prompts: [...this.prompts.values()].map((p) => ({
        name: p.name,
        title: p.config.title,
        description: p.config.description,
        icons: p.config.icons,
        _meta: p.config._meta,
        arguments: p.args.arguments,
      })),
    }));
  }

  async listResources(extra: HandlerExtra): Promise<unknown> {
    const out: Record<string, unknown>[] = [];
    for (const r of this.resources.values()) out.push({ uri: r.uri, name: r.name, ...r.metadata });
    let ctx: HandlerContext | undefined;
    for (const t of this.templates) {
      if (!t.template.listCallback) continue;
      const listed = (await t.template.listCallback((ctx ??= onceContext(extra, 'resources/list')))) as {
        resources?: Record<string, unknown>[];
      };
      for (const r of listed?.resources ?? []) out.push({ ...t.metadata, ...r });
    }
    return { resources: out };
  }

  /** Scopes per tool, for the tools that declare any (the front answers 403 without them); null when none does. */
  toolScopes(): Record<string, string[]> | null {
    let out: Record<string, string[]> | null = null;
    for (const t of this.tools.values()) if (t.config.scopes && t.config.scopes.length > 0) (out ??= {})[t.name] = [...t.config.scopes];
    return out;
  }

  /**
   * Every tool, and whether its listed input schema declares a parameter mirrored in an `Mcp-Param-*`
   * header: the front reads those headers only for the tools that do (or that it does not know yet).
   */
  toolHeaderFlags(): Record<string, boolean> {
    const out: Record<string, boolean> = {};
    for (const t of (JSON.parse(this.toolsListJson()) as { tools: Array<{ name: string; inputSchema?: unknown }> }).tools)
      out[t.name] = headerParamsOf(t.inputSchema).length > 0;
    return out;
  }

  /** The handler timeout of tools/call for this tool: the node's, or the tool's `timeoutMs` when lower. */
  toolTimeout(name: unknown, nodeMs: number): number {
    const t = typeof name === 'string' ? this.tools.get(name)?.config.timeoutMs : undefined;
    return typeof t === 'number' && t > 0 && t < nodeMs ? t : nodeMs;
  }

  /**
   * A tools/call: its result, or a promise of it when the input schema or the handler is async (a
   * call that can answer in this turn takes no promise). Throws RpcError for an unknown tool or a
   * missing scope; a handler's error becomes an isError result.
   */
  callTool(params: Record<string, unknown>, extra: HandlerExtra): unknown {
    const name = params.name;
    const tool = typeof name === 'string' ? this.tools.get(name) : undefined;
    // Spec: "Servers SHOULD return standard JSON-RPC errors for ... Unknown tools".
    if (!tool) throw new RpcError(RpcCodes.INVALID_PARAMS, `Tool ${String(name)} not found`);
    // The front refuses such calls with 403 for the tools it learnt of at start; this covers a tool
    // registered later, with a JSON-RPC error, so a declared scope is never skipped.
    const scopes = tool.config.scopes;
    if (scopes !== undefined && extra.authInfo !== undefined && !scopes.every((x) => extra.authInfo!.scopes.includes(x)))
      throw new RpcError(RpcCodes.AUTHORIZATION, `Forbidden: tool ${tool.name} needs scopes: ${scopes.join(' ')}`, {
        requiredScopes: scopes,
      });
    const args: unknown = params.arguments ?? {};
    const parse = tool.input.parse;
    if (!parse) return runTool(tool, args, extra);
    const parsed = parse(args);
    return parsed instanceof Promise ? parsed.then((p) => checkedRun(tool, p, extra)) : checkedRun(tool, parsed, extra);
  }

  async readResource(params: Record<string, unknown>, extra: HandlerExtra): Promise<unknown> {
    const uri = params.uri;
    if (typeof uri !== 'string') throw new RpcError(RpcCodes.INVALID_PARAMS, 'resources/read needs a string uri');
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      throw new RpcError(RpcCodes.INVALID_PARAMS, `Invalid resource URI: ${uri}`);
    }
    const fixed = this.resources.get(uri);
    if (fixed) return fixed.handler(url, onceContext(extra, 'resources/read'));
    for (const t of this.templates) {
      const vars = t.template.uriTemplate.match(uri);
      if (vars) return t.handler(url, vars, onceContext(extra, 'resources/read'));
    }
    throw new RpcError(RpcCodes.RESOURCE_NOT_FOUND, `Resource ${uri} not found`, { uri });
  }

  async getPrompt(params: Record<string, unknown>, extra: HandlerExtra): Promise<unknown> {
    const name = params.name;
    const prompt = typeof name === 'string' ? this.prompts.get(name) : undefined;
    if (!prompt) throw new RpcError(RpcCodes.INVALID_PARAMS, `Prompt ${String(name)} not found`);
    let args: unknown = params.arguments ?? {};
    const parse = prompt.args.parse;
    if (parse) {
      let parsed = parse(args);
      if (parsed instanceof Promise) parsed = await parsed;
      if (!parsed.ok) throw new RpcError(RpcCodes.INVALID_PARAMS, `Invalid arguments for prompt ${prompt.name}: ${parsed.message}`);
      args = parsed.value;
    }
    const handler = prompt.handler;
    return inRounds(extra, 'prompts/get', (x) => handler(args, x));
  }

  async complete(params: Record<string, unknown>): Promise<unknown> {
    const ref = params.ref as { type?: string; name?: string; uri?: string } | undefined;
    const argument = params.argument as { name?: string; value?: string } | undefined;
    if (!ref || !argument || typeof argument.name !== 'string')
      throw new RpcError(RpcCodes.INVALID_PARAMS, 'completion/complete needs ref and argument');
    const context = params.context as { arguments?: Record<string, string> } | undefined;
    const value = typeof argument.value === 'string' ? argument.value : '';
    if (ref.type === 'ref/prompt') {
      const prompt = this.prompts.get(String(ref.name));
      if (!prompt) throw new RpcError(RpcCodes.INVALID_PARAMS, `Prompt ${String(ref.name)} not found`);
      const fields = prompt.args.fields;
      const completer = fields && Object.hasOwn(fields, argument.name) ? completerOf(fields[argument.name]) : undefined;
      return completer ? completionResult(await completer(value, context)) : EMPTY_COMPLETION;
    }
    if (ref.type === 'ref/resource') {
      const t = this.templates.find((x) => x.template.uriTemplate.toString() === ref.uri);
      if (!t) {
        if (typeof ref.uri === 'string' && this.resources.has(ref.uri)) return EMPTY_COMPLETION;
        throw new RpcError(RpcCodes.INVALID_PARAMS, `Resource template ${String(ref.uri)} not found`);
      }
      const completer = t.template.completeCallback(argument.name);
      return completer ? completionResult(await completer(value, context)) : EMPTY_COMPLETION;
    }
    throw new RpcError(RpcCodes.INVALID_PARAMS, `Invalid completion reference type: ${String(ref.type)}`);
  }
}
