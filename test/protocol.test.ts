/** Ids, versions, resumability, priming, heartbeats, idle expiry. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initialize, POST_HEADERS, rpc, startServer, type TestServer } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';
import { SseReader } from './helpers/sse.js';

let srv: TestServer;
/** The built-in everything demo, same settings. */
let demo: TestServer;

beforeAll(async () => {
  demo = await startServer({ env: { MCP_SSE_RETRY_MS: '250' } });
  srv = await startServer({
    args: ['--tools', 'test/fixtures/tools.mjs'],
    env: { MCP_SSE_HEARTBEAT_MS: '150', MCP_SESSION_IDLE_MS: '600', MCP_REPLAY_EVENTS: '3', MCP_SSE_RETRY_MS: '250' },
  });
});
afterAll(async () => {
  await srv?.stop();
  await demo?.stop();
});

function getStream(sid: string, lastEventId?: string): Promise<Response> {
  return fetch(srv.url, {
    headers: {
      accept: 'text/event-stream',
      'mcp-session-id': sid,
      'mcp-protocol-version': '2025-11-25',
      ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
    },
  });
}

async function callTool(sid: string, id: number, name: string, args: Record<string, unknown> = {}): Promise<any> {
  const res = await rpc(srv.url, sid, { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
  expect(res.status).toBe(200);
  return res.json();
}

describe('sessions and versions', () => {
  it('mints unique session ids of >= 128 bits in visible ASCII', async () => {
    const ids = new Set<string>();
    await Promise.all(
      Array.from({ length: 200 }, async () => {
        const { sid } = await initialize(srv.url);
        ids.add(sid);
      }),
    );
    expect(ids.size).toBe(200);
    for (const id of ids) {
      expect(id).toMatch(/^[\x21-\x7e]+$/);
      // base64url of 16 random bytes
      expect(Buffer.from(id, 'base64url').length).toBeGreaterThanOrEqual(16);
    }
  });

  it('negotiates the protocol version', async () => {
    for (const v of ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05']) {
      expect((await initialize(srv.url, v)).body.result.protocolVersion).toBe(v);
    }
    // An unknown requested revision gets the latest one offered.
    expect((await initialize(srv.url, '2099-01-01')).body.result.protocolVersion).toBe('2025-11-25');
  });

  it('assumes 2025-03-26 when the header is absent', async () => {
    const { sid } = await initialize(srv.url, '2025-03-26');
    const res = await fetch(srv.url, {
      method: 'POST',
      headers: { ...POST_HEADERS, 'mcp-session-id': sid },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }),
    });
    expect(res.status).toBe(200);
    expect((await res.json()).result).toEqual({});
  });

  it('answers notifications and responses with 202 and no body', async () => {
    const { sid } = await initialize(srv.url);
    const res = await rpc(srv.url, sid, { jsonrpc: '2.0', method: 'notifications/initialized' });
    expect(res.status).toBe(202);
    expect(await res.text()).toBe('');
  });

  it('expires idle sessions (404 afterwards) but keeps sessions with an open stream', async () => {
    const idle = (await initialize(srv.url)).sid;
    const held = (await initialize(srv.url)).sid;
    const stream = new SseReader(await getStream(held));
    await stream.next();
    // The worker's idle sweep closes every idle session of this node (earlier tests' too): wait until
    // only the one holding a stream is left, without touching (and so refreshing) the idle one.
    await waitFor(async () => (await (await fetch(`${srv.base}/readyz`)).json()).sessions === 1, 15_000, 'idle sessions to expire');
    expect((await rpc(srv.url, idle, { jsonrpc: '2.0', id: 1, method: 'ping' })).status).toBe(404);
    expect((await rpc(srv.url, held, { jsonrpc: '2.0', id: 1, method: 'ping' })).status).toBe(200);
    await stream.cancel();
  });
});

