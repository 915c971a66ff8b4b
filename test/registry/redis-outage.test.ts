/**
 * Redis down, slow or restarted: no request waits on Redis, the write queue stays
 * bounded (drops counted), the misroute check degrades to local-only (counted), and when Redis comes
 * back empty every live local session is re-asserted within 10 s.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initialize, metricValue, rpc, startServer, type TestServer } from '../helpers/server.js';
import { startRedis, stopAllRedis, waitFor, type RedisServer } from '../helpers/redis.js';

const CALL = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'test_simple_text', arguments: {} } };
/** Generous per-request bound on a shared 2-core CI machine; a request that waited on Redis would
 * wait on reconnect attempts and timeouts measured in seconds. */
const PROMPT_MS = 2500;

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

async function initStorm(url: string, n: number): Promise<string[]> {
  const results = await Promise.all(Array.from({ length: n }, () => timed(() => initialize(url))));
  for (const r of results) {
    expect(r.value.res.status).toBe(200);
    expect(r.value.sid).not.toBe('');
    expect(r.ms).toBeLessThan(PROMPT_MS);
  }
  return results.map((r) => r.value.sid);
}

async function allPresent(client: Redis, sids: string[], node: string): Promise<boolean> {
  const values = await client.mget(...sids.map((s) => `mcp:session:${s}`));
  return values.every((v) => v !== null && JSON.parse(v).node === node);
}

