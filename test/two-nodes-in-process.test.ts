/**
 * Two cluster nodes in one process (the compiled startNode, one real redis-server, one cluster
 * secret). Each node keeps its state in its own context, so a cookie-less client's requests for a
 * session of node A that reach node B are forwarded to A (calls, notifications, the GET stream,
 * DELETE), and closing node B ends only what B held: A's sessions, its own streams and its
 * forwarder go on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue, POST_HEADERS, rpc } from './helpers/server.js';
import { startRedis, stopAllRedis, type RedisServer } from './helpers/redis.js';
import { nodeBase, nodeUrl, quietLog, startPair, type RunningNode } from './helpers/in-process.js';
import { SseReader } from './helpers/sse.js';

const SECRET = 'two-nodes-in-one-process-secret';
const VERSION = '2025-11-25';

let redis: RedisServer;
let a: RunningNode;
let b: RunningNode;
let bClosed = false;

const url = nodeUrl;
const base = nodeBase;

async function initializeOn(n: RunningNode): Promise<string> {
  const res = await fetch(url(n), {
    method: 'POST',
    headers: POST_HEADERS,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: VERSION, capabilities: {}, clientInfo: { name: 'two-nodes', version: '1' } },
    }),
  });
  expect(res.status).toBe(200);
  await res.text();
  const sid = res.headers.get('mcp-session-id') ?? '';
  expect(sid).not.toBe('');
  return sid;
}

async function callTool(n: RunningNode, sid: string, id: number, name: string): Promise<{ status: number; body: string }> {
  const res = await rpc(url(n), sid, { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } }, VERSION);
  return { status: res.status, body: await res.text() };
}

function openGet(n: RunningNode, sid: string, lastEventId?: string): Promise<Response> {
  const headers: Record<string, string> = { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': VERSION };
  if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
  return fetch(url(n), { headers });
}

/** The next event on `r` that carries data (heartbeat comments skipped). */
async function nextData(r: SseReader): Promise<{ id?: string; data: string } | null> {
  for (;;) {
    const e = await r.next(10_000);
    if (e === null || e.data !== '' || e.retry !== undefined) return e;
  }
}

beforeAll(async () => {
  redis = await startRedis();
  // One process, one log: only errors, so the test output stays readable.
  quietLog('two-nodes-in-process');
  // Each node finds the other through the directory in Redis.
  [a, b] = await startPair(['node-a', 'node-b'], redis.url, SECRET);
}, 60_000);

afterAll(async () => {
  if (b && !bClosed) await b.close('test end');
  if (a) await a.close('test end');
  await stopAllRedis();
}, 60_000);

describe('two nodes in one process', () => {
  it('runs each node on its own context', () => {
    expect(a.context).not.toBe(b.context);
    expect(a.context.sessions).not.toBe(b.context.sessions);
    expect(a.context.exchanges).not.toBe(b.context.exchanges);
    expect(a.context.forwarder).not.toBeNull();
    expect(b.context.forwarder).not.toBeNull();
    expect(a.context.forwarder).not.toBe(b.context.forwarder);
    expect(Object.isFrozen(a.context)).toBe(true);
  });

  it("forwards node-a's session from node-b: notifications, tools/call, the GET stream, DELETE; closing node-b leaves node-a whole", async () => {
    const forwardedBefore = await metricValue(base(b), 'mcp_forwarded_requests_total');
    const sid = await initializeOn(a);
    expect(a.context.sessions.has(sid)).toBe(true);
    expect(b.context.sessions.has(sid)).toBe(false);

    // A notification through node-b: 202 from the owner.
    const initialized = await rpc(url(b), sid, { jsonrpc: '2.0', method: 'notifications/initialized' }, VERSION);
    expect(initialized.status).toBe(202);

    // tools/call through node-b: answered by node-a's worker.
    const call = await callTool(b, sid, 2, 'test_simple_text');
    expect(call.status).toBe(200);
    expect(call.body).toContain('"result"');
    expect(b.context.sessions.has(sid)).toBe(false);

    // The GET stream through node-b: primed by node-a's worker, then a resource update relayed.
    const sub = await rpc(url(b), sid, {
      jsonrpc: '2.0',
      id: 3,
      method: 'resources/subscribe',
      params: { uri: 'test://watched-resource' },
    });
    expect(sub.status).toBe(200);
    await sub.text();
    const relayedRes = await openGet(b, sid);
    expect(relayedRes.status).toBe(200);
    expect(relayedRes.headers.get('content-type')).toContain('text/event-stream');
    const relayed = new SseReader(relayedRes);
    const priming = await nextData(relayed);
    expect(priming?.id).toBe('0_0');
    expect((await callTool(b, sid, 4, 'test_update_watched_resource')).status).toBe(200);
    const update = await nextData(relayed);
    expect(update?.data).toContain('notifications/resources/updated');
    expect(update?.id).toBe('0_1');
    expect(a.context.exchanges.getStreams().length).toBe(1);
    expect(b.context.forwarder?.relays.size).toBe(1);

    // DELETE through node-b ends another session of node-a.
    const doomed = await initializeOn(a);
    const del = await fetch(url(b), { method: 'DELETE', headers: { 'mcp-session-id': doomed, 'mcp-protocol-version': VERSION } });
    expect(del.status).toBe(200);
    expect(a.context.sessions.has(doomed)).toBe(false);
    expect((await callTool(a, doomed, 5, 'test_simple_text')).status).toBe(404);

    expect(await metricValue(base(b), 'mcp_forwarded_requests_total')).toBeGreaterThanOrEqual(forwardedBefore + 6);
    expect(await metricValue(base(a), 'mcp_forwarded_requests_total')).toBe(0);

    // node-a also serves a session of its own directly, with its GET stream open on node-a.
    const local = await initializeOn(a);
    const localSub = await rpc(url(a), local, {
      jsonrpc: '2.0',
      id: 6,
      method: 'resources/subscribe',
      params: { uri: 'test://watched-resource' },
    });
    await localSub.text();
    const direct = new SseReader(await openGet(a, local));
    expect((await nextData(direct))?.id).toBe('0_0');

    // Closing node-b ends the stream node-b relayed (with retry:, so the client reconnects) and nothing of node-a.
    await b.close('test');
    bClosed = true;
    const tail = await relayed.rest(10_000);
    expect(tail.some((e) => e.retry !== undefined)).toBe(true);
    expect(a.context.sessions.has(sid)).toBe(true);
    expect(a.context.sessions.has(local)).toBe(true);
    expect(a.context.readiness.ready()).toBe(true);

    // The session lives on node-a: calls answer, and its GET stream resumes there after the last event seen.
    expect((await callTool(a, sid, 7, 'test_simple_text')).status).toBe(200);
    const resumed = new SseReader(await openGet(a, sid, '0_1'));
    expect((await callTool(a, sid, 8, 'test_update_watched_resource')).status).toBe(200);
    const after = await nextData(resumed);
    expect(after?.data).toContain('notifications/resources/updated');
    expect(after?.id).toBe('0_2');

    // node-a's own stream was never touched: it still delivers.
    expect((await callTool(a, local, 9, 'test_update_watched_resource')).status).toBe(200);
    const localUpdate = await nextData(direct);
    expect(localUpdate?.data).toContain('notifications/resources/updated');
    expect(direct.done).toBe(false);

    await resumed.cancel();
    await direct.cancel();
  }, 60_000);
});