describe('SSE streams', () => {
  it('primes a 2025-11-25 POST stream (id + empty data + retry), related messages first, response last', async () => {
    const { sid } = await initialize(demo.url);
    const res = await fetch(demo.url, {
      method: 'POST',
      headers: { ...POST_HEADERS, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 4,
        method: 'tools/call',
        params: { name: 'test_tool_with_progress', arguments: {}, _meta: { progressToken: 'p1' } },
      }),
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = await new SseReader(res).rest();
    expect(events[0]).toMatchObject({ data: '', retry: 250 });
    expect(events[0].id).toMatch(/^[1-9]\d*_0$/);
    const stream = events[0].id!.split('_')[0];
    const bodies = events.slice(1).map((e) => {
      expect(e.id!.split('_')[0]).toBe(stream);
      return JSON.parse(e.data);
    });
    expect(bodies.slice(0, -1).every((b) => b.method === 'notifications/progress' && b.params.progressToken === 'p1')).toBe(true);
    expect(bodies.at(-1).id).toBe(4);
  });

  it('answers plain requests as JSON, and a capability the client lacks as a tool error', async () => {
    const { sid } = await initialize(srv.url);
    const res = await rpc(srv.url, sid, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'roots', arguments: {} } });
    expect(res.headers.get('content-type')).toContain('application/json');
    const body = await res.json();
    expect(body.result.isError).toBe(true);
    expect(body.result.content[0].text).toContain('roots');
  });

  it('sends no priming event to older revisions', async () => {
    const { sid } = await initialize(srv.url, '2025-06-18');
    const res = await getStream(sid);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const r = new SseReader(res);
    const first = await r.next();
    expect(first?.id).toBeUndefined();
    expect(first?.comment).toBeDefined();
    await r.cancel();
  });

  it('writes heartbeat comments on idle streams', async () => {
    const { sid } = await initialize(srv.url);
    const r = new SseReader(await getStream(sid));
    const priming = await r.next();
    expect(priming?.id).toBe('0_0');
    expect(priming?.data).toBe('');
    expect(priming?.retry).toBe(250);
    const beat = await r.next(2000);
    expect(beat?.comment).toBe('keep-alive');
    await r.cancel();
  });

  it('allows one GET stream per session (409 for a second)', async () => {
    const { sid } = await initialize(srv.url);
    const first = new SseReader(await getStream(sid));
    await first.next();
    const second = await getStream(sid);
    expect(second.status).toBe(409);
    await first.cancel();
  });

  it('delivers standalone notifications on the GET stream and replays missed ones after Last-Event-ID', async () => {
    const { sid } = await initialize(srv.url);
    await rpc(srv.url, sid, { jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: { uri: 'note://one' } });
    const r = new SseReader(await getStream(sid));
    await r.next(); // priming
    await callTool(sid, 2, 'touch', { uri: 'note://one' });
    const ev = await r.next();
    expect(ev?.id).toBe('0_1');
    expect(JSON.parse(ev!.data).method).toBe('notifications/resources/updated');
    await r.cancel();
    await new Promise((res) => setTimeout(res, 100));
    // Missed while disconnected: five updates, but the replay buffer holds three.
    for (let i = 0; i < 5; i++) await callTool(sid, 10 + i, 'touch', { uri: 'note://one' });
    const resumed = new SseReader(await getStream(sid, '0_1'));
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const e = await resumed.next();
      ids.push(e!.id!);
    }
    expect(ids).toEqual(['0_4', '0_5', '0_6']);
    await resumed.cancel();
  });

  it('resumes a POST stream that the server closed mid-call (SEP-1699) on GET with Last-Event-ID', async () => {
    {
      const init = await initialize(demo.url);
      const res = await fetch(demo.url, {
        method: 'POST',
        headers: { ...POST_HEADERS, 'mcp-session-id': init.sid, 'mcp-protocol-version': '2025-11-25' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 42, method: 'tools/call', params: { name: 'test_reconnection', arguments: {} } }),
      });
      const events = await new SseReader(res).rest();
      expect(events[0].data).toBe('');
      const primingId = events[0].id!;
      expect(primingId).toMatch(/^\d+_0$/);
      expect(events.some((e) => e.retry !== undefined)).toBe(true);
      expect(events.some((e) => e.data.includes('"id":42'))).toBe(false);
      const resumed = await fetch(demo.url, {
        headers: {
          accept: 'text/event-stream',
          'mcp-session-id': init.sid,
          'mcp-protocol-version': '2025-11-25',
          'last-event-id': primingId,
        },
      });
      const rest = await new SseReader(resumed).rest();
      const answer = rest.find((e) => e.data.includes('"id":42'));
      expect(answer).toBeDefined();
      expect(JSON.parse(answer!.data).result.content[0].type).toBe('text');
    }
  });
});

describe('health', () => {
  it('answers /healthz and /readyz with the node id, and serves /metrics', async () => {
    const h = await fetch(`${srv.base}/healthz`);
    expect(h.status).toBe(200);
    expect((await h.json()).node).toMatch(/.+/);
    const r = await fetch(`${srv.base}/readyz`);
    expect(r.status).toBe(200);
    const body = await r.json();
    expect(body.status).toBe('ready');
    expect(body.node).toBeTruthy();
    const m = await fetch(`${srv.base}/metrics`);
    expect(m.status).toBe(200);
    expect(await m.text()).toContain('mcp_sessions_created_total');
  });
});
