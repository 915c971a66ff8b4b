/**
 * Tool, resource and prompt definitions of one worker, registered once and shared by all of its
 * sessions. List results never change after start-up, so they are serialised once.
 */
import {
  normalizeObjectSchema,
  safeParseAsync,
  getParseErrorMessage,
  getObjectShape,
} from '@modelcontextprotocol/sdk/server/zod-compat.js';
import { toJsonSchemaCompat } from '@modelcontextprotocol/sdk/server/zod-json-schema-compat.js';
import { getCompleter, isCompletable } from '@modelcontextprotocol/sdk/server/completable.js';
import { RpcCodes } from '../src/errors.js';
import { RpcError } from './rpc-error.js';
import type {
  FixedResourceHandler,
  HandlerExtra,
  InputRequiredResult,
  InputSchema,
  McpRequestContext,
  McpServerApi,
  PromptConfig,
  PromptHandler,
  ResourceMetadata,
  ResourceTemplateLike,
  TemplateResourceHandler,
  ToolConfig,
  ToolHandler,
  ToolResult,
} from './api.js';

const EMPTY_OBJECT_SCHEMA = Object.freeze({ type: 'object', properties: {} });
const EMPTY_COMPLETION = Object.freeze({ completion: { values: [], total: 0, hasMore: false } });
const MAX_COMPLETIONS = 100;

interface Tool {
  name: string;
  config: ToolConfig;
  zod: unknown;
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
  zod: unknown;
  handler: PromptHandler;
}

function isZodLike(v: unknown): boolean {
  return typeof v === 'object' && v !== null && typeof (v as { safeParse?: unknown }).safeParse === 'function';
}

/** A zod raw shape or object schema → normalised zod object; a plain JSON Schema → null. */
function zodOf(schema: InputSchema | undefined): unknown {
  if (!schema) return null;
  if (isZodLike(schema)) return normalizeObjectSchema(schema as never) ?? null;
  const values = Object.values(schema);
  if (values.length > 0 && values.every(isZodLike)) return normalizeObjectSchema(schema as never) ?? null;
  return null;
}

function toJsonSchema(schema: InputSchema | undefined, zod: unknown, pipe: 'input' | 'output'): Record<string, unknown> {
  if (!schema) return EMPTY_OBJECT_SCHEMA;
  if (zod) return toJsonSchemaCompat(zod as never, { strictUnions: true, pipeStrategy: pipe });
  return schema;
}

