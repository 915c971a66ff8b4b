/**
 * Per-client limits over HTTP against real nodes: the request rate per identity (MCP_RATE_LIMIT,
 * MCP_RATE_BURST), live sessions per identity (MCP_MAX_SESSIONS_PER_PRINCIPAL), and the client
 * address behind trusted proxies (MCP_TRUSTED_PROXIES), directly, through the local cluster's HAProxy
 * and across nodes (forwarded requests, an initialize handed over by a draining node).
 *
 * Distinct clients are distinct loopback source addresses (127.0.0.0/8 all reaches the node on
 * 127.0.0.1), so each test below has identities of its own. The rate is one token every 5 s, slow
 * beside the few requests a test sends between its assertions; a test never waits for the clock, only
 * polls (bounded) for a request to pass again.
 */
import { request, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type Cluster } from './helpers/cluster.js';
import { metricValue, POST_HEADERS, startServer, type TestServer } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: any;
}

interface Send {
  method?: 'POST' | 'GET' | 'DELETE';
  headers?: Record<string, string>;
  body?: unknown;
  /** Local (source) address of the connection: the client's identity for an untrusted peer. */
  from?: string;
}

/** One request on its own connection from `from`. An SSE answer resolves at its headers. */
function send(url: string, o: Send = {}): Promise<Answer> {
  const body = o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: o.method ?? 'POST',
      headers: { ...(o.method === 'POST' || o.method === undefined ? POST_HEADERS : { accept: 'text/event-stream' }), ...o.headers },
      localAddress: o.from ?? '127.0.0.1',
      agent: false,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      if (String(res.headers['content-type']).startsWith('text/event-stream')) {
        res.destroy();
        return resolve({ status: res.statusCode!, headers: res.headers, body: null });
      }
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = text === '' ? null : JSON.parse(text);
        } catch {
          /* not JSON: kept as text */
        }
        resolve({ status: res.statusCode!, headers: res.headers, body: parsed });
      });
    });
    req.end(body);
  });
}

