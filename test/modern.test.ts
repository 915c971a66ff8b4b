/**
 * The 2026-07-28 path through HTTP: stateless requests spread over every worker, JSON answers or SSE
 * when the handler streams (no event ids), the client closing the stream cancels the handler, and a
 * multi-round-trip request retried on another node of the cluster (same secret) completes while a
 * node with another secret refuses the state.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue, ROOT, startServer, type TestServer } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';

const VERSION = '2026-07-28';
const TOOLS = `${ROOT}test/fixtures/modern-tools.mjs`;
const SECRET = 'modern-test-secret-of-32-characters';
let nextId = 1;

function headers(method: string, name?: string): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': VERSION,
    'mcp-method': method,
  };
  if (name !== undefined) h['mcp-name'] = name;
  return h;
}

function body(method: string, params: Record<string, unknown> = {}): string {
  const _meta = {
    'io.modelcontextprotocol/protocolVersion': VERSION,
    'io.modelcontextprotocol/clientInfo': { name: 'modern-test', version: '1' },
    'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
  };
  return JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params: { ...params, _meta } });
}

async function call(url: string, name: string, params: Record<string, unknown> = {}): Promise<{ status: number; type: string; json: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: headers('tools/call', name),
    body: body('tools/call', { name, arguments: {}, ...params }),
  });
  return { status: res.status, type: res.headers.get('content-type') ?? '', json: await res.json() };
}

describe('one node, stateless requests packed (the default)', () => {
  let srv: TestServer;
  let dir: string;
  beforeAll(async () => {
    // A small spill point, so that a few requests show it.
    srv = await startServer({ args: ['--tools', TOOLS], env: { WORKERS: '2', MCP_STATELESS_SPILL: '2' } });
    dir = mkdtempSync(join(tmpdir(), 'mcp-spill-'));
  });
  afterAll(async () => {
    await srv?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const whoami = async (): Promise<string> => {
    const r = await call(srv.url, 'whoami');
    expect(r.status).toBe(200);
    return r.json.result.content[0].text as string;
  };

  it('serves requests one after another from one worker, spills onto the next while it is busy, and packs again', async () => {
    const first = new Set<string>();
    for (let i = 0; i < 4; i++) first.add(await whoami());
    expect(first.size).toBe(1);

    const started = join(dir, 'started');
    const release = join(dir, 'release');
    const busy = call(srv.url, 'busy', { arguments: { started, release } });
    await waitFor(() => existsSync(started), 10_000, 'the busy call running');
    const busyThread = readFileSync(started, 'utf8');
    expect(first.has(busyThread)).toBe(true);
    // Its worker is blocked: the first request or two wait in its inbox, the rest go to the other one.
    const pending = [whoami(), whoami(), whoami()];
    const quickest = await Promise.race(pending);
    expect(quickest).not.toBe(busyThread);
    writeFileSync(release, '');
    expect((await busy).json.result.content[0].text).toBe(busyThread);
    const threads = new Set(await Promise.all(pending));
    expect(threads).toEqual(new Set([busyThread, quickest]));

    // Caught up, it takes every request again.
    for (let i = 0; i < 4; i++) expect(await whoami()).toBe(busyThread);
  });
});

describe('one node, stateless requests round robin (MCP_STATELESS_SPILL=0)', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({ args: ['--tools', TOOLS], env: { WORKERS: '2', MCP_STATELESS_SPILL: '0' } });
  });
  afterAll(async () => {
    await srv?.stop();
  });

  it('answers JSON with resultType, from every worker in turn, with no session', async () => {
    const threads = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const res = await fetch(srv.url, {
        method: 'POST',
        headers: headers('tools/call', 'whoami'),
        body: body('tools/call', { name: 'whoami' }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('application/json');
      expect(res.headers.get('mcp-session-id')).toBeNull();
      const json: any = await res.json();
      expect(json.result.resultType).toBe('complete');
      threads.add(json.result.content[0].text);
    }
    expect(threads.size).toBe(2);
  });

  it('checks Mcp-Param-* headers for the tools that declare them (also one registered at run time), and ignores them elsewhere', async () => {
    const send = async (name: string, args: Record<string, unknown>, region?: string): Promise<{ status: number; json: any }> => {
      const h = headers('tools/call', name);
      if (region !== undefined) h['mcp-param-region'] = region;
      const res = await fetch(srv.url, { method: 'POST', headers: h, body: body('tools/call', { name, arguments: args }) });
      return { status: res.status, json: await res.json() };
    };
    // Declared when the module loaded.
    const bad = await send('regional', { region: 'eu' }, 'us');
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe(-32020);
    expect((await send('regional', { region: 'eu' })).status).toBe(400);
    const good = await send('regional', { region: 'eu' }, 'eu');
    expect(good.status).toBe(200);
    expect(good.json.result.content[0].text).toBe('region eu');
    // A tool that declares none: a stray header is not its business.
    expect((await send('whoami', {}, 'us')).status).toBe(200);
    // Registered at run time, on each worker (calls go to the workers in turn).
    const threads = new Set<string>();
    for (let i = 0; i < 2; i++) threads.add((await call(srv.url, 'grow')).json.result.content[0].text);
    expect(threads.size).toBe(2);
    const lateBad = await send('regional_late', { region: 'eu' }, 'us');
    expect(lateBad.status).toBe(400);
    expect(lateBad.json.error.code).toBe(-32020);
    expect((await send('regional_late', { region: 'eu' }, 'eu')).status).toBe(200);
  });

  it('spreads a burst of concurrent requests over every worker (several to a batch, batches in turn)', async () => {
    const answers: any[] = await Promise.all(
      Array.from({ length: 24 }, () =>
        fetch(srv.url, { method: 'POST', headers: headers('tools/call', 'whoami'), body: body('tools/call', { name: 'whoami' }) }).then(
          (r) => r.json(),
        ),
      ),
    );
    const threads = new Set(answers.map((a) => a.result.content[0].text as string));
    expect(threads.size).toBe(2);
  });

  it('streams a handler that notifies as SSE without event ids, and cancels it when the client closes the stream', async () => {
    const ac = new AbortController();
    const res = await fetch(srv.url, {
      method: 'POST',
      headers: headers('tools/call', 'hold'),
      body: body('tools/call', { name: 'hold' }),
      signal: ac.signal,
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('\n\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain('notifications/progress');
    expect(text).not.toMatch(/^id:/m);
    ac.abort();
    // Each worker counts its own cancellations: ask until both have answered and one saw it.
    await waitFor(
      async () => {
        const counts = await Promise.all([call(srv.url, 'cancelled'), call(srv.url, 'cancelled')]);
        return counts.some((c) => c.json.result.content[0].text === '1');
      },
      10_000,
      'the hold call cancelled in its worker',
    );
  });

  it('delivers list changes from every worker on a subscriptions/listen stream, acknowledged first and tagged', async () => {
    const ac = new AbortController();
    const listenBody = JSON.parse(body('subscriptions/listen', { notifications: { toolsListChanged: true, promptsListChanged: true } }));
    const res = await fetch(srv.url, {
      method: 'POST',
      headers: headers('subscriptions/listen'),
      body: JSON.stringify(listenBody),
      signal: ac.signal,
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const frames: any[] = [];
    let buf = '';
    const next = async (): Promise<any> => {
      while (!buf.includes('\n\n')) {
        const { value, done } = await reader.read();
        if (done) throw new Error('listen stream ended');
        buf += new TextDecoder().decode(value);
      }
      const i = buf.indexOf('\n\n');
      const event = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = event.split('\n').find((l) => l.startsWith('data: '));
      return data ? JSON.parse(data.slice(6)) : next();
    };
    frames.push(await next());
    expect(frames[0]).toMatchObject({
      method: 'notifications/subscriptions/acknowledged',
      params: {
        notifications: { toolsListChanged: true, promptsListChanged: true },
        _meta: { 'io.modelcontextprotocol/subscriptionId': listenBody.id },
      },
    });
    // Round-robin: two calls reach both workers; each change reaches this stream.
    const threads = new Set([
      (await call(srv.url, 'change')).json.result.content[0].text,
      (await call(srv.url, 'change')).json.result.content[0].text,
    ]);
    expect(threads.size).toBe(2);
    frames.push(await next(), await next());
    for (const f of frames.slice(1))
      expect(f).toEqual({
        jsonrpc: '2.0',
        method: 'notifications/tools/list_changed',
        params: { _meta: { 'io.modelcontextprotocol/subscriptionId': listenBody.id } },
      });
    ac.abort();
  });

  it('answers a body that is no request as the protocol says, whatever method its headers name, and keeps serving', async () => {
    const post = (b: string, method = 'tools/call', name: string | undefined = 'whoami'): Promise<Response> =>
      fetch(srv.url, { method: 'POST', headers: headers(method, name), body: b });
    const NOTE = 'status="202",method="notification",era="2026-07-28"';
    const notesBefore = await metricValue(srv.base, 'mcp_requests_total', NOTE);
    for (const [method, name] of [
      ['tools/call', 'whoami'],
      ['tools/list', undefined],
      ['notifications/cancelled', undefined],
    ] as const) {
      const bad = await post('{"jsonrpc":"2.0","id":1,"method":', method, name);
      expect(bad.status).toBe(400);
      expect((await bad.json()).error.code).toBe(-32700);
      for (const b of ['[]', '[' + body('tools/list') + ']', '{"jsonrpc":"2.0","id":3,"result":{}}', '"text"', 'null']) {
        const res = await post(b, method, name);
        expect(res.status, b).toBe(400);
        expect((await res.json()).error.code, b).toBe(-32600);
      }
      // A notification: 202 with no body and no content type.
      const note = await post(
        JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 9 } }),
        method,
        name,
      );
      expect(note.status).toBe(202);
      expect(note.headers.get('content-type')).toBeNull();
      expect(await note.text()).toBe('');
    }
    // Counted as notifications, not as the method their headers named.
    expect(await metricValue(srv.base, 'mcp_requests_total', NOTE)).toBe(notesBefore + 3);
    // A body whose method is not the header's: HeaderMismatch (also for a listen the headers hide).
    for (const m of ['tools/list', 'subscriptions/listen']) {
      const res = await post(body(m, m === 'subscriptions/listen' ? { notifications: { toolsListChanged: true } } : {}));
      expect(res.status).toBe(400);
      expect((await res.json()).error.code).toBe(-32020);
    }
    // A header naming one of the metrics' own labels does not label the request with it.
    const BATCH = 'method="batch",era="2026-07-28"';
    const batchesBefore = await metricValue(srv.base, 'mcp_requests_total', BATCH);
    const labelled = await post(body('tools/list'), 'batch', undefined);
    expect(labelled.status).toBe(400);
    expect((await labelled.json()).error.code).toBe(-32020);
    expect(await metricValue(srv.base, 'mcp_requests_total', BATCH)).toBe(batchesBefore);
    const ok = await call(srv.url, 'whoami');
    expect(ok.status).toBe(200);
    expect(ok.json.result.resultType).toBe('complete');
  });

  it('answers a 2025 request without a session 400, as before', async () => {
    const res = await fetch(srv.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(400);
  });
});

describe('across nodes', () => {
  let a: TestServer;
  let b: TestServer;
  let other: TestServer;
  beforeAll(async () => {
    [a, b, other] = await Promise.all([
      startServer({ args: ['--tools', TOOLS], env: { MCP_CLUSTER_SECRET: SECRET, WORKERS: '1' } }),
      startServer({ args: ['--tools', TOOLS], env: { MCP_CLUSTER_SECRET: SECRET, WORKERS: '1' } }),
      startServer({ args: ['--tools', TOOLS], env: { MCP_CLUSTER_SECRET: `${SECRET}-other`, WORKERS: '1' } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop(), other?.stop()]);
  });

  it('completes a retry on another node with the same secret; another secret refuses the state', async () => {
    const r1 = await call(a.url, 'confirm');
    expect(r1.json.result.resultType).toBe('input_required');
    const state = r1.json.result.requestState as string;
    const retry = { requestState: state, inputResponses: { ok: { action: 'accept', content: {} } } };
    const r2 = await call(b.url, 'confirm', retry);
    expect(r2.json.result).toMatchObject({ resultType: 'complete', content: [{ text: expect.stringMatching(/^confirmed/) }] });
    const r3 = await call(other.url, 'confirm', retry);
    expect(r3.json.error.code).toBe(-32602);
  });
});
