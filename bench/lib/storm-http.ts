/**
 * The storm load generator's HTTP layer (node:http; undici is not a dependency of this package).
 * POSTs and DELETEs of every client share one bounded keep-alive pool; each SSE stream gets a socket
 * of its own. Static header sets and message bodies are built once here.
 */
import { Agent, request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';

export const PROTOCOL_VERSION = '2025-11-25';

/** Larger answers are cut (and the call counted as failed): a tool result here is a few hundred bytes. */
const MAX_BODY_BYTES = 256 * 1024;
/** A POST that has no answer after this long counts as a transport error (and is retried). */
export const POST_TIMEOUT_MS = 15_000;

export interface Target {
  host: string;
  port: number;
  path: string;
}

export function parseTarget(url: string): Target {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 80), path: u.pathname };
}

export interface Pools {
  /** POSTs and DELETEs of all clients when they share a pool (--post-sockets); null: each client has its own. */
  shared: Agent | null;
  stream: Agent;
}

/**
 * Keep-alive agents close pooled sockets idle for 4 s, before HAProxy's 5 s `timeout
 * http-keep-alive` does: otherwise a request can be written to a socket the proxy is closing at that
 * very moment and fail with ECONNRESET, an error of the load generator and not of the cluster.
 */
const IDLE_MS = 4000;

export function createPools(sharedSockets: number | null): Pools {
  return {
    shared: sharedSockets === null ? null : new Agent({ keepAlive: true, maxSockets: sharedSockets, maxFreeSockets: sharedSockets, timeout: IDLE_MS, scheduling: 'lifo' }),
    stream: new Agent({ keepAlive: false, maxSockets: Infinity }),
  };
}

/**
 * A client's own keep-alive connection for its POSTs and DELETEs, like a real HTTP/1.1 client: it
 * stays open between the calls of one second, so a storm does not have to reconnect it.
 */
export function ownAgent(): Agent {
  return new Agent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1, timeout: IDLE_MS });
}

export function destroyPools(p: Pools): void {
  p.shared?.destroy();
  p.stream.destroy();
}

export interface HttpAnswer {
  /** 0 when no answer arrived (see `error`). */
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** '' for an answer; otherwise the transport failure (ECONNRESET, ECONNREFUSED, timeout, ...). */
  error: string;
}

export const POST_BASE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
});

export const INITIALIZE_BODY = JSON.stringify({
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'mcp-storm-bench', version: '1' } },
});
export const INITIALIZED_BODY = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' });

/** `{"jsonrpc":"2.0","id":<id>,"method":"tools/call","params":{"name":<tool>,"arguments":{}}}` with the tool name built in once. */
export function callBodyFactory(tool: string): (id: number) => string {
  const head = '{"jsonrpc":"2.0","id":';
  const tail = `,"method":"tools/call","params":{"name":${JSON.stringify(tool)},"arguments":{}}}`;
  return (id) => head + id + tail;
}

function errorCode(err: Error): string {
  return (err as NodeJS.ErrnoException).code ?? err.message;
}

/** One request on the shared pool; resolves (never rejects) with the answer or the transport error. */
export function send(agent: Agent, t: Target, method: 'POST' | 'DELETE', headers: Record<string, string>, body: string | null): Promise<HttpAnswer> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (a: HttpAnswer): void => {
      if (settled) return;
      settled = true;
      resolve(a);
    };
    const h = body === null ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) };
    const req = request({ host: t.host, port: t.port, path: t.path, method, headers: h, agent });
    req.setTimeout(POST_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
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
    done({ status: res.statusCode ?? 0, headers: res.headers, body: chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks, size).toString('utf8'), error: '' });
  });
  res.on('error', (err) => done({ status: 0, headers: {}, body: '', error: errorCode(err) }));
  res.on('aborted', () => done({ status: 0, headers: {}, body: '', error: 'aborted' }));
}

/**
 * The JSON-RPC message of an answer: the JSON body, or for an SSE answer the last `data:` line (the
 * response comes last on a request's stream). null when it does not parse.
 */
export function rpcMessage(a: HttpAnswer): { id?: unknown; result?: unknown; error?: unknown } | null {
  try {
    const type = a.headers['content-type'] ?? '';
    if (!type.includes('text/event-stream')) return JSON.parse(a.body);
    let last = '';
    for (const line of a.body.split('\n')) if (line.startsWith('data: ') && line.length > 6) last = line.slice(6);
    return last ? JSON.parse(last) : null;
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