const INIT = (id: number | string = 1): unknown => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'limits', version: '1' } },
});
const LIST = (id: number | string): unknown => ({ jsonrpc: '2.0', id, method: 'tools/list' });
const sessionHeaders = (sid: string): Record<string, string> => ({ 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' });

async function open(url: string, from: string, extra: Record<string, string> = {}): Promise<string> {
  const r = await send(url, { body: INIT(), from, headers: extra });
  expect(r.status).toBe(200);
  return String(r.headers['mcp-session-id']);
}

/**
 * Sends tools/list until one is refused (at most `max`); returns the answers. `vary` gives request i
 * extra headers (a different claimed address each time, say).
 */
async function untilLimited(
  url: string,
  sid: string,
  o: Send,
  max = 40,
  vary: (i: number) => Record<string, string> = () => ({}),
): Promise<Answer[]> {
  const out: Answer[] = [];
  for (let i = 0; i < max; i++) {
    const r = await send(url, { ...o, body: LIST(1000 + i), headers: { ...sessionHeaders(sid), ...o.headers, ...vary(i) } });
    out.push(r);
    if (r.status === 429) return out;
    expect(r.status).toBe(200);
  }
  throw new Error(`no 429 after ${max} requests`);
}

function expectRateRefusal(r: Answer, id: number | string | null): void {
  expect(r.status).toBe(429);
  const retry = Number(r.headers['retry-after']);
  expect(Number.isInteger(retry) && retry >= 1).toBe(true);
  expect(r.headers['content-type']).toBe('application/json');
  expect(r.body.jsonrpc).toBe('2.0');
  expect(r.body.id).toBe(id);
  expect(r.body.error.code).toBe(-32029);
  expect(r.body.error.message).toMatch(/MCP_RATE_LIMIT/);
  expect(r.body.error.data).toEqual({ limit: 'requests', retryAfter: retry });
}

describe('request rate per client (one node, 0.2 requests/s, burst 4, loopback trusted as a proxy)', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({ env: { MCP_RATE_LIMIT: '0.2', MCP_RATE_BURST: '4', MCP_TRUSTED_PROXIES: '127.0.0.1', WORKERS: '1' } });
  });
  afterAll(async () => {
    await srv?.stop();
  });

  it('a burst passes, then 429 with Retry-After and a JSON-RPC error carrying the request id; a refill lets it through again', async () => {
    const from = '127.0.0.2';
    const sid = await open(srv.url, from);
    const answers = await untilLimited(srv.url, sid, { from });
    // Burst 4, one spent on the initialize; more pass only if the clock refilled meanwhile.
    expect(answers.length).toBeGreaterThanOrEqual(4);
    expectRateRefusal(answers.at(-1)!, 1000 + answers.length - 1);
    // Initializing again does not reset the budget: the bucket is the client's, not the session's.
    const again = await send(srv.url, { body: INIT(7), from });
    expectRateRefusal(again, 7);
    // The bucket refills (a token every 5 s): a request passes again; the node served others meanwhile.
    expect((await send(srv.url, { body: LIST(1), from: '127.0.0.3', headers: sessionHeaders(sid) })).status).toBe(200);
    await waitFor(
      async () => (await send(srv.url, { body: LIST(2), from, headers: sessionHeaders(sid) })).status === 200,
      15_000,
      'a refill',
    );
    expect(Number(answers.at(-1)!.headers['retry-after'])).toBeLessThanOrEqual(5);
    expect(await metricValue(srv.base, 'mcp_rate_limited_total', 'limit="requests"')).toBeGreaterThanOrEqual(2);
    expect(await metricValue(srv.base, 'mcp_requests_total', 'status="429"')).toBeGreaterThanOrEqual(2);
  });

  it('GET and DELETE count too: refused with id null', async () => {
    const from = '127.0.0.4';
    const sid = await open(srv.url, from);
    await untilLimited(srv.url, sid, { from });
    const get = await send(srv.url, { method: 'GET', from, headers: sessionHeaders(sid) });
    expectRateRefusal(get, null);
    const del = await send(srv.url, { method: 'DELETE', from, headers: sessionHeaders(sid) });
    expectRateRefusal(del, null);
    // The DELETE was refused, not done: the session still answers (from another client).
    expect((await send(srv.url, { body: LIST(3), from: '127.0.0.5', headers: sessionHeaders(sid) })).status).toBe(200);
  });

  it('2026-07-28 requests (stateless) count, and their refusal carries the id and the era', async () => {
    const from = '127.0.0.6';
    const discover = (id: number): Send => ({
      from,
      headers: { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' },
      body: {
        jsonrpc: '2.0',
        id,
        method: 'server/discover',
        params: {
          _meta: {
            'io.modelcontextprotocol/protocolVersion': '2026-07-28',
            'io.modelcontextprotocol/clientInfo': { name: 'limits', version: '1' },
            'io.modelcontextprotocol/clientCapabilities': {},
          },
        },
      },
    });
    const before = await metricValue(srv.base, 'mcp_requests_total', 'status="429",method="server/discover",era="2026-07-28"');
    let last: Answer | null = null;
    let passed = 0;
    for (let i = 0; i < 40; i++) {
      last = await send(srv.url, discover(500 + i));
      if (last.status === 429) break;
      expect(last.status).toBe(200);
      expect(last.body.result).toBeDefined();
      passed++;
    }
    expect(passed).toBeGreaterThanOrEqual(4);
    expectRateRefusal(last!, 500 + passed);
    expect(await metricValue(srv.base, 'mcp_requests_total', 'status="429",method="server/discover",era="2026-07-28"')).toBe(before + 1);
  });

  it('two clients behind a trusted proxy (two X-Forwarded-For values) are limited independently', async () => {
    const sid = await open(srv.url, '127.0.0.7');
    // The peer is 127.0.0.1 (trusted): the client is the right-most untrusted X-Forwarded-For entry.
    const a = { 'x-forwarded-for': '198.51.100.1' };
    const b = { 'x-forwarded-for': '6.6.6.6, 198.51.100.2' };
    await untilLimited(srv.url, sid, { headers: a });
    expectRateRefusal(await send(srv.url, { body: LIST(9), headers: { ...sessionHeaders(sid), ...a } }), 9);
    expect((await send(srv.url, { body: LIST(10), headers: { ...sessionHeaders(sid), ...b } })).status).toBe(200);
    // A client claiming to be 198.51.100.2 to the left of the proxy's entry is still itself.
    expect(
      (await send(srv.url, { body: LIST(11), headers: { ...sessionHeaders(sid), 'x-forwarded-for': '198.51.100.1, 198.51.100.3' } }))
        .status,
    ).toBe(200);
    // Two header lines: the proxy's own line comes last.
    expect(
      (
        await send(srv.url, {
          body: LIST(12),
          headers: { ...sessionHeaders(sid), 'x-forwarded-for': ['198.51.100.1', '198.51.100.4'] as never },
        })
      ).status,
    ).toBe(200);
  });

  it("an untrusted peer's X-Forwarded-For is ignored: it is limited by its own address", async () => {
    const from = '127.0.0.8';
    const sid = await open(srv.url, from);
    // A different claimed address on every request: were any believed, no request would be refused.
    const answers = await untilLimited(srv.url, sid, { from }, 40, (i) => ({ 'x-forwarded-for': `198.51.100.${50 + i}` }));
    expect(answers.length).toBeLessThanOrEqual(10);
    // The addresses it claimed were never charged: through the trusted proxy each is a fresh client.
    expect((await send(srv.url, { body: LIST(21), headers: { ...sessionHeaders(sid), 'x-forwarded-for': '198.51.100.50' } })).status).toBe(
      200,
    );
  });

  it('a hostile X-Forwarded-For (huge, garbage) from a trusted peer is answered normally', async () => {
    const sid = await open(srv.url, '127.0.0.9');
    for (const xff of ['x'.repeat(12_000), ',,,,', '[::1', '1.2.3.4:99999999999999999999', `${'10.0.0.1,'.repeat(1000)}garbage`]) {
      const r = await send(srv.url, { body: LIST(30), from: '127.0.0.1', headers: { ...sessionHeaders(sid), 'x-forwarded-for': xff } });
      expect([200, 429]).toContain(r.status);
    }
    expect(await metricValue(srv.base, 'mcp_internal_errors_total')).toBe(0);
  });
});