function completionResult(values: string[]): unknown {
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

/**
 * The SDK v2 view (`mcpReq`) of a 2025 request, for one round. The signal is read through `extra` only
 * when the handler asks for it: creating it costs an AbortController, which most calls never need.
 */
export function legacyRequestContext(
  extra: HandlerExtra,
  inputResponses: Record<string, unknown> | undefined,
  state: unknown,
  clientCapabilities: Record<string, unknown> = {},
): McpRequestContext {
  return {
    id: extra.requestId,
    get signal(): AbortSignal {
      return extra.signal;
    },
    _meta: extra._meta,
    notify: (n) => extra.sendNotification(n),
    clientCapabilities,
    inputResponses,
    requestState: <T>() => state as T | undefined,
  };
}

/** `extra` seen by one round: the same request, with this round's answers and state in `mcpReq`. */
function roundExtra(extra: HandlerExtra, inputResponses: Record<string, unknown> | undefined, state: unknown): HandlerExtra {
  // A child object, so the request's lazily created signal (a getter on `extra`) stays the one signal;
  // defined (not assigned) because `extra` may carry `mcpReq` as a getter.
  const ctx = legacyRequestContext(extra, inputResponses, state, extra.mcpReq?.clientCapabilities);
  return Object.create(extra, { mcpReq: { value: ctx, enumerable: true } }) as HandlerExtra;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * Runs a handler written for both eras. A 2026-07-28 request gets its `input_required` result back
 * as is (the modern dispatcher seals it). A 2025 session has real server→client requests instead:
 * each embedded request is sent on the request's stream, and the handler runs again with the answers
 * and the state it returned, until it answers or MAX_LEGACY_ROUNDS is reached.
 */
function inRounds(extra: HandlerExtra, run: (extra: HandlerExtra) => unknown): unknown {
  if (extra.era === 'modern') return run(extra);
  // The usual call answers in one round: no extra promise, no extra object on that path.
  // `in`, not a read: the session worker's `extra` builds `mcpReq` only when a handler reads it.
  const first = run('mcpReq' in extra ? extra : roundExtra(extra, undefined, undefined));
  if (isThenable(first)) return first.then((r) => (isInputRequired(r) ? moreRounds(extra, r, run) : r));
  return isInputRequired(first) ? moreRounds(extra, first, run) : first;
}

async function moreRounds(extra: HandlerExtra, asked: InputRequiredResult, run: (extra: HandlerExtra) => unknown): Promise<unknown> {
  let result: unknown = asked;
  for (let round = 0; isInputRequired(result); round++) {
    if (round >= MAX_LEGACY_ROUNDS) throw new Error(`the handler asked for input more than ${MAX_LEGACY_ROUNDS} times`);
    const asks = Object.entries(result.inputRequests ?? {}).slice(0, MAX_LEGACY_INPUTS);
    const answers = await Promise.all(
      asks.map(([key, r]) => extra.sendRequest({ method: r.method, params: r.params }).then((v) => [key, v])),
    );
    result = await run(roundExtra(extra, Object.fromEntries(answers) as Record<string, unknown>, result.requestState));
  }
  return result;
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
    this.tools.set(name, { name, config, zod: zodOf(config.inputSchema), handler });
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
    this.prompts.set(name, { name, config, zod: zodOf(config.argsSchema), handler });
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
          inputSchema: toJsonSchema(t.config.inputSchema, t.zod, 'input'),
          annotations: t.config.annotations,
          icons: t.config.icons,
          _meta: t.config._meta,
        };
        if (t.config.outputSchema) def.outputSchema = toJsonSchema(t.config.outputSchema, zodOf(t.config.outputSchema), 'output');
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
      prompts: [...this.prompts.values()].map((p) => {
        const shape = p.zod
          ? (getObjectShape(p.zod as never) as Record<string, { description?: string; isOptional?: () => boolean }>)
          : undefined;
        return {
          name: p.name,
          title: p.config.title,
          description: p.config.description,
          icons: p.config.icons,
          _meta: p.config._meta,
          arguments: shape
            ? Object.entries(shape).map(([name, field]) => ({
                name,
                description: field?.description,
                required: !(typeof field?.isOptional === 'function' && field.isOptional()),
              }))
            : undefined,
        };
      }),
    }));
  }

  async listResources(extra: HandlerExtra): Promise<unknown> {
    const out: Record<string, unknown>[] = [];
    for (const r of this.resources.values()) out.push({ uri: r.uri, name: r.name, ...r.metadata });
    for (const t of this.templates) {
      if (!t.template.listCallback) continue;
      const listed = (await t.template.listCallback(extra)) as { resources?: Record<string, unknown>[] };
      for (const r of listed?.resources ?? []) out.push({ ...t.metadata, ...r });
    }
    return { resources: out };
  }

  /** The handler timeout of tools/call for this tool: the node's, or the tool's `timeoutMs` when lower. */
  toolTimeout(name: unknown, nodeMs: number): number {
    const t = typeof name === 'string' ? this.tools.get(name)?.config.timeoutMs : undefined;
    return typeof t === 'number' && t > 0 && t < nodeMs ? t : nodeMs;
  }

  async callTool(params: Record<string, unknown>, extra: HandlerExtra): Promise<unknown> {
    const name = params.name;
    const tool = typeof name === 'string' ? this.tools.get(name) : undefined;
    // Spec: "Servers SHOULD return standard JSON-RPC errors for ... Unknown tools".
    if (!tool) throw new RpcError(RpcCodes.INVALID_PARAMS, `Tool ${String(name)} not found`);
    let args: unknown = params.arguments ?? {};
    if (tool.zod) {
      const parsed = (await safeParseAsync(tool.zod as never, args)) as { success: boolean; data?: unknown; error?: unknown };
      // 2025-11-25: input validation errors are tool execution errors, so the model can correct itself.
      if (!parsed.success)
        return toolError(`Input validation error: Invalid arguments for tool ${tool.name}: ${getParseErrorMessage(parsed.error)}`);
      args = parsed.data;
    }
    try {
      const handler = tool.handler;
      return await inRounds(extra, (x) => handler(args, x));
    } catch (err) {
      // A tool that throws answers with isError and the session goes on.
      return toolError(err instanceof Error ? err.message : String(err));
    }
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
    if (fixed) return fixed.handler(url, extra);
    for (const t of this.templates) {
      const vars = t.template.uriTemplate.match(uri);
      if (vars) return t.handler(url, vars, extra);
    }
    throw new RpcError(RpcCodes.RESOURCE_NOT_FOUND, `Resource ${uri} not found`, { uri });
  }

  async getPrompt(params: Record<string, unknown>, extra: HandlerExtra): Promise<unknown> {
    const name = params.name;
    const prompt = typeof name === 'string' ? this.prompts.get(name) : undefined;
    if (!prompt) throw new RpcError(RpcCodes.INVALID_PARAMS, `Prompt ${String(name)} not found`);
    let args: unknown = params.arguments ?? {};
    if (prompt.zod) {
      const parsed = (await safeParseAsync(prompt.zod as never, args)) as { success: boolean; data?: unknown; error?: unknown };
      if (!parsed.success)
        throw new RpcError(RpcCodes.INVALID_PARAMS, `Invalid arguments for prompt ${prompt.name}: ${getParseErrorMessage(parsed.error)}`);
      args = parsed.data;
    }
    const handler = prompt.handler;
    return inRounds(extra, (x) => handler(args, x));
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
      const shape = prompt.zod ? (getObjectShape(prompt.zod as never) as Record<string, unknown>) : undefined;
      const field = shape?.[argument.name];
      if (!field || !isCompletable(field)) return EMPTY_COMPLETION;
      const completer = getCompleter(field as never) as ((v: string, c?: unknown) => string[] | Promise<string[]>) | undefined;
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
