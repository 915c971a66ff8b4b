/**
 * Owner routing on a real cluster (redis-server, nodes, HAProxy from src/cluster/local/): a request
 * whose Mcp-Session-Id names its owner goes to that node, cookie or not; initialize is spread; the
 * sticky cookie works as before; a dead or draining owner's requests go to another node. Which node
 * served a request is read from the nodes' metrics: a request that reached a node other than its
 * session's owner is forwarded and counted there (mcp_forwarded_requests_total, and by reason in
 * mcp_forwarded_by_reason_total, from the route mark HAProxy sets).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerOf, requestHeaders, toolsCallBody } from '../bench/lib/mcp-client.js';
import { WellBehavedClient } from './helpers/client.js';
import { haproxyUpstreamConnections, startTestCluster, type Cluster } from './helpers/cluster.js';
import { metricValue } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';

/** A fixture tool without arguments (test/fixtures/tools.mjs; both clusters load the fixtures). */
const TOOL = 'whoami';
const FIXTURES = { MCP_TOOLS: 'test/fixtures/tools.mjs' };

const base = (c: Cluster, i: number): string => `http://127.0.0.1:${c.nodes[i].port}`;
const indexOf = (c: Cluster, node: string): number => c.nodes.findIndex((n) => n.name === node);

/** Sum over the running nodes of one metric (optionally one label set). */
async function total(c: Cluster, name: string, labels = ''): Promise<number> {
  let n = 0;
  for (let i = 0; i < c.nodes.length; i++) if (c.nodes[i].proc) n += await metricValue(base(c, i), name, labels);
  return n;
}

const forwarded = (c: Cluster): Promise<number> => total(c, 'mcp_forwarded_requests_total');
const byReason = (c: Cluster, reason: string): Promise<number> => total(c, 'mcp_forwarded_by_reason_total', `reason="${reason}"`);

/** One tools/call through the load balancer with exactly these session id and cookie. */
async function rawCall(c: Cluster, sid: string, cookie = '', extra: Record<string, string> = {}): Promise<Response> {
  return fetch(c.lbUrl, { method: 'POST', headers: { ...requestHeaders(sid, cookie), ...extra }, body: toolsCallBody(1, TOOL) });
}

/**
 * Clients (cookie-less unless `keepCookies`) with open sessions: at least `count`, and at least
 * count/nodes on every node of `c`. Initializes round-robin, but HAProxy's weighted round robin does not
 * promise every node a turn in any window of N picks (after a node came back, it may alternate between
 * two for a while): clients are added until every node has its share.
 */
async function clientsOnEveryNode(c: Cluster, count: number, keepCookies: boolean): Promise<WellBehavedClient[]> {
  const share = Math.ceil(count / c.nodes.length);
  const clients: WellBehavedClient[] = [];
  const on = (node: string): number => clients.filter((x) => x.owner === node).length;
  while (clients.length < count || c.nodes.some((n) => on(n.name) < share)) {
    if (clients.length >= count * 10) throw new Error(`initializes do not reach every node: ${clients.map((x) => x.owner).join(',')}`);
    const x = new WellBehavedClient(c.lbUrl, keepCookies);
    await x.initialize();
    clients.push(x);
  }
  return clients;
}

