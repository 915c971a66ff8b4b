/**
 * The one MCP Streamable HTTP client of the benchmarks and the tests (test/helpers/client.ts imports
 * it; vitest reads this file as TypeScript, bench compiles it): message bodies and headers, one
 * request on `node:http` (bounded body, timeout, never rejects), reading a JSON or SSE answer, the
 * sticky cookie and the owner tag of a cluster session id, opening sessions, and `McpClient`, a
 * well-behaved client of one session.
 *
 * Node built-ins only: the tests import this file without bench/node_modules.
 */
import { Agent, request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';

export const PROTOCOL_VERSION = '2025-11-25';

/** Larger answers are cut (and count as a failure): a tool result here is a few hundred bytes. */
export const MAX_BODY_BYTES = 256 * 1024;
/** A request without an answer after this long fails with `TIMEOUT` (and a well-behaved client retries). */
export const REQUEST_TIMEOUT_MS = 15_000;
/**
 * Keep-alive sockets idle this long are closed by the client, before HAProxy's 5 s `timeout
 * http-keep-alive` does: otherwise a request can be written to a socket the proxy is closing at that
 * very moment and fail with ECONNRESET, an error of the client and not of the server.
 */
export const IDLE_MS = 4000;

export const POST_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
});

export function initializeBody(clientName: string, id: number | string = 0): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: clientName, version: '1' } },
  });
}

export const INITIALIZED_BODY = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' });

/** A tools/call body; a string `id` may be autocannon's `[<id>]` placeholder. */
export function toolsCallBody(id: number | string, name: string, args: Record<string, unknown> = {}): string {
  return JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
}

/** tools/call bodies for one tool and fixed arguments with the JSON built once; only the id varies. */
export function callBodyFactory(tool: string, args: Record<string, unknown> = {}): (id: number) => string {
  const head = '{"jsonrpc":"2.0","id":';
  const tail = `,"method":"tools/call","params":{"name":${JSON.stringify(tool)},"arguments":${JSON.stringify(args)}}}`;
  return (id) => head + id + tail;
}

/** POST headers for a session (`sid` '' before initialize), with the sticky cookie when one is kept. */
export function requestHeaders(sid: string, cookie = ''): Record<string, string> {
  const h: Record<string, string> = { ...POST_HEADERS };
  if (cookie) h.cookie = cookie;
  if (sid !== '') {
    h['mcp-session-id'] = sid;
    h['mcp-protocol-version'] = PROTOCOL_VERSION;
  }
  return h;
}

export interface Target {
  host: string;
  port: number;
  path: string;
  /** Headers every request to this target carries (an Authorization header), under the request's own. */
  headers?: Readonly<Record<string, string>>;
}

export function parseTarget(url: string, headers?: Readonly<Record<string, string>>): Target {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 80), path: u.pathname, ...(headers ? { headers } : {}) };
}

export interface HttpAnswer {
  /** 0 when no answer arrived (see `error`). */
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** '' for an answer; otherwise the transport failure (ECONNRESET, ECONNREFUSED, TIMEOUT, ...). */
  error: string;
}

function errorCode(err: Error): string {
  return (err as NodeJS.ErrnoException).code ?? err.message;
}

/** One request; resolves (never rejects) with the answer or the transport error. */
export function send(
  agent: Agent,
  t: Target,
  method: 'POST' | 'DELETE',
  headers: Record<string, string>,
  body: string | null,
  timeoutMs = REQUEST_TIMEOUT_MS,
): Promise<HttpAnswer> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (a: HttpAnswer): void => {
      if (settled) return;
      settled = true;
      resolve(a);
    };
    const base = t.headers ? { ...t.headers, ...headers } : headers;
    const h = body === null ? base : { ...base, 'content-length': String(Buffer.byteLength(body)) };
    const req = request({ host: t.host, port: t.port, path: t.path, method, headers: h, agent });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err) => done({ status: 0, headers: {}, body: '', error: errorCode(err) }));
    req.on('response', (res: IncomingMessage) => collect(res, done));
    req.end(body ?? undefined);
  });
}

function collect(res: IncomingMessage, done: (a: HttpAnswer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  res.on('data', (chunk: Buffer) => {
    if (over) return;
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      over = true;
      return;
    }
    chunks.push(chunk);
  });
  res.on('end', () => {
    if (over) return done({ status: res.statusCode ?? 0, headers: res.headers, body: '', error: 'body-too-large' });
    done({
      status: res.statusCode ?? 0,
      headers: res.headers,
      body: chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks, size).toString('utf8'),
      error: '',
    });
  });
  res.on('error', (err) => done({ status: 0, headers: {}, body: '', error: errorCode(err) }));
  res.on('aborted', () => done({ status: 0, headers: {}, body: '', error: 'aborted' }));
}

