/**
 * 2026-07-28 `subscriptions/listen` across nodes: three nodes sharing a real redis-server and a cluster
 * secret. A change announced on one node reaches the listen streams of every node (and its own once);
 * messages on the channel that are forged, replayed or malformed reach nobody; a client whose node is
 * killed listens again on a survivor and hears what is published from then on; a draining node ends
 * its listen streams; without Redis a node still delivers its own changes; the same holds on a Redis
 * Cluster (pub/sub reaches every shard's subscribers). The delivery latency of
 * 200 changes is measured and printed (set LISTEN_LATENCY_OUT to also write it as JSON), not asserted.
 */
import { writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, startRedisCluster, stopAllRedis, type RedisServer } from './helpers/redis.js';
import { metricValue, ROOT, startServer, type TestServer } from './helpers/server.js';
import { SseReader } from './helpers/sse.js';
import { waitFor } from './helpers/wait.js';

const VERSION = '2026-07-28';
const TOOLS = `${ROOT}test/fixtures/listen-tools.mjs`;
const SECRET = 'listen-cluster-test-secret-0123456789';
const CHANNEL = 'mcp:events';
const SUB_ID = 'io.modelcontextprotocol/subscriptionId';
let nextId = 1;

function meta(): Record<string, unknown> {
  return {
    'io.modelcontextprotocol/protocolVersion': VERSION,
    'io.modelcontextprotocol/clientInfo': { name: 'listen-cluster-test', version: '1' },
    'io.modelcontextprotocol/clientCapabilities': {},
  };
}

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

/** Calls a tool of the fixture (each announces one change) and checks it completed. */
async function announce(node: TestServer, tool: 'change' | 'change-prompts' | 'touch'): Promise<void> {
  const res = await fetch(node.url, {
    method: 'POST',
    headers: headers('tools/call', tool),
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name: tool, arguments: {}, _meta: meta() } }),
  });
  const json = (await res.json()) as { result?: { resultType?: string } };
  expect(json.result?.resultType).toBe('complete');
}

interface Listen {
  id: number;
  /** The next notification (heartbeat comments and `retry:` skipped); null once the stream ended. */
  next(ms?: number): Promise<{ method: string; params: Record<string, unknown> } | null>;
  /** Reads until the stream ends; the `retry:` values seen on the way. */
  end(ms?: number): Promise<number[]>;
  close(): void;
}