describe('owner routing on (the local cluster default)', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    // The fixture tools include `wait`: a call in flight holds a drain open for its whole window, so a
    // draining owner stays alive (and in the directory) while HAProxy has it out.
    cluster = await startTestCluster({ ...FIXTURES, MCP_DRAIN_WINDOW_MS: '8000' });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('keeps no idle connection to a node between requests', async () => {
    // A node closes a keep-alive socket after uWS's 10 s idle timeout. A connection HAProxy kept idle
    // that long could be handed the next request just as the node closes it, and that client would get
    // a connection reset (a POST is not retried): HAProxy ends each node connection with its response.
    const clients = await clientsOnEveryNode(cluster, 9, false);
    for (const c of clients) expect((await c.call(TOOL)).ok).toBe(true);
    // The clients keep their connections to HAProxy, idle.
    await waitFor(() => haproxyUpstreamConnections(cluster) === 0, 2000, 'HAProxy to hold no connection to a node');
    // Opened again for the next request, on any node.
    for (const c of clients) expect((await c.call(TOOL)).ok).toBe(true);
    for (const c of clients) await c.close();
  });

  it('spreads initializes over the nodes, and sends every later request of a cookie-less client to its owner', async () => {
    const before = await forwarded(cluster);
    const requestsBefore = await total(cluster, 'mcp_requests_total');
    // Initializes round-robin: every node gets some (clientsOnEveryNode checks).
    const clients = await clientsOnEveryNode(cluster, 9, false);
    for (let round = 0; round < 4; round++) {
      for (const c of clients) {
        const o = await c.call(TOOL);
        expect(o.ok, c.unexpected.join('\n')).toBe(true);
        expect(o.reinitialized).toBe(0);
      }
    }
    // A GET stream and a DELETE take the same route.
    for (const c of clients.slice(0, 3)) {
      const ac = new AbortController();
      const get = await fetch(cluster.lbUrl, {
        headers: {
          accept: 'text/event-stream',
          'mcp-session-id': c.sid,
          'mcp-protocol-version': requestHeaders(c.sid)['mcp-protocol-version'],
        },
        signal: ac.signal,
      });
      expect(get.status).toBe(200);
      expect(get.headers.get('content-type')).toMatch(/^text\/event-stream/);
      ac.abort();
      const del = await fetch(cluster.lbUrl, { method: 'DELETE', headers: requestHeaders(c.sid) });
      expect(del.status).toBe(200);
    }
    // The nodes answered every request themselves: nothing reached a node that had to relay it.
    await waitFor(
      async () => (await total(cluster, 'mcp_requests_total')) >= requestsBefore + clients.length * 5 + 6,
      5000,
      'the requests counted',
    );
    expect(await forwarded(cluster)).toBe(before);
  });

  it('keeps the sticky cookie: Set-Cookie on initialize names the owner, pinned clients are served by their node', async () => {
    const before = await forwarded(cluster);
    const clients = await clientsOnEveryNode(cluster, 9, true);
    for (const c of clients) {
      expect(c.cookie).toBe(`_mcp_backend=${c.owner}`);
      expect((await c.call(TOOL)).ok).toBe(true);
    }
    const init = await fetch(cluster.lbUrl, { method: 'POST', headers: requestHeaders(''), body: initBody() });
    const setCookie = init.headers.get('set-cookie')!;
    for (const part of [/^_mcp_backend=node\d;/, /HttpOnly/i, /Secure/i, /SameSite=Strict/i, /Path=\/mcp/]) expect(setCookie).toMatch(part);
    expect(setCookie.split('=')[1].split(';')[0]).toBe(ownerOf(init.headers.get('mcp-session-id')!));
    // A cookie alone still pins: a request without a session id goes to the cookie's node (400 there).
    const pinned = clients.find((c) => c.owner === 'node2')!;
    const bad400 = await total(cluster, 'mcp_requests_total', 'status="400"');
    const node2400 = await metricValue(base(cluster, indexOf(cluster, 'node2')), 'mcp_requests_total', 'status="400"');
    for (let i = 0; i < 3; i++) expect((await rawCall(cluster, '', pinned.cookie)).status).toBe(400);
    await waitFor(async () => (await total(cluster, 'mcp_requests_total', 'status="400"')) >= bad400 + 3, 5000, 'three 400s counted');
    expect(await metricValue(base(cluster, indexOf(cluster, 'node2')), 'mcp_requests_total', 'status="400"')).toBe(node2400 + 3);
    // The owner tag wins over a cookie naming another node (a session handed over during a drain).
    const other = clients.find((c) => c.owner !== 'node2')!;
    for (let i = 0; i < 3; i++) expect((await rawCall(cluster, other.sid, pinned.cookie)).status).toBe(200);
    expect(await forwarded(cluster)).toBe(before);
  });

  it('sends a draining owner’s requests to another node, which forwards them (owner_unroutable) while the drain lasts', async () => {
    const clients = await clientsOnEveryNode(cluster, 6, false);
    const victim = clients.find((c) => c.owner === 'node1')!;
    const unroutable = await byReason(cluster, 'owner_unroutable');
    const holder = clients.find((c) => c.owner === 'node1' && c !== victim) ?? victim;
    const held = fetch(cluster.lbUrl, {
      method: 'POST',
      headers: requestHeaders(holder.sid),
      body: JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'tools/call', params: { name: 'wait', arguments: { ms: 600_000 } } }),
    });
    await waitFor(async () => (await metricValue(base(cluster, 0), 'mcp_requests_in_flight')) === 1, 10_000, 'a call in flight on node1');
    const proc = cluster.nodes[0].proc!;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    // /readyz answers 503 at once: HAProxy takes node1 out after two failed checks (500 ms apart).
    // (`UP 1/2` while the checks are failing: still in rotation.)
    await waitFor(async () => (await cluster.serverStates())['mcp_sticky/node1']?.startsWith('DOWN'), 10_000, 'HAProxy to see node1 DOWN');
    const o = await victim.call(TOOL);
    expect(o.ok, victim.unexpected.join('\n')).toBe(true);
    expect(o.reinitialized, JSON.stringify(o.errors) + cluster.nodes.flatMap((n) => n.logs.slice(-8)).join('\n')).toBe(0);
    expect(await byReason(cluster, 'owner_unroutable')).toBeGreaterThan(unroutable);
    // Clients of the other nodes are not touched.
    for (const c of clients.filter((x) => x.owner !== 'node1')) expect((await c.call(TOOL)).reinitialized).toBe(0);
    // The held call is answered 503 at the end of the window; then node1 exits.
    expect((await held).status).toBe(503);
    await exited;
    cluster.nodes[0].proc = null;
    await cluster.startNode(0);
    await cluster.waitUp();
  }, 60_000);

  it('falls back to a healthy node when the owner is dead: 404 from a survivor, then re-initialize works', async () => {
    const clients = await clientsOnEveryNode(cluster, 6, false);
    const victims = clients.filter((c) => c.owner === 'node3');
    const others = clients.filter((c) => c.owner !== 'node3');
    const oldSid = victims[0].sid;
    await cluster.stopNode(2, 'SIGKILL');
    await waitFor(async () => (await cluster.serverStates())['mcp_sticky/node3']?.startsWith('DOWN'), 10_000, 'HAProxy to see node3 DOWN');
    // A survivor answers: the session is gone.
    const gone = await rawCall(cluster, oldSid);
    expect(gone.status).toBe(404);
    for (const c of victims) {
      const o = await c.call(TOOL);
      expect(o.ok, c.unexpected.join('\n')).toBe(true);
      expect(o.reinitialized).toBe(1);
      expect(c.owner).not.toBe('node3');
    }
    for (const c of others) {
      const o = await c.call(TOOL);
      expect(o.ok).toBe(true);
      expect(o.reinitialized).toBe(0);
    }
  }, 60_000);
});