describe('live sessions per client (one node, 2 per identity, 3 s idle expiry)', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({ env: { MCP_MAX_SESSIONS_PER_PRINCIPAL: '2', MCP_SESSION_IDLE_MS: '3000', WORKERS: '1' } });
  });
  afterAll(async () => {
    await srv?.stop();
  });

  const expectSessionRefusal = (r: Answer, id: number | string): void => {
    expect(r.status).toBe(429);
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(r.headers['mcp-session-id']).toBeUndefined();
    expect(r.body.id).toBe(id);
    expect(r.body.error.code).toBe(-32029);
    expect(r.body.error.message).toMatch(/MCP_MAX_SESSIONS_PER_PRINCIPAL/);
    expect(r.body.error.data).toEqual({ limit: 'sessions', max: 2 });
  };

  it('an initialize beyond the cap is refused, re-initializing does not reset it, a DELETE frees a slot, others are unaffected', async () => {
    const from = '127.0.1.2';
    const s1 = await open(srv.url, from);
    const s2 = await open(srv.url, from);
    expectSessionRefusal(await send(srv.url, { body: INIT('third'), from }), 'third');
    expectSessionRefusal(await send(srv.url, { body: INIT('again'), from }), 'again');
    // Keep both alive meanwhile (3 s idle expiry): traffic on each.
    for (const sid of [s1, s2]) expect((await send(srv.url, { body: LIST(1), from, headers: sessionHeaders(sid) })).status).toBe(200);
    // Another client opens sessions as usual.
    await open(srv.url, '127.0.1.3');
    expect((await send(srv.url, { method: 'DELETE', from, headers: sessionHeaders(s1) })).status).toBe(200);
    await open(srv.url, from);
    expect(await metricValue(srv.base, 'mcp_rate_limited_total', 'limit="sessions"')).toBe(2);
    expect(await metricValue(srv.base, 'mcp_requests_total', 'status="429",method="initialize"')).toBe(2);
  });

  it('a session that expires idle frees its slot', async () => {
    const from = '127.0.1.4';
    await open(srv.url, from);
    await open(srv.url, from);
    expect((await send(srv.url, { body: INIT(1), from })).status).toBe(429);
    // Both expire after 3 s without traffic; polled, each refusal is an initialize that made no session.
    await waitFor(async () => (await send(srv.url, { body: INIT(2), from })).status === 200, 20_000, 'an idle session to expire');
  });
});

describe('limits off (the default)', () => {
  it('nothing changes: a fast client is never refused and no Retry-After is sent', async () => {
    const srv = await startServer({ env: { WORKERS: '1' } });
    try {
      const sids = await Promise.all(Array.from({ length: 10 }, () => open(srv.url, '127.0.2.2')));
      const answers = await Promise.all(
        Array.from({ length: 100 }, (_, i) => send(srv.url, { body: LIST(i), from: '127.0.2.2', headers: sessionHeaders(sids[i % 10]) })),
      );
      for (const r of answers) {
        expect(r.status).toBe(200);
        expect(r.headers['retry-after']).toBeUndefined();
      }
      expect(await metricValue(srv.base, 'mcp_rate_limited_total')).toBe(0);
    } finally {
      await srv.stop();
    }
  });
});

