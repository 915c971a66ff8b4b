/**
 * The public API for tool modules (`--tools ./my-tools.js` / `MCP_TOOLS`).
 *
 * A tool module default-exports `register(server)`. It runs once in every session worker; the
 * definitions it registers are shared by all sessions of that worker. The shapes follow the official
 * SDK's `McpServer.registerTool` / `registerResource` / `registerPrompt` in both SDK v1 shapes (zod 3,
 * `extra`) and SDK v2 shapes (Standard Schema such as zod 4, `ctx.mcpReq`), so a module written for
 * either SDK ports by changing the import. `ResourceTemplate` and `completable` are the SDK v1's own;
 * the SDK v2's `completable` works as well (both mark the schema with the same registered symbol).
 */
import { isStandardSchema, parseStandard, standardJsonSchema, type StandardSchemaV1 } from './schemas.js';
export { ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
export { completable } from '@modelcontextprotocol/sdk/server/completable.js';
export type { StandardSchemaV1 } from './schemas.js';

/**
 * SDK v1: a zod 3 raw shape (`{ a: z.number() }`), a zod 3 object, or a plain JSON Schema object.
 * SDK v2: a Standard Schema (a zod 4 object, or any library implementing Standard JSON Schema), or a
 * raw shape of zod 4 fields.
 */
export type InputSchema = Record<string, unknown> | StandardSchemaV1;

export interface JsonRpcNotification {
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcRequestOut {
  method: string;
  params?: Record<string, unknown>;
}

export interface RequestOptions {
  /** Milliseconds before the request fails with a timeout error (default 60 000). */
  timeout?: number;
  signal?: AbortSignal;
}

/** What the dispatchers build for a request, in the shape of the SDK v1's `RequestHandlerExtra`. */
export interface HandlerExtra {
  /**
   * Aborted when the client cancels the request (`notifications/cancelled`), the session ends, or the
   * handler runs past its timeout.
   */
  signal: AbortSignal;
  sessionId: string;
  requestId: string | number;
  /** The request's `params._meta` (e.g. `progressToken`). */
  _meta?: Record<string, unknown>;
  /** Sends a notification related to this request (on the request's SSE stream). */
  sendNotification: (notification: JsonRpcNotification) => Promise<void>;
  /**
   * Sends a request to the client related to this request (sampling, elicitation, roots) and resolves
   * with its result. `resultSchema` (a zod schema) validates the result when given.
   */
  sendRequest: <T = Record<string, unknown>>(request: JsonRpcRequestOut, resultSchema?: unknown, options?: RequestOptions) => Promise<T>;
  /**
   * SEP-1699: closes the request's SSE stream now (after sending `retry`); the client reconnects with
   * GET + Last-Event-ID and receives the rest of the stream there.
   */
  closeSSEStream: () => void;
  /**
   * The SDK v2 view of the request. On a 2026-07-28 request `inputResponses` holds the client's
   * answers to the previous round's `inputRequired(...)`, and `requestState()` the state that round
   * returned (verified by the runtime: tampered or expired state never reaches the handler).
   */
  mcpReq?: McpRequestContext;
  /** The protocol era of this request: 'legacy' (2025 session) or 'modern' (2026-07-28, stateless). */
  era?: 'legacy' | 'modern';
  /**
   * The caller's verified access token (the SDK v1's `extra.authInfo`) when the node checks tokens
   * (MCP_AUTH_ISSUER); undefined otherwise. `extra` holds the token's claims (`sub`, `iss`, ...).
   */
  authInfo?: AuthInfo;
}

/** The SDK v2 request view as the dispatchers build it; handlers see it completed (`McpRequestView`). */
export interface McpRequestContext {
  id: string | number;
  signal: AbortSignal;
  _meta?: Record<string, unknown>;
  /** Sends a notification related to this request (progress; log messages only if the client set a level). */
  notify: (notification: JsonRpcNotification) => Promise<void>;
  /** Client capabilities declared by this request (2026-07-28) or at initialize (2025). */
  clientCapabilities: Record<string, unknown>;
  inputResponses: Readonly<Record<string, unknown>> | undefined;
  /** The decoded payload of the `requestState` this request carried, or undefined. */
  requestState: <T = unknown>() => T | undefined;
}

export type LoggingLevel = 'debug' | 'info' | 'notice' | 'warning' | 'error' | 'critical' | 'alert' | 'emergency';

/** `ctx.mcpReq` as every handler sees it, in both eras: the SDK v2's `ServerContext['mcpReq']`. */
export interface McpRequestView extends McpRequestContext {
  /** The request's method (`tools/call`, `prompts/get`, `resources/read`, ...). */
  method: string;
  /**
   * Sends a request to the client related to this request and resolves with its result, validated
   * by `resultSchema` when given (a Standard Schema, or a zod 3 schema). A 2025 session only: on a
   * 2026-07-28 request it rejects; return `inputRequired(...)` instead, which works in both eras.
   */
  send<T = Record<string, unknown>>(request: JsonRpcRequestOut, resultSchema?: unknown, options?: RequestOptions): Promise<T>;
  /** `notifications/message` for this request (dropped below the client's log level). */
  log(level: LoggingLevel, data: unknown, logger?: string): Promise<void>;
  /** `send` of `elicitation/create` (2025 sessions). */
  elicitInput(params: Record<string, unknown>, options?: RequestOptions): Promise<Record<string, unknown>>;
  /** `send` of `sampling/createMessage` (2025 sessions). */
  requestSampling(params: Record<string, unknown>, options?: RequestOptions): Promise<Record<string, unknown>>;
}

/** Who the client is, as the front verified it (the SDK's `AuthInfo`). */
export interface AuthInfo {
  token: string;
  clientId: string;
  scopes: string[];
  expiresAt?: number;
  resource?: URL;
  extra?: Record<string, unknown>;
}

/** `ctx.http`: `authInfo` is the verified caller when the node checks tokens (MCP_AUTH_ISSUER), else undefined. */
export interface HttpContext {
  readonly authInfo?: AuthInfo;
}

/**
 * The second argument of every handler: the SDK v1's `extra` (`signal`, `sessionId`, `requestId`,
 * `sendNotification`, `sendRequest`, ...) and the SDK v2's context (`mcpReq`, `http`) in one object.
 */
export interface HandlerContext extends HandlerExtra {
  mcpReq: McpRequestView;
  http: HttpContext;
}

/** One embedded request of an `input_required` result. */
export interface InputRequest {
  method: 'elicitation/create' | 'sampling/createMessage' | 'roots/list';
  params: Record<string, unknown>;
}

/** What a handler returns to ask the client for input (2026-07-28 multi-round-trip requests). */
export interface InputRequiredResult {
  resultType: 'input_required';
  inputRequests?: Record<string, InputRequest>;
  /** Any JSON value; the runtime seals it (HMAC, expiry, bound to the request) before it reaches the client. */
  requestState?: unknown;
}

/** Form elicitation params, a Standard Schema `requestedSchema` turned into the JSON Schema the client gets. */
function formParams(params: Record<string, unknown>): Record<string, unknown> {
  const rs = params.requestedSchema;
  return isStandardSchema(rs) ? { mode: 'form', ...params, requestedSchema: standardJsonSchema(rs, 'input') } : { mode: 'form', ...params };
}

/** Builds an `input_required` result, in the shape of the SDK v2 helper of the same name. */
export function inputRequired(spec: { inputRequests?: Record<string, InputRequest>; requestState?: unknown }): InputRequiredResult {
  if (spec.inputRequests === undefined && spec.requestState === undefined)
    throw new TypeError('inputRequired needs inputRequests or requestState');
  const out: InputRequiredResult = { resultType: 'input_required' };
  if (spec.inputRequests !== undefined) out.inputRequests = spec.inputRequests;
  if (spec.requestState !== undefined) out.requestState = spec.requestState;
  return out;
}
inputRequired.elicit = (params: Record<string, unknown>): InputRequest => ({
  method: 'elicitation/create',
  params: formParams(params),
});
inputRequired.elicitUrl = (params: Record<string, unknown>): InputRequest => ({
  method: 'elicitation/create',
  params: { ...params, mode: 'url' },
});
inputRequired.createMessage = (params: Record<string, unknown>): InputRequest => ({ method: 'sampling/createMessage', params });
inputRequired.listRoots = (): InputRequest => ({ method: 'roots/list', params: {} });

/**
 * The content of an accepted form elicitation answered under `key`, or undefined (missing, declined,
 * malformed, or refused by `schema`: a synchronously validating Standard Schema, as in the SDK v2).
 */
export function acceptedContent<T = Record<string, unknown>>(
  responses: Readonly<Record<string, unknown>> | undefined,
  key: string,
  schema?: StandardSchemaV1,
): T | undefined {
  const r = responses?.[key] as { action?: unknown; content?: unknown } | undefined;
  if (typeof r !== 'object' || r === null || r.action !== 'accept') return undefined;
  if (typeof r.content !== 'object' || r.content === null || Array.isArray(r.content)) return undefined;
  if (schema === undefined) return r.content as T;
  const parsed = parseStandard(schema, r.content);
  if (parsed instanceof Promise) throw new TypeError('acceptedContent(responses, key, schema) needs a synchronously validating schema');
  return parsed.ok ? (parsed.value as T) : undefined;
}

export type ToolResult = {
  content?: Array<Record<string, unknown>>;
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  _meta?: Record<string, unknown>;
  [key: string]: unknown;
};

export interface ToolConfig {
  title?: string;
  description?: string;
  inputSchema?: InputSchema;
  outputSchema?: InputSchema;
  annotations?: Record<string, unknown>;
  icons?: Array<Record<string, unknown>>;
  _meta?: Record<string, unknown>;
  /**
   * Not in the SDK: this tool's handler timeout, ms, when lower than the node's
   * (MCP_HANDLER_TIMEOUT_MS). On timeout `extra.signal` is aborted (its reason an error with code
   * MCP_ERR_HANDLER_TIMEOUT) and the request is answered with a JSON-RPC error (-32603); whatever the
   * handler returns later is dropped. Not listed in tools/list.
   */
  timeoutMs?: number;
  /**
   * Not in the SDK: OAuth scopes a caller's access token must carry to call this tool, when the node
   * checks tokens (MCP_AUTH_ISSUER). A call without them is answered HTTP 403 with
   * `WWW-Authenticate: Bearer error="insufficient_scope", scope="..."`, so the client can ask for
   * them (step-up). Ignored when authorization is off. Not listed in tools/list.
   */
  scopes?: string[];
}

// The arguments are whatever the tool's inputSchema accepted: a tool module names their type itself (the SDK's
// own handler type does the same), so the runtime cannot.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ToolHandler = (args: any, ctx: HandlerContext) => ToolResult | InputRequiredResult | Promise<ToolResult | InputRequiredResult>;

export interface ResourceMetadata {
  title?: string;
  description?: string;
  mimeType?: string;
  annotations?: Record<string, unknown>;
  icons?: Array<Record<string, unknown>>;
  _meta?: Record<string, unknown>;
}

export type ReadResourceResult = { contents: Array<Record<string, unknown>>; [key: string]: unknown };
export type FixedResourceHandler = (uri: URL, ctx: HandlerContext) => ReadResourceResult | Promise<ReadResourceResult>;
export type TemplateResourceHandler = (
  uri: URL,
  variables: Record<string, string | string[]>,
  ctx: HandlerContext,
) => ReadResourceResult | Promise<ReadResourceResult>;

/** Anything shaped like the SDK's `ResourceTemplate`. */
export interface ResourceTemplateLike {
  uriTemplate: { toString(): string; match(uri: string): Record<string, string | string[]> | null };
  listCallback?: (ctx: HandlerContext) => unknown;
  completeCallback(
    variable: string,
  ): ((value: string, context?: { arguments?: Record<string, string> }) => string[] | Promise<string[]>) | undefined;
}

export interface PromptConfig {
  title?: string;
  description?: string;
  /**
   * A zod 3 raw shape, or (SDK v2) a zod 4 object or raw shape; wrap a field in
   * `completable(schema, cb)` (or `completable(schema, cb).optional()`) to offer completions.
   */
  argsSchema?: InputSchema;
  icons?: Array<Record<string, unknown>>;
  _meta?: Record<string, unknown>;
}

export type PromptResult = { messages: Array<Record<string, unknown>>; description?: string; [key: string]: unknown };
// As for ToolHandler: the prompt's argsSchema decides the arguments' type.
export type PromptHandler = (
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  args: any,
  ctx: HandlerContext,
) => PromptResult | InputRequiredResult | Promise<PromptResult | InputRequiredResult>;

/** What `register(server)` receives. */
export interface McpServerApi {
  registerTool(name: string, config: ToolConfig, handler: ToolHandler): void;
  registerResource(name: string, uri: string, metadata: ResourceMetadata, handler: FixedResourceHandler): void;
  registerResource(name: string, template: ResourceTemplateLike, metadata: ResourceMetadata, handler: TemplateResourceHandler): void;
  registerPrompt(name: string, config: PromptConfig, handler: PromptHandler): void;
  /** Sends `notifications/resources/updated` to every session of this worker subscribed to `uri`. */
  notifyResourceUpdated(uri: string): void;
  /** `notifications/tools/list_changed` to every session of this worker (on its GET stream). */
  sendToolListChanged(): void;
  /** `notifications/resources/list_changed` to every session of this worker. */
  sendResourceListChanged(): void;
  /** `notifications/prompts/list_changed` to every session of this worker. */
  sendPromptListChanged(): void;
  /** Server identity reported in `initialize`; optional. */
  setServerInfo(info: { name: string; version: string; title?: string }, instructions?: string): void;
}

export type RegisterFn = (server: McpServerApi) => void | Promise<void>;
