/**
 * Session binding through HTTP against real processes and the real OpenID provider
 * (test/helpers/oidc.ts), two principals being two of its clients (raw-client, other-client):
 * another principal's POST, GET, Last-Event-ID resume and DELETE get exactly the unknown session's
 * 404 and are counted, while the owner's session and GET stream go on; the owner with a new token
 * (rotation) keeps its session; a 2026-07-28 requestState replayed by another principal is refused as
 * a tampered one and counted; a listen stream ends at its token's expiry; per-client limits count a
 * principal (not the shared address) across its tokens; and through two cluster nodes, a forwarded
 * request carries its principal to the owner, which binds on it, while a principal header a client
 * sets itself is ignored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue, POST_HEADERS, startServer, type TestServer } from './helpers/server.js';
import { SCOPES, SHORT_TTL_S, startIssuer, type TestIssuer } from './helpers/oidc.js';
import { SseReader } from './helpers/sse.js';
import { startRedis, stopAllRedis, type RedisServer } from './helpers/redis.js';
import { nodeBase, nodeUrl, quietLog, startPair, type RunningNode } from './helpers/in-process.js';
import { waitFor } from './helpers/wait.js';

const V2025 = '2025-11-25';
const MODERN = '2026-07-28';
const BINDING = 'mcp_auth_binding_refusals_total';
let nextId = 1;

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

function message(method: string, params: Record<string, unknown> = {}): string {
  return JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params });
}

async function post(url: string, body: string, headers: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { ...POST_HEADERS, ...headers }, body });
}

/** A session opened with `token` (initialize + initialized): its id. */
async function openSession(url: string, token: string): Promise<string> {
  const res = await post(
    url,
    message('initialize', { protocolVersion: V2025, capabilities: {}, clientInfo: { name: 'binding-test', version: '1' } }),
    bearer(token),
  );
  expect(res.status).toBe(200);
  await res.json();
  const sid = res.headers.get('mcp-session-id') ?? '';
  expect(sid).not.toBe('');
  const note = await post(url, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), session(token, sid));
  expect(note.status).toBe(202);
  return sid;
}

function session(token: string, sid: string): Record<string, string> {
  return { ...bearer(token), 'mcp-session-id': sid, 'mcp-protocol-version': V2025 };
}

async function call(url: string, token: string, sid: string, method: string, params: Record<string, unknown> = {}): Promise<Response> {
  return post(url, message(method, params), session(token, sid));
}

async function whoami(url: string, token: string, sid: string): Promise<Response> {
  return call(url, token, sid, 'tools/call', { name: 'whoami', arguments: {} });
}

function getStream(url: string, token: string, sid: string, lastEventId?: string): Promise<Response> {
  const headers: Record<string, string> = { ...session(token, sid), accept: 'text/event-stream' };
  if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
  return fetch(url, { method: 'GET', headers });
}

function del(url: string, token: string, sid: string): Promise<Response> {
  return fetch(url, { method: 'DELETE', headers: session(token, sid) });
}

/** Status, content type and body text: what a client can tell of an answer. */
async function seen(res: Response): Promise<{ status: number; type: string | null; body: string }> {
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

/** A 2026-07-28 request's headers and body. */
function modern(method: string, params: Record<string, unknown>, token: string, name?: string): RequestInit {
  const _meta = {
    'io.modelcontextprotocol/protocolVersion': MODERN,
    'io.modelcontextprotocol/clientInfo': { name: 'binding-test', version: '1' },
    'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
  };
  const headers: Record<string, string> = { ...POST_HEADERS, ...bearer(token), 'mcp-protocol-version': MODERN, 'mcp-method': method };
  if (name !== undefined) headers['mcp-name'] = name;
  return { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params: { ...params, _meta } }) };
}

/** The next SSE event that carries data, parsed. */
async function nextData(reader: SseReader, ms = 10_000): Promise<any> {
  for (;;) {
    const e = await reader.next(ms);
    if (e === null) throw new Error('stream ended');
    if (e.data !== '') return { id: e.id, json: JSON.parse(e.data) };
  }
}