describe('Redis registry when Redis dies, stalls and comes back empty', () => {
  let redis: RedisServer;
  let client: Redis;
  let a: TestServer;
  let tiny: TestServer;
  const live: string[] = [];
  const liveTiny: string[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => 100 });
    client.on('error', () => {});
    [a, tiny] = await Promise.all([
      startServer({ env: { REDIS_URL: redis.url, NODE_ID: 'a', MCP_FORWARD: '0' } }),
      startServer({ env: { REDIS_URL: redis.url, NODE_ID: 'tiny', MCP_FORWARD: '0', MCP_REGISTRY_QUEUE_MAX: '5' } }),
    ]);
    await Promise.all([a.waitForLog((l) => l.msg === 'registry connected'), tiny.waitForLog((l) => l.msg === 'registry connected')]);
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), tiny?.stop()]);
    client?.disconnect();
    await stopAllRedis();
  });

  it('/readyz reports ready only with the registry connected', async () => {
    const ready = await waitFor(
      async () => {
        const res = await fetch(`${a.base}/readyz`);
        return res.status === 200 ? res.json() : null;
      },
      10_000,
      '/readyz 200',
    );
    expect(ready.registry).toBe('connected');
  });

  it('before the outage: sessions are written', async () => {
    live.push(...(await initStorm(a.url, 20)));
    liveTiny.push(...(await initStorm(tiny.url, 3)));
    await waitFor(() => allPresent(client, live, 'a'), 5000, 'keys of a');
    await waitFor(() => allPresent(client, liveTiny, 'tiny'), 5000, 'keys of tiny');
  });

  it('Redis SIGKILLed: initialize and tools/call go on promptly, 200 initializes in parallel', async () => {
    await redis.kill();
    await a.waitForLog((l) => l.msg.startsWith('registry unreachable'), 5000);
    // An outage after start-up shows in /readyz but does not take the node out of service.
    await waitFor(
      async () => {
        const res = await fetch(`${a.base}/readyz`);
        const body = await res.json();
        return res.status === 200 && body.registry === 'disconnected';
      },
      10_000,
      '/readyz 200 with the registry disconnected',
    );
    live.push(...(await initStorm(a.url, 200)));
    const calls = await Promise.all(live.slice(0, 50).map((sid) => timed(() => rpc(a.url, sid, CALL))));
    for (const c of calls) {
      expect(c.value.status).toBe(200);
      await c.value.text();
      expect(c.ms).toBeLessThan(PROMPT_MS);
    }
  });

  it('while down: the misroute check answers local-only at once, counted as degraded and unknown', async () => {
    const degraded = await metricValue(a.base, 'mcp_registry_lookup_degraded_total');
    const unknown = await metricValue(a.base, 'mcp_session_unknown_total');
    const { value: res, ms } = await timed(() => rpc(a.url, 'some-session-of-another-node', CALL));
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe(-32001);
    expect(ms).toBeLessThan(PROMPT_MS);
    await waitFor(async () => (await metricValue(a.base, 'mcp_registry_lookup_degraded_total')) >= degraded + 1, 5000, 'degraded counted');
    await waitFor(async () => (await metricValue(a.base, 'mcp_session_unknown_total')) >= unknown + 1, 5000, 'unknown counted');
  });

  it('while down: a tiny write queue drops its oldest writes and counts them', async () => {
    expect(await metricValue(tiny.base, 'mcp_registry_dropped_total')).toBe(0);
    liveTiny.push(...(await initStorm(tiny.url, 30)));
    // 30 new writes into a queue of 5: at least 25 dropped, and the queue never grows beyond 5.
    await waitFor(async () => (await metricValue(tiny.base, 'mcp_registry_dropped_total')) >= 25, 5000, 'drops counted');
    expect(await metricValue(tiny.base, 'mcp_registry_queue_depth')).toBeLessThanOrEqual(5);
    // Dropped writes cost no request anything.
    const res = await rpc(tiny.url, liveTiny[liveTiny.length - 1], CALL);
    expect(res.status).toBe(200);
    await res.text();
  });

  it('Redis restarted empty on the same port: every live session is back within 10 s', async () => {
    // Closed while Redis was away: not live, so not re-asserted.
    const closed = live.pop()!;
    expect(
      (await fetch(a.url, { method: 'DELETE', headers: { 'mcp-session-id': closed, 'mcp-protocol-version': '2025-11-25' } })).status,
    ).toBe(200);

    await redis.restart();
    const t0 = Date.now();
    await waitFor(async () => (await client.dbsize()) > 0, 10_000, 'first key');
    await waitFor(() => allPresent(client, live, 'a'), 10_000 - (Date.now() - t0), `all ${live.length} live sessions of a`);
    // The tiny queue dropped writes while Redis was down; the re-assertion restores them all.
    await waitFor(() => allPresent(client, liveTiny, 'tiny'), 10_000 - (Date.now() - t0), `all ${liveTiny.length} live sessions of tiny`);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await client.exists(`mcp:session:${closed}`)).toBe(0);
    expect(await client.scard('mcp:node:a:sessions')).toBe(live.length);
    const ttl = await client.ttl(`mcp:session:${live[0]}`);
    expect(ttl).toBeGreaterThan(30 * 24 * 3600 - 60);
    await a.waitForLog((l) => l.msg === 'registry re-asserted live sessions' && (l.sessions as number) >= live.length, 5000);
  });

  it('Redis stalls (SIGSTOP): requests stay prompt, lookups give up quickly; writes catch up after SIGCONT', async () => {
    redis.proc.kill('SIGSTOP');
    try {
      const fresh = await initStorm(a.url, 50);
      live.push(...fresh);
      const degraded = await metricValue(a.base, 'mcp_registry_lookup_degraded_total');
      const { value: res, ms } = await timed(() => rpc(a.url, 'unknown-while-stalled', CALL));
      expect(res.status).toBe(404);
      await res.text();
      expect(ms).toBeLessThan(PROMPT_MS);
      // LOOKUP_TIMEOUT_MS (250 ms) bounds the check; allow for a busy machine.
      await waitFor(
        async () => (await metricValue(a.base, 'mcp_registry_lookup_degraded_total')) >= degraded + 1,
        3000,
        'lookup timed out',
      );
    } finally {
      redis.proc.kill('SIGCONT');
    }
    await waitFor(() => allPresent(client, live, 'a'), 10_000, 'writes after the stall');
  });

  it('a stall longer than the socket timeout: the connection is cut, requests stay prompt, all is re-asserted after', async () => {
    const unreachable = a.logs.filter((l) => l.msg.startsWith('registry unreachable')).length;
    redis.proc.kill('SIGSTOP');
    try {
      live.push(...(await initStorm(a.url, 50)));
      // ioredis cuts a connection silent for SOCKET_TIMEOUT_MS (2 s) with replies outstanding.
      await waitFor(() => a.logs.filter((l) => l.msg.startsWith('registry unreachable')).length > unreachable, 10_000, 'connection cut');
      live.push(...(await initStorm(a.url, 50)));
    } finally {
      redis.proc.kill('SIGCONT');
    }
    const t0 = Date.now();
    await waitFor(() => allPresent(client, live, 'a'), 10_000, 'writes after the long stall');
    expect(Date.now() - t0).toBeLessThan(10_000);
    const calls = await Promise.all(live.slice(-20).map((sid) => rpc(a.url, sid, CALL)));
    for (const c of calls) {
      expect(c.status).toBe(200);
      await c.text();
    }
  });
});

describe('Redis registry when Redis is not there at start-up', () => {
  afterAll(stopAllRedis);

  it('the node starts and serves anyway; when Redis appears, its sessions are written', async () => {
    const redis = await startRedis();
    await redis.kill();
    const node = await startServer({ env: { REDIS_URL: redis.url, NODE_ID: 'early', MCP_FORWARD: '0' } });
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => 100 });
    client.on('error', () => {});
    try {
      await node.waitForLog((l) => l.msg.startsWith('registry unreachable'), 5000);
      const sids = await initStorm(node.url, 20);
      const res = await rpc(node.url, sids[0], CALL);
      expect(res.status).toBe(200);
      await res.text();
      await redis.restart();
      const t0 = Date.now();
      await waitFor(() => client.status === 'ready' && allPresent(client, sids, 'early'), 10_000, 'sessions written once Redis is up');
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      client.disconnect();
      await node.stop();
    }
  });
});
