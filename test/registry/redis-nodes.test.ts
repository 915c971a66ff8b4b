/**
 * Two real nodes sharing one real Redis (ARCHITECTURE.md, sticky sessions): what a session writes, the misroute path (a
 * session that exists only in Redis) against a genuinely unknown one, and cleanup on every kind of
 * close. MCP_FORWARD=0: the plain 404 behaviour, whatever the cluster issue later adds.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionRef } from '../../src/log.js';
import { initialize, metricValue, rpc, runServer, startServer, type TestServer } from '../helpers/server.js';
import { startRedis, stopAllRedis, waitFor, type RedisServer } from '../helpers/redis.js';

const TTL = 30 * 24 * 60 * 60;
const CALL = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'test_simple_text', arguments: {} } };

/** The JSON-RPC message of an answer, JSON or SSE. */
async function message(res: Response): Promise<any> {
  const text = await res.text();
  if (!(res.headers.get('content-type') ?? '').includes('text/event-stream')) return JSON.parse(text);
  const data = text.split('\n').filter((l) => l.startsWith('data: ') && l.length > 6);
  return JSON.parse(data[data.length - 1].slice(6));
}

describe('Redis registry: two nodes, one Redis', () => {
  let redis: RedisServer;
  let client: Redis;
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    const env = { REDIS_URL: redis.url, MCP_FORWARD: '0' };
    [a, b] = await Promise.all([startServer({ env: { ...env, NODE_ID: 'a' } }), startServer({ env: { ...env, NODE_ID: 'b' } })]);
    await Promise.all([a.waitForLog((l) => l.msg === 'registry connected'), b.waitForLog((l) => l.msg === 'registry connected')]);
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    client?.disconnect();
    await stopAllRedis();
  });

  it('a new session writes mcp:session:<id> naming its node, address and creation time, 30-day TTL', async () => {
    const before = Date.now();
    const { sid, res } = await initialize(a.url);
    expect(res.status).toBe(200);
    const raw = await waitFor(() => client.get(`mcp:session:${sid}`), 5000, 'session key');
    const value = JSON.parse(raw!);
    expect(value).toEqual({ node: 'a', address: `127.0.0.1:${a.port}`, createdAt: expect.any(Number) });
    expect(value.createdAt).toBeGreaterThanOrEqual(before - 1000);
    expect(value.createdAt).toBeLessThanOrEqual(Date.now());
    const ttl = await client.ttl(`mcp:session:${sid}`);
    expect(ttl).toBeGreaterThan(TTL - 60);
    expect(await client.sismember('mcp:node:a:sessions', sid)).toBe(1);
    // The session is served locally, of course.
    const call = await rpc(a.url, sid, CALL);
    expect(call.status).toBe(200);
    expect((await message(call)).result.content[0].text).toMatch(/simple text/);
  });

  it('a session that exists only in Redis: 404 telling to re-initialize, a warning naming both nodes, a misroute counted', async () => {
    const { sid } = await initialize(a.url);
    await waitFor(() => client.exists(`mcp:session:${sid}`), 5000, 'session key');
    const misroutes = await metricValue(b.base, 'mcp_session_misroutes_total');
    const unknown = await metricValue(b.base, 'mcp_session_unknown_total');

    const res = await rpc(b.url, sid, CALL);
    expect(res.status).toBe(404);
    const body = await res.json();
    expect(body.error.code).toBe(-32001);
    expect(body.error.message).toMatch(/initiali[sz]e/i);

    const line = await b.waitForLog((l) => l.msg === 'misrouted session' && l.session === sessionRef(sid), 5000);
    expect(line).toMatchObject({ level: 'warn', session: sessionRef(sid), node: 'b', owner: 'a', ownerAddress: `127.0.0.1:${a.port}` });
    await waitFor(async () => (await metricValue(b.base, 'mcp_session_misroutes_total')) === misroutes + 1, 5000, 'misroute counted');
    expect(await metricValue(b.base, 'mcp_session_unknown_total')).toBe(unknown);
    // Node A still owns and serves it.
    expect((await rpc(a.url, sid, CALL)).status).toBe(200);
  });

  it('a session in neither place: 404 and an unknown session counted, no misroute', async () => {
    const misroutes = await metricValue(b.base, 'mcp_session_misroutes_total');
    const unknown = await metricValue(b.base, 'mcp_session_unknown_total');
    const res = await rpc(b.url, 'no-such-session-anywhere', CALL);
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe(-32001);
    await waitFor(async () => (await metricValue(b.base, 'mcp_session_unknown_total')) === unknown + 1, 5000, 'unknown counted');
    expect(await metricValue(b.base, 'mcp_session_misroutes_total')).toBe(misroutes);
    expect(b.logs.some((l) => l.msg === 'misrouted session' && l.session === sessionRef('no-such-session-anywhere'))).toBe(false);
  });

  it('a GET stream for a misrouted session is a misroute too', async () => {
    const { sid } = await initialize(a.url);
    await waitFor(() => client.exists(`mcp:session:${sid}`), 5000, 'session key');
    const res = await fetch(b.url, {
      headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' },
    });
    expect(res.status).toBe(404);
    await res.body?.cancel();
    await b.waitForLog((l) => l.msg === 'misrouted session' && l.session === sessionRef(sid), 5000);
  });

  it('DELETE on the wrong node still deletes the key (cleanup regardless of where the session lives)', async () => {
    const { sid } = await initialize(a.url);
    await waitFor(() => client.exists(`mcp:session:${sid}`), 5000, 'session key');
    const res = await fetch(b.url, { method: 'DELETE', headers: { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' } });
    expect(res.status).toBe(404);
    await waitFor(async () => (await client.exists(`mcp:session:${sid}`)) === 0, 5000, 'key deleted by B');
  });

  it('DELETE on the owner deletes the key and its node-set entry; the session is gone on both nodes', async () => {
    const { sid } = await initialize(a.url);
    await waitFor(() => client.exists(`mcp:session:${sid}`), 5000, 'session key');
    const res = await fetch(a.url, { method: 'DELETE', headers: { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' } });
    expect(res.status).toBe(200);
    await waitFor(async () => (await client.exists(`mcp:session:${sid}`)) === 0, 5000, 'key deleted');
    expect(await client.sismember('mcp:node:a:sessions', sid)).toBe(0);
    const unknown = await metricValue(b.base, 'mcp_session_unknown_total');
    expect((await rpc(b.url, sid, CALL)).status).toBe(404);
    await waitFor(async () => (await metricValue(b.base, 'mcp_session_unknown_total')) === unknown + 1, 5000, 'unknown counted');
  });

  it('a storm of initializes is written in batches, not one round trip per session', async () => {
    const before = await metricValue(a.base, 'mcp_registry_batch_size_count');
    const sids = await Promise.all(Array.from({ length: 300 }, () => initialize(a.url).then((r) => r.sid)));
    await waitFor(async () => (await client.exists(...sids.map((s) => `mcp:session:${s}`))) === sids.length, 10_000, 'all keys');
    const pipelines = (await metricValue(a.base, 'mcp_registry_batch_size_count')) - before;
    expect(pipelines).toBeGreaterThan(0);
    expect(pipelines).toBeLessThan(sids.length / 2);
  });
});

describe('Redis registry: closes that are not a DELETE', () => {
  let redis: RedisServer;
  let client: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    client?.disconnect();
    await stopAllRedis();
  });

  it('idle expiry deletes the key', async () => {
    const node = await startServer({ env: { REDIS_URL: redis.url, NODE_ID: 'idle', MCP_SESSION_IDLE_MS: '500' } });
    try {
      const { sid } = await initialize(node.url);
      await waitFor(() => client.exists(`mcp:session:${sid}`), 5000, 'session key');
      await waitFor(async () => (await client.exists(`mcp:session:${sid}`)) === 0, 10_000, 'key deleted after idle expiry');
      expect(await client.scard('mcp:node:idle:sessions')).toBe(0);
    } finally {
      await node.stop();
    }
  });

  it('a node restarted after a crash (same NODE_ID) deletes the keys its dead process left behind', async () => {
    const first = await startServer({ env: { REDIS_URL: redis.url, NODE_ID: 'phoenix' } });
    const dead = await Promise.all(Array.from({ length: 30 }, () => initialize(first.url).then((r) => r.sid)));
    await waitFor(async () => (await client.scard('mcp:node:phoenix:sessions')) === 30, 5000, 'keys written');
    await first.stop('SIGKILL');
    expect(await client.exists(...dead.map((s) => `mcp:session:${s}`))).toBe(30);

    const second = await startServer({ env: { REDIS_URL: redis.url, NODE_ID: 'phoenix' } });
    try {
      const { sid } = await initialize(second.url);
      await waitFor(async () => (await client.exists(...dead.map((s) => `mcp:session:${s}`))) === 0, 10_000, 'stale keys deleted');
      // The new process's own session is untouched.
      await waitFor(() => client.exists(`mcp:session:${sid}`), 5000, 'live key');
      expect(await client.smembers('mcp:node:phoenix:sessions')).toEqual([sid]);
    } finally {
      await second.stop();
    }
  });

  it('shutdown deletes every key the node wrote', async () => {
    const node = await startServer({ env: { REDIS_URL: redis.url, NODE_ID: 'leaving' } });
    const sids = await Promise.all(Array.from({ length: 50 }, () => initialize(node.url).then((r) => r.sid)));
    await waitFor(async () => (await client.scard('mcp:node:leaving:sessions')) === 50, 5000, 'keys written');
    expect(await node.stop('SIGTERM')).toBe(0);
    expect(await client.exists(...sids.map((s) => `mcp:session:${s}`))).toBe(0);
    expect(await client.scard('mcp:node:leaving:sessions')).toBe(0);
  });
});

describe('REDIS_URL selects the registry', () => {
  it('an unusable REDIS_URL stops start-up with a message naming it', async () => {
    const { code, stdout, stderr } = await runServer(['--port', '0'], {
      REDIS_URL: 'http://127.0.0.1:6379',
      HOST: '127.0.0.1',
      WORKERS: '1',
    });
    expect(code).not.toBe(0);
    expect(stdout + stderr).toMatch(/REDIS_URL/);
  });

  it('unset: the in-memory registry, no Redis needed', async () => {
    const node = await startServer({ env: { REDIS_URL: '' } });
    try {
      expect(node.logs.find((l) => l.msg === 'listening')).toMatchObject({ registry: 'memory' });
      const { sid } = await initialize(node.url);
      expect((await rpc(node.url, sid, CALL)).status).toBe(200);
    } finally {
      await node.stop();
    }
  });
});