describe('session binding on one node', () => {
  let as: TestIssuer;
  let srv: TestServer;
  let tokenA: string;
  let tokenB: string;

  beforeAll(async () => {
    as = await startIssuer();
    srv = await startServer({ env: { MCP_AUTH_ISSUER: as.issuer } });
    [tokenA, tokenB] = await Promise.all([as.token(srv.url, SCOPES, 'raw-client'), as.token(srv.url, SCOPES, 'other-client')]);
  });
  afterAll(async () => {
    await srv?.stop();
    await as?.stop();
  });

  it("answers another principal's POST, GET, resume and DELETE as an unknown session; the owner's session and stream go on", async () => {
    const sid = await openSession(srv.url, tokenA);
    expect((await call(srv.url, tokenA, sid, 'resources/subscribe', { uri: 'test://watched-resource' })).status).toBe(200);
    const stream = await getStream(srv.url, tokenA, sid);
    expect(stream.status).toBe(200);
    const reader = new SseReader(stream);
    const update = async (): Promise<void> => {
      const res = await call(srv.url, tokenA, sid, 'tools/call', { name: 'test_update_watched_resource', arguments: {} });
      expect(res.status).toBe(200);
      await res.text();
    };
    await update();
    const first = await nextData(reader);
    expect(first.json.method).toBe('notifications/resources/updated');
    expect(first.id).toBeTruthy();

    // What a client gets for a session that does not exist: the reference every refusal must equal.
    const unknownPost = await seen(await whoami(srv.url, tokenB, 'no-such-session'));
    const unknownGet = await seen(await getStream(srv.url, tokenB, 'no-such-session'));
    const unknownDelete = await seen(await del(srv.url, tokenB, 'no-such-session'));
    expect([unknownPost.status, unknownGet.status, unknownDelete.status]).toEqual([404, 404, 404]);

    expect(await seen(await whoami(srv.url, tokenB, sid))).toEqual(unknownPost);
    // A notification too: no 202 shows the session exists.
    const note = await post(srv.url, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), session(tokenB, sid));
    expect(await seen(note)).toEqual(unknownPost);
    expect(await seen(await getStream(srv.url, tokenB, sid))).toEqual(unknownGet);
    // A resume from before the last event: 404, and nothing replayed.
    expect(await seen(await getStream(srv.url, tokenB, sid, first.id as string))).toEqual(unknownGet);
    expect(await seen(await del(srv.url, tokenB, sid))).toEqual(unknownDelete);

    expect(await metricValue(srv.base, BINDING, 'kind="post"')).toBe(2);
    expect(await metricValue(srv.base, BINDING, 'kind="get"')).toBe(1);
    expect(await metricValue(srv.base, BINDING, 'kind="resume"')).toBe(1);
    expect(await metricValue(srv.base, BINDING, 'kind="delete"')).toBe(1);

    // The owner's stream was neither closed nor taken over: it gets the next event.
    await update();
    const second = await nextData(reader);
    expect(second.json.method).toBe('notifications/resources/updated');
    expect(second.id).not.toBe(first.id);
    const who = await whoami(srv.url, tokenA, sid);
    expect(who.status).toBe(200);
    expect((await who.json()).result.structuredContent).toMatchObject({ subject: 'raw-client', clientId: 'raw-client' });

    // Token rotation: the same principal with a new token keeps its session.
    const rotated = await as.token(srv.url, SCOPES, 'raw-client');
    expect(rotated).not.toBe(tokenA);
    const again = await whoami(srv.url, rotated, sid);
    expect(again.status).toBe(200);
    expect((await again.json()).result.structuredContent).toMatchObject({ subject: 'raw-client', clientId: 'raw-client' });
    // ... and still nobody else does, whatever token the owner used last.
    expect((await whoami(srv.url, tokenB, sid)).status).toBe(404);

    // The owner ends it; its stream ends with it.
    expect((await del(srv.url, rotated, sid)).status).toBe(200);
    await reader.rest(10_000);
    expect((await whoami(srv.url, tokenA, sid)).status).toBe(404);
  });

  it('refuses a requestState replayed by another principal as a tampered one, and counts it', async () => {
    const name = 'test_input_required_result_request_state';
    const first = await fetch(srv.url, modern('tools/call', { name, arguments: {} }, tokenA, name));
    const r1: any = await first.json();
    expect(r1.result.resultType).toBe('input_required');
    const state = r1.result.requestState as string;
    const retry = (s: string, token: string): RequestInit =>
      modern(
        'tools/call',
        { name, arguments: {}, requestState: s, inputResponses: { confirm: { action: 'accept', content: { ok: true } } } },
        token,
        name,
      );
    const errorOf = async (res: Response): Promise<unknown> => ((await res.json()) as { error?: unknown }).error;

    // One changed character of the MAC: a tampered state.
    const last = state.at(-2) === 'A' ? 'B' : 'A';
    const tampered = await errorOf(await fetch(srv.url, retry(`${state.slice(0, -2)}${last}${state.at(-1)}`, tokenA)));
    expect(tampered).toMatchObject({ code: -32602 });
    const replayed = await errorOf(await fetch(srv.url, retry(state, tokenB)));
    expect(replayed).toEqual(tampered);
    await waitFor(async () => (await metricValue(srv.base, BINDING, 'kind="request_state"')) === 1, 10_000, 'the worker to count it');

    // The principal it was minted for, with a new token, completes the request.
    const rotated = await as.token(srv.url, SCOPES, 'raw-client');
    const done: any = await (await fetch(srv.url, retry(state, rotated))).json();
    expect(done.result).toMatchObject({ resultType: 'complete', content: [{ text: 'Confirmed with the request state echoed back' }] });
  });

  it("ends a listen stream when its token expires, and counts it; a long-lived token's stream stays", async () => {
    const short = await as.token(srv.url, SCOPES, 'short-client');
    const listen = (token: string): Promise<Response> =>
      fetch(srv.url, modern('subscriptions/listen', { notifications: { resourceSubscriptions: ['test://watched-resource'] } }, token));
    const shortRes = await listen(short);
    const longRes = await listen(tokenA);
    expect([shortRes.status, longRes.status]).toEqual([200, 200]);
    const shortStream = new SseReader(shortRes);
    const longStream = new SseReader(longRes);
    expect((await nextData(shortStream)).json.method).toBe('notifications/subscriptions/acknowledged');
    expect((await nextData(longStream)).json.method).toBe('notifications/subscriptions/acknowledged');
    // The short token expires SHORT_TTL_S after issue; the sweep runs every second. Bounded, not slept.
    const rest = await shortStream.rest((SHORT_TTL_S + 15) * 1000);
    expect(rest.at(-1)?.retry).toBeGreaterThan(0);
    expect(await metricValue(srv.base, BINDING, 'kind="listen"')).toBe(1);
    // The other stream is open: a change still reaches it.
    const name = 'test_update_watched_resource';
    expect((await fetch(srv.url, modern('tools/call', { name, arguments: {} }, tokenA, name))).status).toBe(200);
    expect((await nextData(longStream)).json.method).toBe('notifications/resources/updated');
    await longStream.cancel();
  }, 30_000);

  it("ends a 2025 session's GET stream when its token expires, and counts it; the same principal's new token resumes the session", async () => {
    const short = await as.token(srv.url, SCOPES, 'short-client');
    const sid = await openSession(srv.url, short);
    const res = await getStream(srv.url, short, sid);
    expect(res.status).toBe(200);
    const stream = new SseReader(res);
    // The token expires SHORT_TTL_S after issue; open streams are checked at every heartbeat round. Bounded, not slept.
    const rest = await stream.rest((SHORT_TTL_S + 15) * 1000);
    expect(rest.at(-1)?.retry).toBeGreaterThan(0);
    expect(await metricValue(srv.base, BINDING, 'kind="get_expired"')).toBe(1);
    // The session is whole: a current token of the same principal opens its stream again and calls.
    const fresh = await as.token(srv.url, SCOPES, 'short-client');
    const again = await getStream(srv.url, fresh, sid);
    expect(again.status).toBe(200);
    await again.body?.cancel();
    expect((await whoami(srv.url, fresh, sid)).status).toBe(200);
  }, 30_000);
});

