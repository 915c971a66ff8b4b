/**
 * A minimal MCP Streamable HTTP client for the benchmark's setup steps (not the measured load):
 * keep-alive sockets, JSON replies, bounded concurrency for creating many sessions.
 */
import { Agent, request } from 'node:http';

export const PROTOCOL_VERSION = '2025-11-25';

export const POST_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
});

export const INITIALIZE_BODY = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'bench', version: '1.0.0' } },
});

export const INITIALIZED_BODY = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' });

/** A tools/call body; `id` may be autocannon's `[<id>]` placeholder. */
export function toolsCallBody(id: string, text: string): string {
  return JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text } } });
}

export function sessionHeaders(sid: string): Record<string, string> {
  return { ...POST_HEADERS, 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function post(agent: Agent, url: URL, headers: Record<string, string>, body: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (data += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Parses a JSON reply, or the first `data:` line of an SSE reply. */
export function parseReply(r: Reply): any {
  const ct = String(r.headers['content-type'] ?? '');
  if (ct.includes('text/event-stream')) {
    const line = r.body.split('\n').find((l) => l.startsWith('data:'));
    return line ? JSON.parse(line.slice(5)) : undefined;
  }
  return r.body ? JSON.parse(r.body) : undefined;
}

export class McpClient {
  readonly agent: Agent;
  readonly url: URL;

  constructor(url: string, maxSockets = 64) {
    this.url = new URL(url);
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  /** initialize + notifications/initialized; resolves with the new session id. */
  async openSession(): Promise<string> {
    const r = await post(this.agent, this.url, { ...POST_HEADERS }, INITIALIZE_BODY);
    const sid = r.headers['mcp-session-id'];
    if (r.status !== 200 || typeof sid !== 'string') throw new Error(`initialize: HTTP ${r.status}, session id ${String(sid)}: ${r.body.slice(0, 200)}`);
    const n = await post(this.agent, this.url, sessionHeaders(sid), INITIALIZED_BODY);
    if (n.status !== 202) throw new Error(`notifications/initialized: HTTP ${n.status}: ${n.body.slice(0, 200)}`);
    return sid;
  }

  /** Calls echo once and checks the reply carries the text back. */
  async checkEcho(sid: string, text = 'ping'): Promise<void> {
    const r = await post(this.agent, this.url, sessionHeaders(sid), toolsCallBody(`check-${Date.now()}`, text));
    const msg = r.status === 200 ? parseReply(r) : undefined;
    const got = msg?.result?.content?.[0]?.text;
    if (got !== text) throw new Error(`echo check failed: HTTP ${r.status}: ${r.body.slice(0, 300)}`);
  }

  /** Opens `count` sessions with at most `concurrency` in flight; returns their ids. */
  async openSessions(count: number, concurrency: number, onProgress?: (done: number) => void): Promise<string[]> {
    const ids = new Array<string>(count);
    let next = 0;
    let done = 0;
    const lane = async (): Promise<void> => {
      while (next < count) {
        const i = next++;
        ids[i] = await this.openSession();
        done++;
        if (onProgress && done % 1000 === 0) onProgress(done);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
    return ids;
  }

  close(): void {
    this.agent.destroy();
  }
}
