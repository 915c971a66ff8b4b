/**
 * The 2026-07-28 ("modern") revision: stateless requests that carry their own `_meta`, HTTP headers
 * mirrored from the body, `resultType` on every result and caching hints on list and read results.
 * Pure functions: the front uses them to tell the eras apart and to refuse a bad envelope without a
 * thread hop; the worker uses them to validate `Mcp-Param-*` headers against a tool's schema and to
 * shape results. Nothing here keeps state.
 */
import { RpcCodes } from '../errors.js';
import { versionIndex } from './versions.js';

export const MODERN_VERSION = '2026-07-28';
/** The modern revisions this node serves, newest first (what UnsupportedProtocolVersionError lists). */
export const MODERN_VERSIONS: readonly string[] = Object.freeze([MODERN_VERSION]);

export const META_PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion';
export const META_CLIENT_INFO = 'io.modelcontextprotocol/clientInfo';
export const META_CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';
export const META_LOG_LEVEL = 'io.modelcontextprotocol/logLevel';
export const META_SERVER_INFO = 'io.modelcontextprotocol/serverInfo';
export const META_SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';

/** Methods a modern request may name. Everything else, `initialize` and `ping` included, is 404 + -32601. */
export const MODERN_METHODS: ReadonlySet<string> = new Set([
  'server/discover',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'subscriptions/listen',
]);

/** "Servers MAY send InputRequiredResult responses on the following client requests" (and no others). */
export const INPUT_REQUIRED_METHODS: ReadonlySet<string> = new Set(['tools/call', 'prompts/get', 'resources/read']);

/** Results that "MUST" carry `ttlMs` and `cacheScope` (DiscoverResult is a CacheableResult too). */
export const CACHEABLE_METHODS: ReadonlySet<string> = new Set([
  'server/discover',
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
]);

export const enum Era {
  Legacy = 0,
  Modern = 1,
  /** No session and no protocol-version header: the body's `_meta` decides (see bodyIsModern). */
  Undecided = 2,
}

/**
 * The era of a POST from its headers alone. A session id always means the 2025 path, unchanged. A
 * version header the 2025 table knows means the 2025 path too; any other version (2026-07-28, or one
 * this node does not know) takes the modern path, which answers an unknown version with the
 * UnsupportedProtocolVersionError a modern client can act on.
 */
export function eraOfHeaders(protocolHeader: string, sessionId: string): Era {
  if (sessionId !== '') return Era.Legacy;
  if (protocolHeader === '') return Era.Undecided;
  return versionIndex(protocolHeader.trim()) >= 0 ? Era.Legacy : Era.Modern;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A request whose `params._meta` names a protocol version is modern (only 2026-07-28 clients send it). */
export function bodyIsModern(msg: unknown): boolean {
  if (!isObject(msg)) return false;
  const params = msg.params;
  if (!isObject(params)) return false;
  const meta = params._meta;
  return isObject(meta) && typeof meta[META_PROTOCOL_VERSION] === 'string';
}

/** A modern request refused before it reaches a handler: the HTTP status and the JSON-RPC error. */
export interface ModernError {
  status: 400 | 404;
  code: number;
  message: string;
  data?: unknown;
}

/** The request headers the envelope check reads; '' when absent. Values are raw (untrimmed). */
export interface ModernHeaders {
  protocolVersion: string;
  method: string;
  name: string;
}

function mismatch(message: string): ModernError {
  return { status: 400, code: RpcCodes.HEADER_MISMATCH, message: `Header mismatch: ${message}` };
}

function invalidMeta(message: string): ModernError {
  return { status: 400, code: RpcCodes.INVALID_PARAMS, message: `Invalid params: ${message}` };
}

/** RFC 9110 §5.5: "a field value does not include leading or trailing whitespace" (OWS is space and tab). */
export function trimOws(v: string): string {
  let a = 0;
  let b = v.length;
  while (a < b && (v.charCodeAt(a) === 0x20 || v.charCodeAt(a) === 0x09)) a++;
  while (b > a && (v.charCodeAt(b - 1) === 0x20 || v.charCodeAt(b - 1) === 0x09)) b--;
  return a === 0 && b === v.length ? v : v.slice(a, b);
}

/** "HTTP header field values must consist of visible ASCII characters (0x21-0x7E), space (0x20), and horizontal tab (0x09)". */
function headerSafe(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c > 0x7e) return false;
  }
  return true;
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A header value as the body value it mirrors: `=?base64?...?=` decoded (strictly: padded, alphabet
 * only, valid UTF-8), anything else literal. Null when the value cannot be a header value or its
 * Base64 is malformed: "Servers MUST reject requests with a recognized Mcp-Param-{Name} header that
 * contains invalid characters".
 */