export interface RpcMessage {
  jsonrpc?: unknown;
  id?: unknown;
  result?: unknown;
  error?: unknown;
}

/**
 * The JSON-RPC message of an answer: the JSON body, or for an SSE answer the last `data:` line (the
 * response comes last on a request's stream). null when it does not parse.
 */
export function rpcMessage(a: Pick<HttpAnswer, 'headers' | 'body'>): RpcMessage | null {
  try {
    const type = String(a.headers['content-type'] ?? '');
    if (!type.includes('text/event-stream')) return a.body ? (JSON.parse(a.body) as RpcMessage) : null;
    let last = '';
    for (const line of a.body.split('\n'))
      if (line.startsWith('data:') && line.length > 5) last = line.slice(line.charCodeAt(5) === 32 ? 6 : 5);
    return last ? (JSON.parse(last) as RpcMessage) : null;
  } catch {
    return null;
  }
}

/** The `name=value` of a Set-Cookie answer header (first cookie), or ''. */
export function cookieOf(headers: IncomingHttpHeaders): string {
  const set = headers['set-cookie'];
  if (!set || set.length === 0) return '';
  const first = set[0];
  const semi = first.indexOf(';');
  return semi < 0 ? first : first.slice(0, semi);
}

/** The owner node named by a cluster session id `<random>.<base64url(node)>.<mac>`, or ''. */
export function ownerOf(sid: string): string {
  const first = sid.indexOf('.');
  const last = sid.lastIndexOf('.');
  return first > 0 && last > first ? Buffer.from(sid.slice(first + 1, last), 'base64url').toString('utf8') : '';
}

/** The text of the first content item of a tools/call result, or undefined. */
export function resultText(msg: RpcMessage | null): unknown {
  const result = msg?.result as { content?: Array<{ text?: unknown }> } | undefined;
  return result?.content?.[0]?.text;
}

/** A keep-alive agent closing idle sockets after IDLE_MS. */
export function keepAliveAgent(maxSockets = 4): Agent {
  return new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, timeout: IDLE_MS });
}

export interface Opened {
  sid: string;
  /** The Set-Cookie of the initialize answer ('' when none). */
  cookie: string;
  /** The initialize result. */
  result: unknown;
}

/**
 * initialize, then notifications/initialized ("After successful initialization, the client MUST
 * send an initialized notification"). Throws with the status and body when either is refused.
 */
export async function openSession(agent: Agent, t: Target, clientName: string, cookie = ''): Promise<Opened> {
  const a = await send(agent, t, 'POST', requestHeaders('', cookie), initializeBody(clientName));
  const sid = a.headers['mcp-session-id'];
  if (a.error !== '') throw new Error(`initialize: ${a.error}`);
  const msg = rpcMessage(a);
  if (a.status !== 200 || typeof sid !== 'string' || msg?.result === undefined)
    throw new Error(`initialize answered ${a.status}: ${a.body.slice(0, 200)}`);
  const got = cookieOf(a.headers) || cookie;
  const n = await send(agent, t, 'POST', requestHeaders(sid, got), INITIALIZED_BODY);
  if (n.error !== '' || n.status !== 202)
    throw new Error(`notifications/initialized: ${n.error || `HTTP ${n.status}`}: ${n.body.slice(0, 200)}`);
  return { sid, cookie: got, result: msg.result };
}