describe('through the local cluster (HAProxy with option forwardfor, 2 nodes; 0.2 requests/s, burst 5, 1 session per client)', () => {
  let cluster: Cluster;
  const direct = (i: number): string => `http://127.0.0.1:${cluster.nodes[i].port}/mcp`;
  beforeAll(async () => {
    cluster = await startTestCluster(
      {
        MCP_TOOLS: 'test/fixtures/tools.mjs',
        MCP_RATE_LIMIT: '0.2',
        MCP_RATE_BURST: '5',
        MCP_MAX_SESSIONS_PER_PRINCIPAL: '1',
        MCP_DRAIN_WINDOW_MS: '60000',
      },
      2,
    );
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('the client address is the one limited, not the balancer', async () => {
    const lb = cluster.lbUrl;
    const sid = await open(lb, '127.0.3.2');
    // A client's own X-Forwarded-For line comes before HAProxy's: a new claim on every request changes
    // nothing, it is limited as the address HAProxy saw.
    const answers = await untilLimited(lb, sid, { from: '127.0.3.2' }, 40, (i) => ({ 'x-forwarded-for': `198.51.100.${i + 1}` }));
    expect(answers.length).toBeLessThanOrEqual(10);
    expectRateRefusal(answers.at(-1)!, 1000 + answers.length - 1);
    // Every request above went to the session's owner (owner routing); so does this one, from another
    // client: were the balancer's address the key, it would be refused.
    expect((await send(lb, { body: LIST(1), from: '127.0.3.3', headers: sessionHeaders(sid) })).status).toBe(200);
  });

  it('a request a peer forwarded is counted by the node it reached first, not again by the owner', async () => {
    const from = '127.0.3.4';
    const sid = await open(direct(0), from);
    const forwardedBefore = await metricValue(`http://127.0.0.1:${cluster.nodes[1].port}`, 'mcp_forwarded_requests_total');
    // Two calls through node2 (forwarded to node1, the owner), then three straight to node1: with the
    // initialize, node1 must have counted 4 of its 5, so all pass. Counted twice it would be 6.
    for (let i = 0; i < 2; i++) expect((await send(direct(1), { body: LIST(i), from, headers: sessionHeaders(sid) })).status).toBe(200);
    expect(await metricValue(`http://127.0.0.1:${cluster.nodes[1].port}`, 'mcp_forwarded_requests_total')).toBe(forwardedBefore + 2);
    for (let i = 0; i < 3; i++)
      expect((await send(direct(0), { body: LIST(10 + i), from, headers: sessionHeaders(sid) })).status).toBe(200);
  });

  it('an initialize a draining node hands over is counted for its client on the node that takes it', async () => {
    // node1 hands initializes only to peers it has seen alive: wait until it forwards to node2 (each
    // attempt from its own address, so that polling spends no client's budget).
    const onNode2 = await open(direct(1), '127.0.3.8');
    let attempt = 0;
    await waitFor(
      async () =>
        (await send(direct(0), { body: LIST(1), from: `127.0.4.${++attempt % 250}`, headers: sessionHeaders(onNode2) })).status === 200,
      15_000,
      'node1 to see node2',
      200,
    );
    // A call in flight holds node1's drain open; its initializes then go to node2.
    const holder = await open(direct(0), '127.0.3.5');
    const controller = new AbortController();
    const inFlight = fetch(direct(0), {
      method: 'POST',
      headers: { ...POST_HEADERS, ...sessionHeaders(holder) },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'wait', arguments: { ms: 60_000 } } }),
      signal: controller.signal,
    }).catch(() => null);
    await waitFor(
      async () => (await metricValue(`http://127.0.0.1:${cluster.nodes[0].port}`, 'mcp_requests_in_flight')) === 1,
      10_000,
      'call in flight',
    );
    const stopped = cluster.stopNode(0, 'SIGTERM');
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${cluster.nodes[0].port}/readyz`)).status === 503, 10_000, 'node1 draining');
      const handed = await send(direct(0), { body: INIT('a'), from: '127.0.3.6' });
      expect(handed.status).toBe(200);
      expect(String(handed.headers['mcp-session-id'])).toContain(`.${Buffer.from('node2').toString('base64url')}.`);
      // node2 counts that session for 127.0.3.6, the client, so a second one is refused...
      const second = await send(direct(0), { body: INIT('b'), from: '127.0.3.6' });
      expect(second.status).toBe(429);
      expect(second.body.error.data.limit).toBe('sessions');
      expect(second.body.id).toBe('b');
      // ...while another client's is not (were sessions counted for node1's address, it would be).
      expect((await send(direct(0), { body: INIT('c'), from: '127.0.3.7' })).status).toBe(200);
    } finally {
      controller.abort();
      await inFlight;
      await stopped;
    }
  });
});
