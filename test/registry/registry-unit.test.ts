/**
 * The Redis registry in-process, against a real redis-server: what it writes, how it batches, how it
 * bounds its queue and how fast it gives up when Redis is not there. The HTTP-level behaviour (two
 * nodes, misroutes, outages) is in the other files of this folder.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configureLog } from '../../src/log.js';
import { RedisRegistry } from '../../src/registry/redis.js';
import { parseRedisUrl } from '../../src/registry/redis-url.js';
import type { RegistryObserver } from '../../src/registry/registry.js';
import { ENTRY_OVERHEAD_BYTES, OP_DEL, OP_SET, WriteQueue, type WriteBatch } from '../../src/registry/write-queue.js';
import { startRedis, stopAllRedis, waitFor, type RedisServer } from '../helpers/redis.js';

// The registry's info lines would interleave with the test report.
configureLog('error', {});

const TTL = 30 * 24 * 60 * 60;
const CONFIG = { registryBatch: 64, registryFlushMs: 5, registryQueueMax: 10_000, registryRefreshMs: 60_000 };

function recorder() {
  const seen = { flushes: [] as number[], dropped: 0, degraded: 0, depth: 0 };
  const observer: RegistryObserver = {
    flushed: (n) => seen.flushes.push(n),
    queueDepth: (d) => (seen.depth = d),
    dropped: (n) => (seen.dropped += n),
    degraded: () => seen.degraded++,
  };
  return { seen, observer };
}

describe('WriteQueue', () => {
  it('keeps one write per id, newest last, and drops the oldest beyond its bound', () => {
    let dropped = 0;
    const q = new WriteQueue(3, (n) => (dropped += n));
    q.push('a', OP_SET);
    q.push('b', OP_SET);
    q.push('a', OP_DEL);
    expect(q.size).toBe(2);
    q.push('c', OP_SET);
    q.push('d', OP_SET);
    expect(dropped).toBe(1);
    const batch: WriteBatch = { ids: [], ops: [] };
    q.take(10, batch);
    // 'b' was the oldest; 'a' moved to the back when it was closed.
    expect(batch.ids).toEqual(['a', 'c', 'd']);
    expect(batch.ops).toEqual([OP_DEL, OP_SET, OP_SET]);
  });

  it('puts failed writes back ahead of newer ones, newer writes for the same id winning', () => {
    let dropped = 0;
    const q = new WriteQueue(3, (n) => (dropped += n));
    q.push('x', OP_DEL);
    q.push('y', OP_SET);
    q.requeue(['x', 'old1', 'old2'], [OP_SET, OP_SET, OP_SET]);
    // x's queued DEL is newer than the failed SET; old1 is the oldest and goes past the bound.
    expect(dropped).toBe(1);
    const batch: WriteBatch = { ids: [], ops: [] };
    q.take(10, batch);
    expect(batch.ids).toEqual(['old2', 'x', 'y']);
    expect(batch.ops).toEqual([OP_SET, OP_DEL, OP_SET]);
  });

  it('is bounded in bytes too: ids of many KiB (from DELETE headers) drop the oldest, counted', () => {
    let dropped = 0;
    const per = 10 + ENTRY_OVERHEAD_BYTES;
    const q = new WriteQueue(1000, (n) => (dropped += n), 3 * per);
    for (const id of ['id-000001', 'id-000002', 'id-000003']) q.push(`${id}x`, OP_SET);
    expect(q.bytes).toBe(3 * per);
    // The same id again replaces its entry: no growth.
    q.push('id-000002x', OP_DEL);
    expect(q.bytes).toBe(3 * per);
    expect(dropped).toBe(0);
    q.push('id-000004x', OP_SET);
    expect(dropped).toBe(1);
    expect(q.size).toBe(3);
    // One huge id pushes out everything older, then itself if it alone is over the bound.
    q.push('k'.repeat(2 * per), OP_DEL);
    expect(q.size).toBe(1);
    expect(q.bytes).toBe(2 * per + ENTRY_OVERHEAD_BYTES);
    expect(dropped).toBe(4);
    q.push('h'.repeat(4 * per), OP_DEL);
    expect(q.size).toBe(0);
    expect(q.bytes).toBe(0);
    expect(dropped).toBe(6);
    // take and requeue keep the count exact.
    for (const id of ['a', 'b', 'c']) q.push(id, OP_SET);
    const batch: WriteBatch = { ids: [], ops: [] };
    q.take(2, batch);
    expect(q.bytes).toBe(1 + ENTRY_OVERHEAD_BYTES);
    q.requeue(batch.ids, batch.ops);
    expect(q.bytes).toBe(3 * (1 + ENTRY_OVERHEAD_BYTES));
    expect(q.clear()).toBe(3);
    expect(q.bytes).toBe(0);
  });
});

describe('REDIS_URL', () => {
  it('parses one server, cluster schemes and seed lists', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379')).toEqual({ mode: 'single', url: 'redis://127.0.0.1:6379' });
    expect(parseRedisUrl('127.0.0.1:7000')).toEqual({ mode: 'single', url: 'redis://127.0.0.1:7000' });
    expect(parseRedisUrl('redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7001')).toEqual({
      mode: 'cluster',
      seeds: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
      ],
      username: undefined,
      password: 'pw',
      tls: false,
    });
    expect(parseRedisUrl('redis://a:7000,redis://b:7001')).toMatchObject({
      mode: 'cluster',
      seeds: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
      ],
    });
    expect(parseRedisUrl('rediss+cluster://[::1]:7000')).toMatchObject({
      mode: 'cluster',
      seeds: [{ host: '::1', port: 7000 }],
      tls: true,
    });
  });

  it('refuses what it cannot use, naming REDIS_URL', () => {
    expect(() => parseRedisUrl('http://x:1')).toThrow(/REDIS_URL/);
    expect(() => parseRedisUrl('redis+cluster://a:1/2')).toThrow(/database 0/);
    expect(() => parseRedisUrl('redis+cluster://')).toThrow(/REDIS_URL/);
  });
});

describe('RedisRegistry against one redis-server', () => {
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

  it('writes mcp:session:<id> with owner, address, creation time and a 30-day TTL, in batches', async () => {
    const live = new Set<string>();
    const { seen, observer } = recorder();
    const reg = new RedisRegistry(redis.url, { nodeId: 'unit-a', address: '127.0.0.1:4001' }, CONFIG, {
      liveSessions: () => live,
      observer,
    });
    try {
      await waitFor(() => reg.stats().connected, 5000, 'connect');
      const before = Date.now();
      const ids = Array.from({ length: 500 }, (_, i) => `unit-${i}`);
      for (const id of ids) {
        live.add(id);
        reg.register(id);
      }
      await waitFor(() => reg.stats().written >= 500, 5000, 'writes acknowledged');
      const value = JSON.parse((await client.get('mcp:session:unit-7'))!);
      expect(value).toMatchObject({ node: 'unit-a', address: '127.0.0.1:4001' });
      expect(value.createdAt).toBeGreaterThanOrEqual(before - 1000);
      const ttl = await client.ttl('mcp:session:unit-7');
      expect(ttl).toBeGreaterThan(TTL - 60);
      expect(ttl).toBeLessThanOrEqual(TTL);
      expect(await client.scard('mcp:node:unit-a:sessions')).toBe(500);
      // 500 sessions in batches of at most 64 writes: far fewer round trips than sessions.
      const s = reg.stats();
      expect(s.roundTrips).toBeLessThanOrEqual(Math.ceil(500 / 64) + 2);
      expect(seen.flushes.length).toBe(s.roundTrips);

      for (const id of ids.slice(0, 100)) {
        live.delete(id);
        reg.unregister(id);
      }
      await waitFor(async () => (await client.exists('mcp:session:unit-0')) === 0, 5000, 'DEL');
      expect(await client.scard('mcp:node:unit-a:sessions')).toBe(400);
      expect(await reg.lookup('unit-200')).toMatchObject({ node: 'unit-a', address: '127.0.0.1:4001' });
      expect(await reg.lookup('unit-0')).toBeNull();
    } finally {
      await reg.close();
    }
  });

  it('reconciles its node set on connect: keys of sessions not live here are deleted, live ones kept', async () => {
    // What a DEL dropped during an outage, or a crashed earlier process with this NODE_ID, leaves.
    const stale = Array.from({ length: 2500 }, (_, i) => `stale-${i}`);
    const pipe = client.pipeline();
    for (const id of stale) pipe.set(`mcp:session:${id}`, '{"node":"unit-r"}', 'EX', 600);
    pipe.sadd('mcp:node:unit-r:sessions', ...stale, 'kept');
    pipe.set('mcp:session:kept', '{"node":"unit-r"}', 'EX', 600);
    await pipe.exec();
    const live = new Set(['kept']);
    const { observer } = recorder();
    const reg = new RedisRegistry(redis.url, { nodeId: 'unit-r', address: 'x' }, CONFIG, { liveSessions: () => live, observer });
    try {
      await waitFor(async () => (await client.scard('mcp:node:unit-r:sessions')) === 1, 10_000, 'stale members removed');
      expect(await client.exists(...stale.map((id) => `mcp:session:${id}`))).toBe(0);
      expect(JSON.parse((await client.get('mcp:session:kept'))!)).toMatchObject({ node: 'unit-r', address: 'x' });
      expect(reg.stats().dropped).toBe(0);
    } finally {
      await reg.close();
    }
  });

  it('close() removes every key of the node (written or still queued), then disconnects', async () => {
    const { observer } = recorder();
    // Full batches of 10 leave at once; a partial batch would wait a minute.
    const reg = new RedisRegistry(
      redis.url,
      { nodeId: 'unit-b', address: 'x' },
      { ...CONFIG, registryFlushMs: 60_000, registryBatch: 10 },
      { liveSessions: () => [], observer },
    );
    await waitFor(() => reg.stats().connected, 5000, 'connect');
    for (let i = 0; i < 30; i++) reg.register(`close-${i}`);
    await waitFor(async () => (await client.scard('mcp:node:unit-b:sessions')) === 30, 5000, '30 keys written');
    for (let i = 30; i < 35; i++) reg.register(`close-${i}`);
    for (let i = 0; i < 3; i++) reg.unregister(`close-${i}`);
    expect(reg.stats().queued).toBe(8);
    const t0 = Date.now();
    expect(await reg.close()).toBe(true);
    // Bounded by close()'s 2 s flush budget (plus slack for a busy machine).
    expect(Date.now() - t0).toBeLessThan(4500);
    expect(await client.exists('mcp:node:unit-b:sessions')).toBe(0);
    expect(await client.exists(...Array.from({ length: 35 }, (_, i) => `mcp:session:close-${i}`))).toBe(0);
  });

  it('re-asserts live sessions on a TTL refresh', async () => {
    const live = new Set(['refresh-1', 'refresh-2']);
    const { observer } = recorder();
    const reg = new RedisRegistry(
      redis.url,
      { nodeId: 'unit-c', address: 'x' },
      { ...CONFIG, registryRefreshMs: 200 },
      { liveSessions: () => live, observer },
    );
    try {
      // Sessions the registry never saw registered (they predate it) are written on connect.
      await waitFor(async () => (await client.exists('mcp:session:refresh-1', 'mcp:session:refresh-2')) === 2, 5000, 'resync on connect');
      const created = JSON.parse((await client.get('mcp:session:refresh-1'))!).createdAt;
      await client.expire('mcp:session:refresh-1', 5);
      await waitFor(async () => (await client.ttl('mcp:session:refresh-1')) > TTL - 60, 5000, 'TTL refreshed');
      // The refresh rewrites the same value: the creation time does not move.
      expect(JSON.parse((await client.get('mcp:session:refresh-1'))!).createdAt).toBe(created);
    } finally {
      await reg.close();
    }
  });
});

describe('RedisRegistry against a Redis that refuses scripts', () => {
  afterAll(stopAllRedis);

  it('falls back to pipelines (counted round trips still batched) and loses no write', async () => {
    // EVAL and EVALSHA renamed away: what a locked-down managed Redis may look like.
    const redis = await startRedis({ args: ['--rename-command', 'EVAL', '', '--rename-command', 'EVALSHA', ''] });
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    const live = new Set<string>();
    const { observer } = recorder();
    const reg = new RedisRegistry(redis.url, { nodeId: 'unit-e', address: 'x' }, CONFIG, { liveSessions: () => live, observer });
    try {
      await waitFor(() => reg.stats().connected, 5000, 'connect');
      for (let i = 0; i < 300; i++) {
        live.add(`noscript-${i}`);
        reg.register(`noscript-${i}`);
      }
      reg.unregister('noscript-0');
      live.delete('noscript-0');
      await waitFor(async () => (await client.scard('mcp:node:unit-e:sessions')) === 299, 5000, 'writes through pipelines');
      expect(await client.exists('mcp:session:noscript-0')).toBe(0);
      expect(await client.exists('mcp:session:noscript-299')).toBe(1);
      const s = reg.stats();
      expect(s.failedFlushes).toBeGreaterThanOrEqual(1);
      expect(s.roundTrips).toBeLessThan(30);
    } finally {
      await reg.close();
      client.disconnect();
    }
  });
});

describe('RedisRegistry with no Redis', () => {
  it('bounds its queue, drops the oldest (counted), answers lookups at once and closes promptly', async () => {
    // A port nothing listens on: every connect is refused.
    const { seen, observer } = recorder();
    const reg = new RedisRegistry(
      'redis://127.0.0.1:1',
      { nodeId: 'unit-d', address: 'x' },
      { ...CONFIG, registryQueueMax: 10 },
      { liveSessions: () => [], observer },
    );
    for (let i = 0; i < 1000; i++) reg.register(`down-${i}`);
    expect(reg.stats().queued).toBe(10);
    expect(seen.dropped).toBe(990);
    // "At once": the unreachable path, not the lookup timeout.
    await expect(reg.lookup('anything')).rejects.toMatchObject({
      code: 'MCP_ERR_REGISTRY_UNAVAILABLE',
      message: expect.stringContaining('unreachable'),
    });
    expect(seen.degraded).toBe(1);
    // close() must not wait for a Redis that never comes: bounded by its flush budget.
    const c0 = performance.now();
    await reg.close();
    expect(performance.now() - c0).toBeLessThan(5000);
  });

  it('bounds its queue in bytes: 1000 DELs of 16 KiB ids keep at most MCP_REGISTRY_QUEUE_MAX_BYTES', async () => {
    const { seen, observer } = recorder();
    const maxBytes = 1024 * 1024;
    const reg = new RedisRegistry(
      'redis://127.0.0.1:1',
      { nodeId: 'unit-f', address: 'x' },
      { ...CONFIG, registryQueueMaxBytes: maxBytes },
      { liveSessions: () => [], observer },
    );
    const pad = 'p'.repeat(16 * 1024);
    for (let i = 0; i < 1000; i++) reg.unregister(`${pad}${i}`);
    const queued = reg.stats().queued;
    expect(queued).toBe(Math.floor(maxBytes / (pad.length + 4 + ENTRY_OVERHEAD_BYTES)));
    expect(seen.dropped).toBe(1000 - queued);
    await reg.close();
  });
});
