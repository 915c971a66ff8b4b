/**
 * The registry against a real 3-master Redis Cluster (redis-server --cluster-enabled yes, joined with
 * redis-cli --cluster create): batches are split by the nodes serving each key's slot, so no pipeline
 * crosses them, and the node-level behaviour is the same as with one server.
 */
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionRef } from '../../src/log.js';
import { RedisRegistry } from '../../src/registry/redis.js';
import type { RegistryObserver } from '../../src/registry/registry.js';
import { keySlot } from '../../src/registry/slot.js';
import { initialize, metricValue, rpc, startServer, type TestServer } from '../helpers/server.js';
import { startRedisCluster, stopAllRedis, waitFor, type RedisCluster } from '../helpers/redis.js';

const CALL = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'test_simple_text', arguments: {} } };
const QUIET: RegistryObserver = { flushed: () => {}, queueDepth: () => {}, dropped: () => {}, degraded: () => {} };

async function countPresent(client: Cluster, sids: string[], node: string): Promise<number> {
  // One GET per key: a multi-key command would cross slots.
  const values = await Promise.all(sids.map((s) => client.get(`mcp:session:${s}`)));
  return values.filter((v) => v !== null && JSON.parse(v).node === node).length;
}

describe('Redis registry on a 3-master Redis Cluster', () => {
  let cluster: RedisCluster;
  let client: Cluster;
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    client = new Cluster(cluster.seeds, { redisOptions: { maxRetriesPerRequest: 1 } });
    const env = { REDIS_URL: cluster.url, MCP_FORWARD: '0' };
    [a, b] = await Promise.all([startServer({ env: { ...env, NODE_ID: 'a' } }), startServer({ env: { ...env, NODE_ID: 'b' } })]);
    await Promise.all([a.waitForLog((l) => l.msg === 'registry connected'), b.waitForLog((l) => l.msg === 'registry connected')]);
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    client?.disconnect();
    await stopAllRedis();
  });

  it('computes the same hash slots as the cluster (CLUSTER KEYSLOT)', async () => {
    const keys = ['mcp:session:abc', 'mcp:node:a:sessions', 'x{user1000}.following', '{}', 'a{}b', 'a{b}{c}', 'ümlaut-ключ', ''];
    for (let i = 0; i < 40; i++) keys.push(`mcp:session:${Math.random().toString(36).slice(2)}`);
    for (const key of keys) {
      const slot = Number(await cluster.nodes[0].cli('cluster', 'keyslot', key));
      expect(keySlot(key), key).toBe(slot);
    }
  });

  it('a storm of sessions on node a: every key written, spread over all masters, no failed pipeline', async () => {
    const sids = await Promise.all(Array.from({ length: 300 }, () => initialize(a.url).then((r) => r.sid)));
    await waitFor(async () => (await countPresent(client, sids, 'a')) === sids.length, 10_000, 'all keys in the cluster');
    expect(await client.scard('mcp:node:a:sessions')).toBe(sids.length);
    const perMaster = await Promise.all(cluster.nodes.map(async (n) => Number(await n.cli('dbsize'))));
    for (const n of perMaster) expect(n).toBeGreaterThan(0);
    expect(a.logs.filter((l) => l.msg.startsWith('registry flush failed'))).toEqual([]);
    expect(await metricValue(a.base, 'mcp_registry_batch_size_count')).toBeGreaterThan(0);
    const ttl = await client.ttl(`mcp:session:${sids[0]}`);
    expect(ttl).toBeGreaterThan(30 * 24 * 3600 - 60);

    // Closing half of them deletes their keys, on whichever master holds each.
    const closed = sids.slice(0, 150);
    await Promise.all(
      closed.map((sid) => fetch(a.url, { method: 'DELETE', headers: { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' } })),
    );
    await waitFor(async () => (await countPresent(client, closed, 'a')) === 0, 10_000, 'closed keys deleted');
    expect(await countPresent(client, sids.slice(150), 'a')).toBe(150);
    expect(await client.scard('mcp:node:a:sessions')).toBe(150);
  });

  it('misroute and unknown across nodes, as with one server', async () => {
    const { sid } = await initialize(a.url);
    await waitFor(async () => (await countPresent(client, [sid], 'a')) === 1, 5000, 'session key');
    const res = await rpc(b.url, sid, CALL);
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe(-32001);
    await b.waitForLog((l) => l.msg === 'misrouted session' && l.session === sessionRef(sid) && l.owner === 'a', 5000);
    await waitFor(async () => (await metricValue(b.base, 'mcp_session_misroutes_total')) >= 1, 5000, 'misroute counted');
    const unknown = await metricValue(b.base, 'mcp_session_unknown_total');
    expect((await rpc(b.url, 'nobody-has-this', CALL)).status).toBe(404);
    await waitFor(async () => (await metricValue(b.base, 'mcp_session_unknown_total')) === unknown + 1, 5000, 'unknown counted');
  });

  it('in-process: one pipeline per master per batch, not one per key or slot', async () => {
    const live = new Set<string>();
    const reg = new RedisRegistry(
      cluster.url,
      { nodeId: 'bench-c', address: 'x' },
      { registryBatch: 256, registryFlushMs: 5, registryQueueMax: 100_000, registryRefreshMs: 60_000 },
      { liveSessions: () => live, observer: QUIET },
    );
    try {
      await waitFor(() => reg.stats().connected, 10_000, 'cluster connect');
      const base = reg.stats();
      const ids = Array.from({ length: 2560 }, (_, i) => `cl-${i}-${Math.random().toString(36).slice(2)}`);
      for (const id of ids) {
        live.add(id);
        reg.register(id);
      }
      await waitFor(() => reg.stats().written - base.written >= ids.length, 10_000, 'writes acknowledged');
      const s = reg.stats();
      expect(s.failedFlushes).toBe(0);
      // 10 batches of 256, each split across the 3 masters.
      expect(s.roundTrips - base.roundTrips).toBeLessThanOrEqual(3 * 12);
      expect(await client.scard('mcp:node:bench-c:sessions')).toBe(ids.length);
      expect(await countPresent(client, ids.slice(0, 200), 'bench-c')).toBe(200);
      expect(await reg.lookup(ids[5])).toMatchObject({ node: 'bench-c' });
      expect(await reg.lookup('missing')).toBeNull();
    } finally {
      await reg.close();
    }
  });
});
