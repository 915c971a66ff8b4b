/**
 * Node loss and rolling restarts on a real cluster, and MCP_FORWARD=0.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { WellBehavedClient } from './helpers/client.js';
import { metricValue } from './helpers/server.js';
import { startTestCluster } from './helpers/cluster.js';
import { waitFor } from './helpers/wait.js';

function decodeOwner(sid: string): string {
  const parts = sid.split('.');
  return parts.length === 3 ? Buffer.from(parts[1], 'base64url').toString('utf8') : '';
}

async function sessionKeysOf(redis: Redis, node: string): Promise<string[]> {
  const keys = await redis.keys('mcp:session:*');
  const out: string[] = [];
  for (const k of keys) if (decodeOwner(k.slice('mcp:session:'.length)) === node) out.push(k);
  return out;
}

describe('node loss', () => {
  it('kill -9: its clients get 404 and re-initialize elsewhere, others see no error, its keys go within 60 s', async () => {
    const cluster = await startTestCluster();
    const redis = new Redis(cluster.redisUrl);
    try {
      const clients = Array.from({ length: 30 }, () => new WellBehavedClient(cluster.lbUrl, true));
      for (const c of clients) {
        await c.initialize();
        expect((await c.call()).ok).toBe(true);
      }
      const victims = clients.filter((c) => c.owner === 'node2');
      const others = clients.filter((c) => c.owner !== 'node2');
      expect(victims.length).toBeGreaterThan(0);
      // Registry writes are batched off the hot path: wait (bounded) for every key of node2's sessions.
      await waitFor(async () => (await sessionKeysOf(redis, 'node2')).length === victims.length, 20_000, `${victims.length} keys of node2`);

      await cluster.stopNode(1, 'SIGKILL');
      const killedAt = Date.now();
      const outcomes = await Promise.all(clients.map((c) => c.call()));
      for (const [i, c] of clients.entries()) expect(outcomes[i].ok, c.unexpected.join('\n')).toBe(true);
      for (const c of others) {
        const o = outcomes[clients.indexOf(c)];
        expect(o.errors, `client of ${c.owner}`).toEqual([]);
        expect(o.reinitialized).toBe(0);
      }
      for (const c of victims) {
        expect(outcomes[clients.indexOf(c)].reinitialized).toBe(1);
        expect(c.owner).not.toBe('node2');
        expect(c.cookie).not.toBe('_mcp_backend=node2');
      }
      // The survivors remove the dead node's keys (owner liveness is kept in Redis).
      for (;;) {
        const left = await sessionKeysOf(redis, 'node2');
        if (left.length === 0 && (await redis.exists('mcp:node:node2:sessions')) === 0) break;
        if (Date.now() - killedAt > 60_000) {
          const hash = await redis.hgetall('mcp:nodes');
          const notes = cluster.nodes.flatMap((n) => n.logs.filter((l) => !l.includes('misrouted session')).slice(-6));
          expect.fail(`${left.length} keys of node2 left after 60 s; mcp:nodes=${JSON.stringify(hash)}; logs: ${notes.join('\n')}`);
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      // Keys of the live sessions are all there.
      const live = clients.map((c) => `mcp:session:${c.sid}`);
      await waitFor(async () => (await redis.exists(...live)) === live.length, 20_000, 'a key for every live session');
    } finally {
      redis.disconnect();
      await cluster.stop();
    }
  }, 120_000);

  it('a rolling restart of every node under load loses no tool call of a well-behaved client', async () => {
    const cluster = await startTestCluster({ MCP_DRAIN_WINDOW_MS: '1000' });
    try {
      const clients = Array.from({ length: 24 }, (_, i) => new WellBehavedClient(cluster.lbUrl, i % 2 === 0));
      for (const c of clients) await c.initialize();
      let stop = false;
      let calls = 0;
      let failed = 0;
      const load = Promise.all(
        clients.map(async (c) => {
          while (!stop) {
            const o = await c.call();
            calls++;
            if (!o.ok) failed++;
            await new Promise((r) => setTimeout(r, 20));
          }
        }),
      );
      for (let i = 0; i < cluster.nodes.length; i++) {
        expect(await cluster.stopNode(i, 'SIGTERM')).toBe(0);
        await cluster.startNode(i);
        await cluster.waitUp();
      }
      // Load keeps running until every client has made a few calls against the fully restarted fleet.
      const after = calls;
      await waitFor(() => calls >= after + 3 * clients.length, 60_000, 'calls after the last restart');
      stop = true;
      await load;
      const problems = clients.flatMap((c) => c.unexpected);
      expect(problems, problems.slice(0, 5).join('\n')).toEqual([]);
      expect(failed).toBe(0);
      expect(calls).toBeGreaterThan(100);
      // Sessions moved: every client re-initialized at least once as its node went away.
      const stayed = clients
        .filter((c) => c.reinits === 0)
        .map((c) => `${c.owner}/${c.keepCookies ? 'cookie' : 'no-cookie'}/${c.sid.slice(0, 8)}/first=${c.firstOwner}`);
      expect(stayed, `clients that never re-initialized: ${stayed.join(', ')}`).toEqual([]);
    } finally {
      await cluster.stop();
    }
  }, 180_000);
});

describe('MCP_FORWARD=0', () => {
  it('restores the plain sticky-session behaviour: 404 telling the client to re-initialize, a logged and counted misroute', async () => {
    const cluster = await startTestCluster({ MCP_FORWARD: '0' }, 2);
    try {
      const node1 = `http://127.0.0.1:${cluster.nodes[0].port}`;
      const node2 = `http://127.0.0.1:${cluster.nodes[1].port}`;
      const owner = new WellBehavedClient(`${node1}/mcp`, false);
      await owner.initialize();
      // Registry writes are batched off the hot path: wait for the key.
      const redis = new Redis(cluster.redisUrl);
      await waitFor(async () => (await redis.exists(`mcp:session:${owner.sid}`)) === 1, 20_000, "the owner's session key");
      redis.disconnect();
      const res = await fetch(`${node2}/mcp`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': owner.sid,
          'mcp-protocol-version': '2025-11-25',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'test_simple_text', arguments: {} } }),
      });
      expect(res.status).toBe(404);
      const body = await res.json();
      expect(body.error.code).toBe(-32001);
      expect(body.error.message).toMatch(/initiali[sz]e/i);
      await waitFor(async () => (await metricValue(node2, 'mcp_session_misroutes_total')) >= 1, 20_000, 'a counted misroute');
      expect(await metricValue(node2, 'mcp_session_misroutes_total')).toBe(1);
      expect(await metricValue(node2, 'mcp_forwarded_requests_total')).toBe(0);
      const logLine = cluster.nodes[1].logs.map((l) => JSON.parse(l)).find((l: { msg: string }) => l.msg === 'misrouted session');
      // A session id is a bearer credential: logs name it by a short hash (src/log.ts sessionRef).
      expect(logLine).toMatchObject({
        session: createHash('sha256').update(owner.sid).digest('hex').slice(0, 12),
        node: 'node2',
        owner: 'node1',
      });
      for (const node of cluster.nodes) expect(node.logs.join('\n')).not.toContain(owner.sid);
    } finally {
      await cluster.stop();
    }
  }, 60_000);
});

describe('restart under the same NODE_ID', () => {
  it('removes the keys a SIGKILLed process left behind when it comes back', async () => {
    const cluster = await startTestCluster({}, 2);
    const redis = new Redis(cluster.redisUrl);
    try {
      const direct = `http://127.0.0.1:${cluster.nodes[0].port}/mcp`;
      const clients = Array.from({ length: 5 }, () => new WellBehavedClient(direct, false));
      for (const c of clients) await c.initialize();
      await waitFor(async () => (await sessionKeysOf(redis, 'node1')).length === 5, 20_000, 'five keys of node1');
      await cluster.stopNode(0, 'SIGKILL');
      // Back within the dead-node window: nobody reaped node1, so its own restart must.
      await cluster.startNode(0);
      expect(await sessionKeysOf(redis, 'node1')).toEqual([]);
      const fresh = new WellBehavedClient(direct, false);
      await fresh.initialize();
      await waitFor(async () => (await sessionKeysOf(redis, 'node1')).length >= 1, 20_000, "the fresh session's key");
      expect(await sessionKeysOf(redis, 'node1')).toEqual([`mcp:session:${fresh.sid}`]);
    } finally {
      redis.disconnect();
      await cluster.stop();
    }
  }, 60_000);
});
