/** SIGTERM drains: readiness fails, no new sessions, streams closed with retry, spread over the window. */
import { afterAll, describe, expect, it } from 'vitest';
import { initialize, metricValue, POST_HEADERS, startServer } from './helpers/server.js';
import { Redis } from 'ioredis';
import { startRedis, stopAllRedis } from './helpers/redis.js';
import { waitFor } from './helpers/wait.js';
import { SseReader } from './helpers/sse.js';

async function openStreams(url: string, n: number): Promise<SseReader[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const { sid } = await initialize(url);
      const res = await fetch(url, {
        headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' },
      });
      const r = new SseReader(res);
      await r.next();
      return r;
    }),
  );
}

async function closeTimes(readers: SseReader[], t0: number): Promise<Array<{ at: number; retry: number | undefined }>> {
  return Promise.all(
    readers.map(async (r) => {
      const events = await r.rest(8000);
      return { at: Date.now() - t0, retry: events.find((e) => e.retry !== undefined)?.retry };
    }),
  );
}

describe('drain on SIGTERM', () => {
  it('fails /readyz at once, refuses new sessions, and closes streams with retry spread over the window', async () => {
    const srv = await startServer({ env: { MCP_DRAIN_WINDOW_MS: '1500', MCP_SSE_RETRY_MS: '700' } });
    const readers = await openStreams(srv.url, 12);
    const t0 = Date.now();
    const exit = srv.stop('SIGTERM');
    await srv.waitForLog((l) => l.msg === 'draining');
    const ready = await fetch(`${srv.base}/readyz`);
    expect(ready.status).toBe(503);
    expect((await ready.json()).status).toBe('draining');
    const init = await fetch(srv.url, {
      method: 'POST',
      headers: POST_HEADERS,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
      }),
    });
    expect(init.status).toBe(503);
    const closed = await closeTimes(readers, t0);
    expect(closed.every((c) => c.retry === 700)).toBe(true);
    const times = closed.map((c) => c.at).sort((a, b) => a - b);
    // Spread: not all at once, and all within the window (plus slack).
    expect(times.at(-1)! - times[0]).toBeGreaterThan(300);
    expect(times.at(-1)!).toBeLessThan(4000);
    expect(await exit).toBe(0);
    expect(srv.logs.some((l) => l.msg === 'stopped')).toBe(true);
  });

  it('closes every stream at once with jitter off', async () => {
    const srv = await startServer({ env: { MCP_DRAIN_WINDOW_MS: '1500', MCP_DRAIN_JITTER: '0' } });
    const readers = await openStreams(srv.url, 8);
    const t0 = Date.now();
    const exit = srv.stop('SIGTERM');
    const closed = await closeTimes(readers, t0);
    const times = closed.map((c) => c.at).sort((a, b) => a - b);
    expect(times.at(-1)! - times[0]).toBeLessThan(300);
    expect(await exit).toBe(0);
  });
});

describe('drain on SIGTERM: requests in flight and the registry', () => {
  const call = (url: string, sid: string, id: number, ms: number): Promise<Response> =>
    fetch(url, {
      method: 'POST',
      headers: { ...POST_HEADERS, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'wait', arguments: { ms } } }),
    });

  it('answers 200 calls in flight (no SSE stream open) before it exits', async () => {
    const srv = await startServer({ args: ['--tools', 'test/fixtures/tools.mjs'], env: { MCP_DRAIN_WINDOW_MS: '20000' } });
    const sids = await Promise.all(Array.from({ length: 20 }, () => initialize(srv.url).then((r) => r.sid)));
    // Each call waits 1.5 s in its handler: all 200 are in the workers when SIGTERM comes.
    const calls = Array.from({ length: 200 }, (_, i) => call(srv.url, sids[i % sids.length], i + 1, 1500));
    await waitFor(async () => (await metricValue(srv.base, 'mcp_requests_in_flight')) === 200, 20_000, '200 calls in flight');
    const exit = srv.stop('SIGTERM');
    const answers = await Promise.all(calls);
    const bodies = await Promise.all(answers.map((r) => r.json()));
    expect(answers.map((r) => r.status)).toEqual(answers.map(() => 200));
    for (const [i, b] of bodies.entries()) {
      expect(b.id).toBe(i + 1);
      expect(b.result.content[0].text).toBe('done');
    }
    expect(await exit).toBe(0);
    const draining = srv.logs.find((l) => l.msg === 'draining')!;
    expect(draining.requestsInFlight).toBe(200);
  });
});

describe('drain on SIGTERM: past the window, and the registry', () => {
  afterAll(stopAllRedis);

  it('answers calls still running at the end of the window with 503 and a JSON-RPC error, then exits', async () => {
    const srv = await startServer({ args: ['--tools', 'test/fixtures/tools.mjs'], env: { MCP_DRAIN_WINDOW_MS: '500' } });
    const { sid } = await initialize(srv.url);
    const slow = Array.from({ length: 5 }, (_, i) =>
      fetch(srv.url, {
        method: 'POST',
        headers: { ...POST_HEADERS, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' },
        body: JSON.stringify({ jsonrpc: '2.0', id: i + 1, method: 'tools/call', params: { name: 'wait', arguments: { ms: 600_000 } } }),
      }),
    );
    await waitFor(async () => (await metricValue(srv.base, 'mcp_requests_in_flight')) === 5, 20_000, '5 calls in flight');
    const exit = srv.stop('SIGTERM');
    for (const res of await Promise.all(slow)) {
      expect(res.status).toBe(503);
      expect((await res.json()).error.message).toMatch(/shutting down/);
    }
    expect(await exit).toBe(0);
  });

  it('removes every registry key of the node, with more sessions than MCP_REGISTRY_QUEUE_MAX, before it leaves the node list', async () => {
    const redis = await startRedis();
    const client = new Redis(redis.url);
    try {
      const srv = await startServer({
        env: { REDIS_URL: redis.url, NODE_ID: 'drainer', MCP_REGISTRY_QUEUE_MAX: '50', MCP_DRAIN_WINDOW_MS: '200' },
      });
      const sids: string[] = [];
      // Bounded concurrency so the queue (50) keeps up while sessions are created.
      for (let i = 0; i < 6; i++)
        sids.push(...(await Promise.all(Array.from({ length: 50 }, () => initialize(srv.url).then((r) => r.sid)))));
      await waitFor(async () => (await client.scard('mcp:node:drainer:sessions')) === 300, 20_000, '300 keys written');
      expect(await srv.stop('SIGTERM')).toBe(0);
      expect(await client.exists(...sids.map((s) => `mcp:session:${s}`))).toBe(0);
      expect(await client.exists('mcp:node:drainer:sessions')).toBe(0);
      expect(await client.sismember('mcp:nodes:known', 'drainer')).toBe(0);
      expect(srv.logs.some((l) => l.msg === 'registry writes not flushed before shutdown')).toBe(false);
    } finally {
      client.disconnect();
    }
  });
});