describe('owner routing off (a balancer that cannot route on a header)', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startTestCluster(FIXTURES, 2, false);
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('relays cookie-less requests (no_tag) and requests whose cookie names another node (stale_route)', async () => {
    const cookieless = await clientsOnEveryNode(cluster, 5, false);
    const noTag = await byReason(cluster, 'no_tag');
    // Round robin over two nodes: of a client's consecutive calls, every other one lands on the node
    // that does not own its session. (Clients taking turns would not do: with an even number of them,
    // each client's calls would always land on the same node.)
    for (const c of cookieless) for (let i = 0; i < 4; i++) expect((await c.call(TOOL)).ok).toBe(true);
    expect(await byReason(cluster, 'no_tag')).toBeGreaterThan(noTag);
    // A client-sent mark is dropped by HAProxy: still no_tag, never owner_unroutable.
    const unroutable = await byReason(cluster, 'owner_unroutable');
    for (let i = 0; i < 4; i++) expect((await rawCall(cluster, cookieless[i].sid, '', { 'x-mcp-route': 'owner' })).status).toBe(200);
    expect(await byReason(cluster, 'owner_unroutable')).toBe(unroutable);

    const pinned = await clientsOnEveryNode(cluster, 4, true);
    const [a, b] = [pinned.find((c) => c.owner === 'node1')!, pinned.find((c) => c.owner === 'node2')!];
    const stale = await byReason(cluster, 'stale_route');
    // node2's session with node1's cookie: HAProxy follows the cookie, node1 relays to node2.
    expect((await rawCall(cluster, b.sid, a.cookie)).status).toBe(200);
    expect(await byReason(cluster, 'stale_route')).toBe(stale + 1);
    // The reasons add up to the forwarded total on every node.
    for (let i = 0; i < cluster.nodes.length; i++) {
      let sum = 0;
      for (const r of ['no_tag', 'owner_unroutable', 'stale_route', 'handoff'])
        sum += await metricValue(base(cluster, i), 'mcp_forwarded_by_reason_total', `reason="${r}"`);
      expect(sum).toBe(await metricValue(base(cluster, i), 'mcp_forwarded_requests_total'));
    }
  });
});

function initBody(): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'owner-routing-test', version: '1' } },
  });
}