export function decodeHeaderValue(raw: string): string | null {
  if (!headerSafe(raw)) return null;
  const v = trimOws(raw);
  if (v.length >= 11 && v.startsWith('=?base64?') && v.endsWith('?=')) {
    const b64 = v.slice(9, -2);
    if (b64.length % 4 !== 0 || !B64.test(b64)) return null;
    try {
      return UTF8.decode(Buffer.from(b64, 'base64'));
    } catch {
      return null;
    }
  }
  return v;
}

/** Which body field `Mcp-Name` mirrors for a method, or null when the method has none. */
export function nameField(method: string): 'name' | 'uri' | null {
  if (method === 'tools/call' || method === 'prompts/get') return 'name';
  if (method === 'resources/read') return 'uri';
  return null;
}

/**
 * Validates a modern request's envelope, in the order that gives each fault its own error:
 * `_meta` shape (-32602), protocol-version header against `_meta` (-32020), the version itself
 * (-32022), the method (404 + -32601), then `Mcp-Method` and `Mcp-Name` against the body (-32020).
 * Null when the request may be dispatched.
 */
export function checkEnvelope(method: string, params: unknown, h: ModernHeaders): ModernError | null {
  // "Every request MUST include the required _meta fields."
  if (!isObject(params) || !isObject(params._meta)) return invalidMeta('params._meta is required');
  const meta = params._meta;
  const version = meta[META_PROTOCOL_VERSION];
  if (typeof version !== 'string') return invalidMeta(`_meta["${META_PROTOCOL_VERSION}"] must be a string`);
  if (!isObject(meta[META_CLIENT_CAPABILITIES])) return invalidMeta(`_meta["${META_CLIENT_CAPABILITIES}"] must be an object`);
  // "The header value MUST match the io.modelcontextprotocol/protocolVersion field ... If the values
  // do not match, the server MUST reject the request with 400 Bad Request and a HeaderMismatch error."
  const hv = trimOws(h.protocolVersion);
  if (hv === '') return mismatch('MCP-Protocol-Version header is required');
  if (hv !== version) return mismatch(`MCP-Protocol-Version header '${hv}' does not match _meta protocol version '${version}'`);
  if (!MODERN_VERSIONS.includes(version)) {
    return {
      status: 400,
      code: RpcCodes.UNSUPPORTED_PROTOCOL_VERSION,
      message: `Unsupported protocol version: ${version}`,
      data: { supported: [...MODERN_VERSIONS], requested: version },
    };
  }
  // "If the server does not implement the requested RPC method, it MUST respond with 404 Not Found
  // and a JSON-RPC error with code -32601."
  if (!MODERN_METHODS.has(method)) return { status: 404, code: RpcCodes.METHOD_NOT_FOUND, message: `Method not found: ${method}` };
  const hm = trimOws(h.method);
  if (hm === '') return mismatch('Mcp-Method header is required');
  if (hm !== method) return mismatch(`Mcp-Method header '${hm}' does not match body method '${method}'`);
  const field = nameField(method);
  if (field !== null) {
    const body = params[field];
    if (typeof body === 'string') {
      if (h.name === '') return mismatch(`Mcp-Name header is required for ${method}`);
      const hn = decodeHeaderValue(h.name);
      if (hn === null) return mismatch('Mcp-Name header value is malformed');
      if (hn !== body) return mismatch(`Mcp-Name header value does not match body ${field}`);
    }
  }
  return null;
}

