/** Bad input gets the right status and body, and other sessions stay intact. */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initialize, metricValue, POST_HEADERS, rpc, startServer, type TestServer } from './helpers/server.js';

let srv: TestServer;
let other: string;

beforeAll(async () => {
  srv = await startServer({ env: { MAX_BODY: '64kb' } });
  other = (await initialize(srv.url)).sid;
});
afterAll(async () => {
  await srv?.stop();
});

async function post(body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(srv.url, { method: 'POST', headers: { ...POST_HEADERS, ...headers }, body });
}

async function expectRpcError(res: Response, status: number, code: number): Promise<void> {
  expect(res.status).toBe(status);
  const body = await res.json();
  expect(body.jsonrpc).toBe('2.0');
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
}

const PING = JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' });

describe('bad input', () => {
  it('406 when Accept does not list both media types', async () => {
    const res = await fetch(srv.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: PING,
    });
    expect(res.status).toBe(406);
    const res2 = await fetch(srv.url, { method: 'GET', headers: { accept: 'application/json', 'mcp-session-id': other } });
    expect(res2.status).toBe(406);
  });

  it('415 for a non-JSON content type', async () => {
    const res = await fetch(srv.url, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', accept: POST_HEADERS.accept },
      body: PING,
    });
    expect(res.status).toBe(415);
  });

  it('400 / -32700 for malformed JSON', async () => {
    await expectRpcError(await post('{"jsonrpc": "2.0", "id": 1, "method": '), 400, -32700);
  });

  it('400 / -32600 for JSON that is not JSON-RPC', async () => {
    await expectRpcError(await post('{"hello":"world"}'), 400, -32600);
    await expectRpcError(await post('42'), 400, -32600);
    await expectRpcError(await post('{"jsonrpc":"1.0","id":1,"method":"ping"}'), 400, -32600);
    await expectRpcError(await post('{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}'), 400, -32600);
  });

  it('413 for a body over the limit, declared or streamed', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(70 * 1024) } });
    const res = await post(big, { 'mcp-session-id': other });
    expect(res.status).toBe(413);
    // Chunked (no Content-Length): the cap applies while streaming.
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(big));
        c.close();
      },
    });
    const res2 = await fetch(srv.url, {
      method: 'POST',
      headers: { ...POST_HEADERS, 'mcp-session-id': other },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(res2.status).toBe(413);
  });

  it('400 for a batch where the revision forbids it, 200 where it allows it', async () => {
    const batch = JSON.stringify([
      { jsonrpc: '2.0', id: 1, method: 'ping' },
      { jsonrpc: '2.0', id: 2, method: 'ping' },
    ]);
    const res = await post(batch, { 'mcp-session-id': other, 'mcp-protocol-version': '2025-11-25' });
    await expectRpcError(res, 400, -32600);
    const old = await initialize(srv.url, '2025-03-26');
    expect(old.body.result.protocolVersion).toBe('2025-03-26');
    const ok = await post(batch, { 'mcp-session-id': old.sid, 'mcp-protocol-version': '2025-03-26' });
    expect(ok.status).toBe(200);
    const answers = await ok.json();
    expect(answers.map((a: { id: number }) => a.id).sort()).toEqual([1, 2]);
    await expectRpcError(await post('[]', { 'mcp-session-id': old.sid }), 400, -32600);
  });

  it('400 without a session id, 404 / -32001 for an unknown or deleted one', async () => {
    await expectRpcError(await post(PING), 400, -32600);
    await expectRpcError(await post(PING, { 'mcp-session-id': 'no-such-session' }), 404, -32001);
    const { sid } = await initialize(srv.url);
    const del = await fetch(srv.url, { method: 'DELETE', headers: { 'mcp-session-id': sid } });
    expect(del.status).toBe(200);
    await expectRpcError(await rpc(srv.url, sid, JSON.parse(PING)), 404, -32001);
    const get = await fetch(srv.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid } });
    expect(get.status).toBe(404);
    const del2 = await fetch(srv.url, { method: 'DELETE', headers: { 'mcp-session-id': sid } });
    expect(del2.status).toBe(404);
  });

  it('400 for an unsupported MCP-Protocol-Version', async () => {
    await expectRpcError(await post(PING, { 'mcp-session-id': other, 'mcp-protocol-version': '1999-01-01' }), 400, -32600);
  });

  it('403 for a foreign Origin or Host', async () => {
    const res = await post(PING, { 'mcp-session-id': other, origin: 'http://evil.example.com' });
    expect(res.status).toBe(403);
    // Same-origin passes.
    const ok = await post(PING, { 'mcp-session-id': other, origin: `http://127.0.0.1:${srv.port}`, 'mcp-protocol-version': '2025-11-25' });
    expect(ok.status).toBe(200);
  });

  it('404 for an unknown path, 405 with Allow for a wrong method', async () => {
    expect((await fetch(`${srv.base}/nope`)).status).toBe(404);
    const res = await fetch(srv.url, { method: 'PUT', body: 'x' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, POST, DELETE');
  });

  it('unknown methods get -32601; invalid params -32602 in a 200', async () => {
    const res = await rpc(srv.url, other, { jsonrpc: '2.0', id: 5, method: 'nope/nope' });
    await expectRpcError(res, 200, -32601);
    const res2 = await rpc(srv.url, other, { jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'no_such_tool' } });
    await expectRpcError(res2, 200, -32602);
  });

  it('drops oversized headers and stalled clients without harm', async () => {
    const huge = await fetch(srv.url, { method: 'POST', headers: { ...POST_HEADERS, 'x-pad': 'y'.repeat(40 * 1024) }, body: PING }).then(
      (r) => r.status,
      () => 'dropped',
    );
    expect(huge === 431 || huge === 'dropped' || huge === 400).toBe(true);
    // A client that sends half a request and stalls: the node keeps serving others meanwhile.
    const sock = connect(srv.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write(
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\ncontent-length: 1000\r\n\r\n{"jsonrpc":`,
    );
    const res = await rpc(srv.url, other, JSON.parse(PING));
    expect(res.status).toBe(200);
    sock.destroy();
  });

  it('on a live session: every body answered as the protocol says, and counted under its method', async () => {
    // Most of these reach the session's worker unparsed (src/front/mcp.ts, sessionPostUnparsed); the
    // answers and the metrics must be those of a body the front reads itself.
    const { sid } = await initialize(srv.url);
    const count = (labels: string): Promise<number> => metricValue(srv.base, 'mcp_requests_total', labels);
    await expectRpcError(await rpc(srv.url, sid, '{"jsonrpc": "2.0", "id": 1, "method": '), 400, -32700);
    for (const bad of [
      '{"hello":"world"}',
      '{"jsonrpc":"2.0","method":5}',
      '{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}',
      '  {"jsonrpc":"1.0","id":1,"method":"ping"}',
    ])
      await expectRpcError(await rpc(srv.url, sid, bad), 400, -32600);
    for (const [kind, message] of [
      ['notification', { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 99 } }],
      ['response', { jsonrpc: '2.0', id: 5, result: {} }],
    ] as const) {
      const before = await count(`status="202",method="${kind}",era="2025"`);
      const res = await rpc(srv.url, sid, message);
      expect(res.status).toBe(202);
      expect(res.headers.get('content-type')).toBeNull();
      expect(await res.text()).toBe('');
      expect(await count(`status="202",method="${kind}",era="2025"`)).toBe(before + 1);
    }
    const calls = await count('status="200",method="tools/call",era="2025"');
    // The word "initialize" anywhere sends a body the full way; it is still an ordinary call.
    const res = await rpc(srv.url, sid, {
      jsonrpc: '2.0',
      id: 8,
      method: 'tools/call',
      params: { name: 'test_simple_text', arguments: {}, _meta: { note: 'initialize' } },
    });
    expect(res.status).toBe(200);
    expect((await res.json()).id).toBe(8);
    expect(await count('status="200",method="tools/call",era="2025"')).toBe(calls + 1);
    // An initialize spelled with an escape, with a session header, starts a new session as any initialize does.
    const init = await rpc(
      srv.url,
      sid,
      '{"jsonrpc":"2.0","id":2,"method":"initiali\\u007ae","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}',
    );
    expect(init.status).toBe(200);
    const fresh = init.headers.get('mcp-session-id');
    expect(fresh).toBeTruthy();
    expect(fresh).not.toBe(sid);
    // A batch keeps its rules (the session's revision allows none).
    await expectRpcError(await rpc(srv.url, sid, ' [' + PING + ']'), 400, -32600);
    expect((await rpc(srv.url, sid, JSON.parse(PING))).status).toBe(200);
  });

  it('after all of that the first session still works', async () => {
    const res = await rpc(srv.url, other, {
      jsonrpc: '2.0',
      id: 77,
      method: 'tools/call',
      params: { name: 'test_simple_text', arguments: {} },
    });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.id).toBe(77);
    expect(body.result.content[0].type).toBe('text');
  });
});