async function listen(node: TestServer): Promise<Listen> {
  const id = nextId++;
  const ac = new AbortController();
  const res = await fetch(node.url, {
    method: 'POST',
    headers: headers('subscriptions/listen'),
    body: JSON.stringify({
      jsonrpc: '2.0',
      id,
      method: 'subscriptions/listen',
      params: { notifications: { toolsListChanged: true, promptsListChanged: true, resourceSubscriptions: ['test://doc'] }, _meta: meta() },
    }),
    signal: ac.signal,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const sse = new SseReader(res);
  const next: Listen['next'] = async (ms = 10_000) => {
    for (;;) {
      let e;
      try {
        e = await sse.next(ms);
      } catch (err) {
        // A killed node resets the connection; anything else (a timeout) is a failure.
        if (/timed out/.test((err as Error).message)) throw err;
        return null;
      }
      if (e === null) return null;
      if (e.data !== '') return JSON.parse(e.data) as { method: string; params: Record<string, unknown> };
    }
  };
  const ack = await next();
  expect(ack).toMatchObject({ method: 'notifications/subscriptions/acknowledged', params: { _meta: { [SUB_ID]: id } } });
  return {
    id,
    next,
    async end(ms = 10_000) {
      const retries: number[] = [];
      for (;;) {
        const e = await sse.next(ms).catch(() => null);
        if (e === null) return retries;
        if (e.retry !== undefined) retries.push(e.retry);
      }
    },
    close: () => ac.abort(),
  };
}

async function expectNotification(l: Listen, method: string, params: Record<string, unknown> = {}): Promise<void> {
  expect(await l.next()).toEqual({ jsonrpc: '2.0', method, params: { ...params, _meta: { [SUB_ID]: l.id } } });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const rejected = (node: TestServer, reason: string): Promise<number> =>
  metricValue(node.base, 'mcp_cluster_events_rejected_total', `reason="${reason}"`);

describe('subscriptions/listen across nodes', () => {
  let redis: RedisServer;
  let a: TestServer;
  let b: TestServer;
  let c: TestServer;
  const streams: Listen[] = [];
  const open = async (node: TestServer): Promise<Listen> => {
    const l = await listen(node);
    streams.push(l);
    return l;
  };

  beforeAll(async () => {
    redis = await startRedis();
    const env = (id: string, extra: Record<string, string> = {}): Record<string, string> => ({
      REDIS_URL: redis.url,
      MCP_CLUSTER_SECRET: SECRET,
      NODE_ID: id,
      WORKERS: '1',
      ...extra,
    });
    [a, b, c] = await Promise.all([
      startServer({ args: ['--tools', TOOLS], env: env('listen-a') }),
      startServer({ args: ['--tools', TOOLS], env: env('listen-b') }),
      startServer({ args: ['--tools', TOOLS], env: env('listen-c', { MCP_DRAIN_WINDOW_MS: '20000' }) }),
    ]);
    const subscribed = (l: { msg: string }): boolean => l.msg === 'subscribed to cluster change events';
    await Promise.all([a, b, c].map((n) => n.waitForLog(subscribed)));
    // A's publisher connection is up once one of its announcements was published; the counts settle
    // when B and C have received every one.
    await waitFor(
      async () => {
        await announce(a, 'change');
        return (await metricValue(a.base, 'mcp_cluster_events_published_total')) > 0;
      },
      10_000,
      "node A's first published change",
    );
    await waitFor(
      async () => {
        const [published, rb, rc] = await Promise.all([
          metricValue(a.base, 'mcp_cluster_events_published_total'),
          metricValue(b.base, 'mcp_cluster_events_received_total'),
          metricValue(c.base, 'mcp_cluster_events_received_total'),
        ]);
        return rb === published && rc === published;
      },
      10_000,
      "A's warm-up changes received by B and C",
    );
  });

  afterAll(async () => {
    for (const l of streams) l.close();
    await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
    await stopAllRedis();
  });

  it("delivers a change announced on A to the listen streams of B and C, and A's own stream once", async () => {
    const [la, lb, lc] = [await open(a), await open(b), await open(c)];
    const receivedBefore = await Promise.all([a, b, c].map((n) => metricValue(n.base, 'mcp_cluster_events_received_total')));
    await announce(a, 'change');
    for (const l of [la, lb, lc]) await expectNotification(l, 'notifications/tools/list_changed');
    await announce(b, 'touch');
    for (const l of [la, lb, lc]) await expectNotification(l, 'notifications/resources/updated', { uri: 'test://doc' });
    await announce(c, 'change-prompts');
    for (const l of [la, lb, lc]) await expectNotification(l, 'notifications/prompts/list_changed');
    // Each node accepted the two changes of the others and ignored its own echo.
    await waitFor(
      async () => {
        const now = await Promise.all([a, b, c].map((n) => metricValue(n.base, 'mcp_cluster_events_received_total')));
        return now.every((v, i) => v === receivedBefore[i] + 2);
      },
      5000,
      'two changes received per node',
    );
    expect(await metricValue(a.base, 'mcp_listen_streams_active')).toBe(1);
    expect(await metricValue(a.base, 'mcp_requests_total', 'era="2026-07-28"')).toBeGreaterThan(0);
  });

  it('measures the delivery latency of 200 changes from A to the streams of B and C (reported, not asserted)', async () => {
    const [lb, lc] = [await open(b), await open(c)];
    const latencies: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      const call = announce(a, 'change');
      const arrived = await Promise.all(
        [lb, lc].map(async (l) => {
          const n = await l.next();
          expect(n?.method).toBe('notifications/tools/list_changed');
          return performance.now() - t0;
        }),
      );
      latencies.push(...arrived);
      await call;
    }
    latencies.sort((x, y) => x - y);
    const summary = {
      what: 'tools/call on node A announcing a tools list change, until the notification arrives on a listen stream of node B and of node C',
      samples: latencies.length,
      p50Ms: +percentile(latencies, 50).toFixed(2),
      p90Ms: +percentile(latencies, 90).toFixed(2),
      p99Ms: +percentile(latencies, 99).toFixed(2),
      maxMs: +latencies[latencies.length - 1].toFixed(2),
    };
    console.log(`listen latency across nodes: ${JSON.stringify(summary)}`);
    if (process.env.LISTEN_LATENCY_OUT) writeFileSync(process.env.LISTEN_LATENCY_OUT, `${JSON.stringify(summary, null, 2)}\n`);
    expect(latencies.length).toBe(400);
  });

  it('delivers nothing that another Redis client publishes: forged, replayed, malformed or oversized messages are refused and counted', async () => {
    const lb = await open(b);
    const spy = new Redis(redis.url);
    const attacker = new Redis(redis.url);
    try {
      const captured: string[] = [];
      spy.on('message', (_ch: string, m: string) => captured.push(m));
      await spy.subscribe(CHANNEL);
      const before = await Promise.all(['invalid', 'replayed', 'malformed', 'too_large'].map((r) => rejected(b, r)));
      await announce(a, 'change-prompts');
      await expectNotification(lb, 'notifications/prompts/list_changed');
      // e1 . sender . seq . time . kind . uri . mac
      const real = await waitFor(() => captured.find((m) => m.split('.')[4] === 'p'), 5000, 'the prompts change seen on the channel');
      const parts = real.split('.');
      const bumped = [...parts];
      bumped[2] = (parseInt(parts[2], 36) + 1000).toString(36);
      await attacker.publish(CHANNEL, real); // a replay
      await attacker.publish(CHANNEL, bumped.join('.')); // a later sequence number under the old MAC
      await attacker.publish(CHANNEL, 'notifications/prompts/list_changed');
      await attacker.publish(CHANNEL, `e1.${'x'.repeat(5000)}`);
      await waitFor(
        async () => {
          const now = await Promise.all(['invalid', 'replayed', 'malformed', 'too_large'].map((r) => rejected(b, r)));
          return now.every((v, i) => v === before[i] + 1);
        },
        5000,
        'one refusal of each kind on B',
      );
      // The channel is ordered: had any of them been delivered, it would come before this one.
      await announce(a, 'change');
      await expectNotification(lb, 'notifications/tools/list_changed');
    } finally {
      spy.disconnect();
      attacker.disconnect();
    }
  });

  it('a client whose node is killed listens again on a survivor and hears the changes published after that', async () => {
    const lb = await open(b);
    await b.stop('SIGKILL');
    expect(await lb.next()).toBeNull();
    const again = await open(c);
    await announce(a, 'change');
    await expectNotification(again, 'notifications/tools/list_changed');
    await announce(a, 'touch');
    await expectNotification(again, 'notifications/resources/updated', { uri: 'test://doc' });
  });

  it('a draining node ends its listen streams with retry at once; the client listens again on A', async () => {
    const lc = await open(c);
    const ended = lc.end();
    const stopped = c.stop('SIGTERM');
    expect(await ended).toEqual([expect.any(Number)]);
    await c.waitForLog((l) => l.msg === 'ended listen streams: their clients listen again on another node');
    await stopped;
    const again = await open(a);
    await announce(a, 'change');
    await expectNotification(again, 'notifications/tools/list_changed');
  });

  it('without Redis a node still delivers its own changes, and counts what it could not publish', async () => {
    const la = await open(a);
    const dropped = await metricValue(a.base, 'mcp_cluster_events_dropped_total', 'reason="redis_down"');
    await redis.kill();
    await waitFor(
      async () => {
        await announce(a, 'change');
        await expectNotification(la, 'notifications/tools/list_changed');
        return (await metricValue(a.base, 'mcp_cluster_events_dropped_total', 'reason="redis_down"')) > dropped;
      },
      10_000,
      'a change dropped while Redis is down',
    );
  });
});

describe('subscriptions/listen across nodes on a 3-master Redis Cluster', () => {
  let a: TestServer;
  let b: TestServer;
  const streams: Listen[] = [];

  beforeAll(async () => {
    const cluster = await startRedisCluster(3);
    const env = (id: string): Record<string, string> => ({ REDIS_URL: cluster.url, MCP_CLUSTER_SECRET: SECRET, NODE_ID: id, WORKERS: '1' });
    [a, b] = await Promise.all([
      startServer({ args: ['--tools', TOOLS], env: env('rc-a') }),
      startServer({ args: ['--tools', TOOLS], env: env('rc-b') }),
    ]);
    await Promise.all([a, b].map((n) => n.waitForLog((l) => l.msg === 'subscribed to cluster change events')));
  });

  afterAll(async () => {
    for (const l of streams) l.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await stopAllRedis();
  });

  it('delivers a change announced on A to a listen stream on B, and one of B to A', async () => {
    const [la, lb] = [await listen(a), await listen(b)];
    streams.push(la, lb);
    // A's publisher may connect after its subscriber: announce until B has heard one.
    await waitFor(
      async () => {
        await announce(a, 'change');
        return (await metricValue(b.base, 'mcp_cluster_events_received_total')) > 0;
      },
      10_000,
      "B receiving one of A's changes",
    );
    await expectNotification(lb, 'notifications/tools/list_changed');
    await announce(b, 'touch');
    // A's stream: its own changes first (local, one per announcement), then B's update.
    for (;;) {
      const n = await la.next();
      if (n?.method === 'notifications/tools/list_changed') continue;
      expect(n).toEqual({
        jsonrpc: '2.0',
        method: 'notifications/resources/updated',
        params: { uri: 'test://doc', _meta: { [SUB_ID]: la.id } },
      });
      break;
    }
  });
});