/** Client capabilities from a validated envelope. */
export function clientCapabilitiesOf(params: Record<string, unknown>): Record<string, unknown> {
  return ((params._meta as Record<string, unknown>)[META_CLIENT_CAPABILITIES] as Record<string, unknown>) ?? {};
}

// ---- Mcp-Param-* ------------------------------------------------------------------------------

/** A tool parameter mirrored into `Mcp-Param-{name}`: the lower-cased header name and the property path. */
export interface HeaderParam {
  header: string;
  path: readonly string[];
  type: 'string' | 'integer' | 'boolean';
}

/** `x-mcp-header` names are tokens (RFC 9110 `1*tchar`). */
const TCHAR = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const MAX_HEADER_PARAMS = 32;
const MAX_PATH_DEPTH = 8;

/**
 * The `x-mcp-header` annotations of a tool's input schema, reached through `properties` chains only
 * ("MUST only be applied to properties that are statically reachable from the schema root"). An
 * annotation that breaks a rule is skipped: the server does not expect that header. Bounded in count
 * and depth.
 */
export function headerParamsOf(schema: unknown): HeaderParam[] {
  const out: HeaderParam[] = [];
  const seen = new Set<string>();
  const walk = (node: unknown, path: string[]): void => {
    if (!isObject(node) || path.length >= MAX_PATH_DEPTH || out.length >= MAX_HEADER_PARAMS) return;
    const props = node.properties;
    if (!isObject(props)) return;
    for (const key of Object.keys(props)) {
      const p = props[key];
      if (!isObject(p)) continue;
      const name = p['x-mcp-header'];
      const type = p.type;
      if (typeof name === 'string' && TCHAR.test(name) && (type === 'string' || type === 'integer' || type === 'boolean')) {
        const header = `mcp-param-${name.toLowerCase()}`;
        if (!seen.has(header) && out.length < MAX_HEADER_PARAMS) {
          seen.add(header);
          out.push({ header, path: [...path, key], type });
        }
      }
      walk(p, [...path, key]);
    }
  };
  walk(schema, []);
  return out;
}

function valueAt(args: unknown, path: readonly string[]): unknown {
  let v = args;
  for (const k of path) {
    if (!isObject(v)) return undefined;
    v = v[k];
  }
  return v;
}

/**
 * `Mcp-Param-*` headers against the call's arguments. `headers` holds the request's `mcp-param-*`
 * headers by lower-cased name. "Client omits header but value is in body: Server MUST reject"; a
 * null or absent value expects no header. Integers compare numerically ("42.0" equals 42).
 */
export function checkParamHeaders(
  params: readonly HeaderParam[],
  args: unknown,
  headers: Readonly<Record<string, string>> | undefined,
): ModernError | null {
  for (const p of params) {
    const body = valueAt(args, p.path);
    if (body === undefined || body === null) continue;
    const raw = headers?.[p.header];
    if (raw === undefined) return mismatch(`${p.header} header is required when ${p.path.join('.')} is given`);
    const hv = decodeHeaderValue(raw);
    if (hv === null) return mismatch(`${p.header} header value is malformed`);
    let same: boolean;
    if (p.type === 'integer') same = typeof body === 'number' && hv.trim() !== '' && Number(hv) === body;
    else if (p.type === 'boolean') same = typeof body === 'boolean' && hv === String(body);
    else same = hv === body;
    if (!same) return mismatch(`${p.header} header value does not match ${p.path.join('.')}`);
  }
  return null;
}

// ---- results ----------------------------------------------------------------------------------

export interface CacheHints {
  ttlMs: number;
  cacheScope: 'public' | 'private';
}