describe('per-client limits key on the principal', () => {
  let as: TestIssuer;
  let srv: TestServer;

  beforeAll(async () => {
    as = await startIssuer();
    srv = await startServer({
      env: {
        MCP_AUTH_ISSUER: as.issuer,
        // One token per 10 s: no refill within the test.
        MCP_RATE_LIMIT: '0.1',
        MCP_RATE_BURST: '5',
        MCP_MAX_SESSIONS_PER_PRINCIPAL: '2',
      },
    });
  });
  afterAll(async () => {
    await srv?.stop();
    await as?.stop();
  });

  async function init(token: string): Promise<Response> {
    return post(
      srv.url,
      message('initialize', { protocolVersion: V2025, capabilities: {}, clientInfo: { name: 'binding-limits', version: '1' } }),
      bearer(token),
    );
  }

  it("holds one principal's sessions across its tokens and gives two principals from one address their own budgets", async () => {
    const [a1, a2, b] = await Promise.all([
      as.token(srv.url, SCOPES, 'raw-client'),
      as.token(srv.url, SCOPES, 'raw-client'),
      as.token(srv.url, SCOPES, 'other-client'),
    ]);
    expect(a1).not.toBe(a2);
    // raw-client: two sessions, one per token (2 of 5 requests), then a third is over the session cap whichever token asks.
    const s1 = await init(a1);
    expect(s1.status).toBe(200);
    await s1.text();
    const s2 = await init(a2);
    expect(s2.status).toBe(200);
    await s2.text();
    const third = await init(a1);
    expect(third.status).toBe(429);
    expect((await third.json()).error.data).toMatchObject({ limit: 'sessions', max: 2 });
    const fourth = await init(a2);
    expect(fourth.status).toBe(429);
    await fourth.text();
    // The fifth request of raw-client is its last token; the sixth is over the rate.
    const sid = s1.headers.get('mcp-session-id')!;
    expect((await call(srv.url, a2, sid, 'ping')).status).toBe(200);
    const over = await call(srv.url, a1, sid, 'ping');
    expect(over.status).toBe(429);
    expect((await over.json()).error.data).toMatchObject({ limit: 'requests' });

    // other-client, from the same address, has its own budget: a session and four more requests.
    const sb = await init(b);
    expect(sb.status).toBe(200);
    await sb.text();
    const sidB = sb.headers.get('mcp-session-id')!;
    for (let i = 0; i < 4; i++) expect((await call(srv.url, b, sidB, 'ping')).status).toBe(200);
    expect((await call(srv.url, b, sidB, 'ping')).status).toBe(429);
    expect(await metricValue(srv.base, 'mcp_rate_limited_total', 'limit="sessions"')).toBe(2);
    expect(await metricValue(srv.base, 'mcp_rate_limited_total', 'limit="requests"')).toBe(2);
  });
});