/** Opens `count` sessions with at most `concurrency` in flight; returns their ids. */
export async function openSessions(
  agent: Agent,
  t: Target,
  clientName: string,
  count: number,
  concurrency: number,
  onProgress?: (done: number) => void,
): Promise<string[]> {
  const ids = new Array<string>(count);
  let next = 0;
  let done = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      ids[i] = (await openSession(agent, t, clientName)).sid;
      done++;
      if (onProgress && done % 1000 === 0) onProgress(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return ids;
}

/** Calls the echo tool once and checks the answer carries `text` back. */
export async function checkEcho(agent: Agent, t: Target, sid: string, text: string, id: number | string = 'check'): Promise<void> {
  const a = await send(agent, t, 'POST', requestHeaders(sid), toolsCallBody(id, 'echo', { text }));
  if (a.error !== '' || a.status !== 200 || resultText(rpcMessage(a)) !== text)
    throw new Error(`echo check failed: ${a.error || `HTTP ${a.status}`}: ${a.body.slice(0, 300)}`);
}

export interface CallOutcome {
  ok: boolean;
  /** Sessions started during this call (after a 404). */
  reinitialized: number;
  /** Transport errors and 502/503 retried. */
  retries: number;
  errors: string[];
}

export interface McpClientOptions {
  /** Keep the sticky cookie of the load balancer (default true). */
  keepCookies?: boolean;
  /** `clientInfo.name` (default 'mcp-client'). */
  clientName?: string;
  /** Where requests go (default: an agent of this client's own). */
  agent?: Agent;
  /** Pause before retrying a transport error or 502/503, ms (default 100). */
  retryDelayMs?: number;
}

/**
 * A well-behaved client of one session: keeps the sticky cookie (or not), re-initializes on 404 (the
 * session is gone: the spec's rule), and retries transport errors and 502/503 a bounded number of
 * times. The cluster tests rely on this behaviour.
 */
export class McpClient {
  sid = '';
  cookie = '';
  /** Sessions started after the first one. */
  reinits = 0;
  /** Owner of the first session, for diagnostics. */
  firstOwner = '';
  /** Errors other than the expected 404 (and retried transport failures). */
  unexpected: string[] = [];
  readonly keepCookies: boolean;
  readonly target: Target;
  private readonly agent: Agent;
  private readonly ownAgent: boolean;
  private readonly clientName: string;
  private readonly retryDelayMs: number;
  private sessionsStarted = 0;
  private nextId = 1;

  constructor(
    readonly url: string,
    o: McpClientOptions = {},
  ) {
    this.target = parseTarget(url);
    this.keepCookies = o.keepCookies ?? true;
    this.clientName = o.clientName ?? 'mcp-client';
    this.retryDelayMs = o.retryDelayMs ?? 100;
    this.ownAgent = o.agent === undefined;
    this.agent = o.agent ?? keepAliveAgent();
  }

  /** The node that owns the session, from the id's owner tag. */
  get owner(): string {
    return ownerOf(this.sid);
  }

  private headers(): Record<string, string> {
    return requestHeaders(this.sid, this.keepCookies ? this.cookie : '');
  }

  private remember(headers: IncomingHttpHeaders): void {
    if (!this.keepCookies) return;
    const c = cookieOf(headers);
    if (c) this.cookie = c;
  }

  /** A new session (the previous one, if any, is forgotten). Throws when it is refused. */
  async initialize(): Promise<void> {
    this.sid = '';
    const opened = await openSession(this.agent, this.target, this.clientName, this.keepCookies ? this.cookie : '');
    if (this.keepCookies && opened.cookie) this.cookie = opened.cookie;
    this.sid = opened.sid;
    if (this.sessionsStarted++ > 0) this.reinits++;
    if (!this.firstOwner) this.firstOwner = this.owner;
  }

  /** One tool call that must succeed: re-initializes on 404, retries transport errors and 502/503. */
  async call(name: string, args: Record<string, unknown> = {}, maxAttempts = 40): Promise<CallOutcome> {
    const out: CallOutcome = { ok: false, reinitialized: 0, retries: 0, errors: [] };
    const reinitsBefore = this.reinits;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      out.reinitialized = this.reinits - reinitsBefore;
      try {
        if (!this.sid) await this.initialize();
      } catch (err) {
        out.retries++;
        out.errors.push((err as Error).message);
        await new Promise((r) => setTimeout(r, this.retryDelayMs));
        continue;
      }
      const id = this.nextId++;
      const a = await send(this.agent, this.target, 'POST', this.headers(), toolsCallBody(id, name, args));
      this.remember(a.headers);
      if (a.error !== '' || a.status === 502 || a.status === 503) {
        out.retries++;
        out.errors.push(a.error || `HTTP ${a.status}`);
        await new Promise((r) => setTimeout(r, this.retryDelayMs));
        continue;
      }
      if (a.status === 404) {
        // The session is gone (its node died or drained): re-initialize, as the spec tells clients.
        this.sid = '';
        continue;
      }
      const msg = rpcMessage(a);
      if (a.status !== 200 || msg === null || msg.id !== id || msg.result === undefined) {
        out.errors.push(`HTTP ${a.status} ${a.body.slice(0, 200)}`);
        this.unexpected.push(`HTTP ${a.status} ${a.body.slice(0, 200)}`);
        return out;
      }
      out.ok = true;
      out.reinitialized = this.reinits - reinitsBefore;
      return out;
    }
    this.unexpected.push(`gave up after ${maxAttempts} attempts: ${out.errors.slice(-3).join('; ')}`);
    return out;
  }

  /** Ends the session (DELETE); resolves with the status (0: transport error). */
  async close(): Promise<number> {
    let status = 0;
    if (this.sid) {
      const h: Record<string, string> = { 'mcp-session-id': this.sid, 'mcp-protocol-version': PROTOCOL_VERSION };
      if (this.keepCookies && this.cookie) h.cookie = this.cookie;
      status = (await send(this.agent, this.target, 'DELETE', h, null)).status;
      this.sid = '';
    }
    if (this.ownAgent) this.agent.destroy();
    return status;
  }
}