/**
 * `"resultType":"complete"` (and the caching hints when given) spliced into a serialised result
 * object, so cached list bodies need no re-serialisation. The result must not carry these keys.
 */
export function completeJson(resultJson: string, hints?: CacheHints): string {
  const head = hints ? `{"resultType":"complete","ttlMs":${hints.ttlMs},"cacheScope":"${hints.cacheScope}"` : '{"resultType":"complete"';
  return resultJson === '{}' ? `${head}}` : `${head},${resultJson.slice(1)}`;
}

/** The same for a result object about to be serialised: a handler's own `resultType` is kept. */
export function shapeResult(result: Record<string, unknown>, hints?: CacheHints): Record<string, unknown> {
  if (typeof result.resultType !== 'string') result.resultType = 'complete';
  if (hints) {
    if (typeof result.ttlMs !== 'number' || !Number.isInteger(result.ttlMs) || result.ttlMs < 0) result.ttlMs = hints.ttlMs;
    if (result.cacheScope !== 'public' && result.cacheScope !== 'private') result.cacheScope = hints.cacheScope;
  }
  return result;
}

/** The body of a refused modern request. The id is echoed ("all error returns must preserve original request ID"). */
export function modernErrorBody(id: string | number | null, e: ModernError): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id,
    error: e.data === undefined ? { code: e.code, message: e.message } : { code: e.code, message: e.message, data: e.data },
  });
}

// ---- subscriptions/listen ---------------------------------------------------------------------

/** What one listen stream opted in to (SubscriptionFilter), as the front matches it. */
export interface ListenFilter {
  tools: boolean;
  prompts: boolean;
  resources: boolean;
  /** `resourceSubscriptions`: the uris whose `notifications/resources/updated` this stream gets. */
  uris: ReadonlySet<string>;
}

/** Resource uris one listen stream may subscribe to. */
export const MAX_LISTEN_URIS = 256;

/** The filter of a `subscriptions/listen` request, or a -32602 error for a malformed one. */
export function listenFilter(params: Record<string, unknown>): ListenFilter | ModernError {
  const n = params.notifications;
  if (!isObject(n)) return invalidMeta('subscriptions/listen needs a notifications object');
  const uris = n.resourceSubscriptions;
  if (uris !== undefined && (!Array.isArray(uris) || uris.length > MAX_LISTEN_URIS || !uris.every((u) => typeof u === 'string')))
    return invalidMeta(`resourceSubscriptions must be an array of at most ${MAX_LISTEN_URIS} strings`);
  return {
    tools: n.toolsListChanged === true,
    prompts: n.promptsListChanged === true,
    resources: n.resourcesListChanged === true,
    uris: new Set(uris ?? []),
  };
}

/**
 * `notifications/subscriptions/acknowledged`: "MUST be the first message the server sends carrying
 * the subscription's ID", with "the subset of requested notification types the server agreed to honor".
 */
export function listenAckBody(subscriptionId: string | number, f: ListenFilter): string {
  const honored: Record<string, unknown> = {};
  if (f.tools) honored.toolsListChanged = true;
  if (f.prompts) honored.promptsListChanged = true;
  if (f.resources) honored.resourcesListChanged = true;
  if (f.uris.size > 0) honored.resourceSubscriptions = [...f.uris];
  return JSON.stringify({
    jsonrpc: '2.0',
    method: 'notifications/subscriptions/acknowledged',
    params: { notifications: honored, _meta: { [META_SUBSCRIPTION_ID]: subscriptionId } },
  });
}

/** A change notification for one listen stream, tagged with its subscription id ("MUST include this key"). */
export function listenNotificationBody(method: string, subscriptionId: string | number, params?: Record<string, unknown>): string {
  return JSON.stringify({ jsonrpc: '2.0', method, params: { ...params, _meta: { [META_SUBSCRIPTION_ID]: subscriptionId } } });
}