describe('session binding across a forward', () => {
  const SECRET = 'binding-test-cluster-secret';
  const RESOURCE = 'https://mcp.binding.example/mcp';
  let redis: RedisServer;
  let as: TestIssuer;
  let a: RunningNode;
  let b: RunningNode;
  const url = nodeUrl;
  const base = nodeBase;

  beforeAll(async () => {
    [redis, as] = await Promise.all([startRedis(), startIssuer()]);
    quietLog('auth-binding');
    [a, b] = await startPair(['bind-node-a', 'bind-node-b'], redis.url, SECRET, {
      MCP_AUTH_ISSUER: as.issuer,
      MCP_AUTH_AUDIENCE: RESOURCE,
      MCP_PUBLIC_URL: 'https://mcp.binding.example',
    });
  }, 60_000);

  afterAll(async () => {
    await b?.close('test end');
    await a?.close('test end');
    await stopAllRedis();
    await as?.stop();
  }, 60_000);

  it("carries the verified principal to the owner, which binds on it; a client's own principal header is ignored", async () => {
    const [tokenA, tokenB] = await Promise.all([as.token(RESOURCE, SCOPES, 'raw-client'), as.token(RESOURCE, SCOPES, 'other-client')]);
    const sid = await openSession(url(a), tokenA);
    const forwarded = (): Promise<number> => metricValue(base(b), 'mcp_forwarded_requests_total');
    const before = await forwarded();

    // The owner through node-b with a token node-a has never seen: node-a takes the principal node-b
    // verified (its own token cache does not grow) and the tool sees the caller.
    const rotated = await as.token(RESOURCE, SCOPES, 'raw-client');
    const cachedOnA = a.context.auth!.verifier.cached;
    const who = await whoami(url(b), rotated, sid);
    expect(who.status).toBe(200);
    expect((await who.json()).result.structuredContent).toMatchObject({ subject: 'raw-client', clientId: 'raw-client' });
    expect(a.context.auth!.verifier.cached).toBe(cachedOnA);

    // Another principal through node-b: forwarded, and refused by the owner like an unknown session.
    const unknown = await seen(await whoami(url(a), tokenB, 'no-such-session'));
    expect(await seen(await whoami(url(b), tokenB, sid))).toEqual(unknown);
    expect((await getStream(url(b), tokenB, sid)).status).toBe(404);
    expect((await del(url(b), tokenB, sid)).status).toBe(404);
    expect(await forwarded()).toBe(before + 4);
    expect(await metricValue(base(a), BINDING, 'kind="post"')).toBe(1);
    expect(await metricValue(base(a), BINDING, 'kind="get"')).toBe(1);
    expect(await metricValue(base(a), BINDING, 'kind="delete"')).toBe(1);

    // A client naming raw-client in the principal header itself, straight to the owner or through
    // node-b, with or without a made-up forward signature: ignored, its own token decides.
    const claimed = Buffer.from(JSON.stringify([as.issuer, 'raw-client', 'raw-client', SCOPES.split(' '), null, null])).toString(
      'base64url',
    );
    const forged = { 'x-mcp-principal': claimed, 'x-mcp-forward-auth': 'Ym9kZS1ub2RlLWI.1.AAAA' };
    for (const node of [a, b]) {
      for (const extra of [{ 'x-mcp-principal': claimed }, forged]) {
        const res = await post(url(node), message('tools/call', { name: 'whoami', arguments: {} }), { ...session(tokenB, sid), ...extra });
        expect(res.status).toBe(404);
        await res.text();
      }
    }
    expect(await metricValue(base(a), BINDING, 'kind="post"')).toBe(5);

    // The owner's session is unaffected.
    const still = await whoami(url(b), tokenA, sid);
    expect(still.status).toBe(200);
    await still.text();
    expect((await del(url(b), tokenA, sid)).status).toBe(200);
  });
});
