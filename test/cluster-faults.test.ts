/**
 * Cluster faults on real processes
 * (redis-server, nodes, HAProxy). Header values Node cannot send, forged and replayed node-to-node
 * markers, invalid peer addresses in Redis, a black-hole owner, relayed streams beside calls, Redis
 * stalled (SIGSTOP) for 6 s and 20 s, and Redis at maxmemory with noeviction.
 */
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createForwardAuth } from '../dist/src/cluster/forward-auth.js';
import { createTagger } from '../dist/src/cluster/session-tag.js';
import { startTestCluster, type Cluster } from './helpers/cluster.js';
import { initialize, metricValue, rpc } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';

const VERSION = '2025-11-25';
const CALL = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'test_simple_text', arguments: {} } };

function base(c: Cluster, i: number): string {
  return `http://127.0.0.1:${c.nodes[i].port}`;
}

function url(c: Cluster, i: number): string {
  return `${base(c, i)}/mcp`;
}

/** A tool call on `sid` through node `i`: the HTTP status and, on 200, whether a result came back. */
async function call(
  c: Cluster,
  i: number,
  sid: string,
  extra: Record<string, string> = {},
): Promise<{ status: number; ok: boolean; body: string }> {
  const res = await rpc(url(c, i), sid, CALL, VERSION, extra);
  const body = await res.text();
  if (res.status !== 200) return { status: res.status, ok: false, body };
  const json = res.headers.get('content-type')?.includes('text/event-stream')
    ? body
        .split('\n')
        .filter((l) => l.startsWith('data: ') && l.length > 6)
        .at(-1)!
        .slice(6)
    : body;
  return { status: 200, ok: Boolean(JSON.parse(json).result), body };
}

/** A session on node `i` (initialized directly, so it is that node's). */
async function sessionOn(c: Cluster, i: number): Promise<string> {
  const { sid, res } = await initialize(url(c, i), VERSION);
  expect(res.status).toBe(200);
  await rpc(url(c, i), sid, { jsonrpc: '2.0', method: 'notifications/initialized' }).then((r) => r.arrayBuffer());
  return sid;
}

/**
 * One raw HTTP/1.1 request on a fresh socket (bytes exactly as given, which fetch would refuse to
 * send); resolves with the status and body of the answer.
 */
function rawRequest(port: number, head: Buffer, body = Buffer.alloc(0)): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no complete answer within 10 s: ${JSON.stringify(data.toString('latin1'))}`));
    }, 10_000);
    s.on('data', (d: Buffer) => {
      data = Buffer.concat([data, d]);
      const text = data.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end));
      // A stream (chunked) is answered once its head is here.
      if (!len && /\r\ntransfer-encoding: *chunked/i.test(text.slice(0, end))) {
        clearTimeout(t);
        s.destroy();
        return resolve({ status: Number(text.slice(9, 12)), body: '' });
      }
      if (!len || data.length < end + 4 + Number(len[1])) return;
      clearTimeout(t);
      s.destroy();
      resolve({ status: Number(text.slice(9, 12)), body: text.slice(end + 4, end + 4 + Number(len[1])) });
    });
    s.on('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
    s.write(Buffer.concat([head, body]));
  });
}

function head(lines: string[]): Buffer {
  // latin1 keeps every char below 0x100 one byte; callers splice raw UTF-8 bytes in where they want them.
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

describe('forwarding under hostile input and a stalled owner', () => {
  let cluster: Cluster;
  let redis: Redis;
  beforeAll(async () => {
    cluster = await startTestCluster(
      {
        MCP_FORWARD_RESPONSE_TIMEOUT_MS: '1500',
        MCP_FORWARD_MAX_PER_OWNER: '4',
        MCP_FORWARD_MAX_STREAMS_PER_OWNER: '16',
        MCP_PEER_ALLOW: '127.0.0.0/8,::1',
      },
      2,
    );
    redis = new Redis(cluster.redisUrl);
  }, 60_000);
  afterAll(async () => {
    redis?.disconnect();
    await cluster?.stop();
  });

  it('answers 400 to header values Node cannot send (DEL) and lives on', async () => {
    const sid = await sessionOn(cluster, 0);
    const port2 = cluster.nodes[1].port;
    const host = `Host: 127.0.0.1:${port2}`;
    const bad: Array<{ what: string; req: Buffer; body?: Buffer }> = [
      {
        what: 'GET, Last-Event-ID with 0x7F',
        req: head([
          'GET /mcp HTTP/1.1',
          host,
          'Accept: text/event-stream',
          `Mcp-Session-Id: ${sid}`,
          `Mcp-Protocol-Version: ${VERSION}`,
          'Last-Event-ID: a\x7fb',
        ]),
      },
      {
        what: 'POST, Accept with 0x7F',
        req: head([
          'POST /mcp HTTP/1.1',
          host,
          'Content-Type: application/json',
          'Accept: application/json, text/event-stream\x7f',
          `Mcp-Session-Id: ${sid}`,
          `Content-Length: ${JSON.stringify(CALL).length}`,
        ]),
        body: Buffer.from(JSON.stringify(CALL)),
      },
      {
        what: 'DELETE, Last-Event-ID with 0x7F',
        req: head(['DELETE /mcp HTTP/1.1', host, `Mcp-Session-Id: ${sid}`, 'Last-Event-ID: \x7f']),
      },
    ];
    for (const b of bad) {
      const r = await rawRequest(port2, b.req, b.body);
      expect(r.status, b.what).toBe(400);
      expect(JSON.parse(r.body), b.what).toMatchObject({ jsonrpc: '2.0', error: { code: -32600 } });
    }
    expect(await metricValue(base(cluster, 1), 'mcp_forward_failures_total', 'reason="bad_header"')).toBe(bad.length);
    // Bytes above 0x7F (here UTF-8) reach the front as Latin-1 characters and are relayed as they came.
    const utf8 = Buffer.concat([
      head(['GET /mcp HTTP/1.1', host, 'Accept: text/event-stream', `Mcp-Session-Id: ${sid}`]).subarray(0, -2),
      Buffer.from('Last-Event-ID: x\u20acy\r\n\r\n', 'utf8'),
    ]);
    expect((await rawRequest(port2, utf8)).status).toBe(200);
    // Both nodes live on, and the session is intact, directly and through forwarding.
    expect((await fetch(`${base(cluster, 1)}/healthz`)).status).toBe(200);
    expect((await call(cluster, 0, sid)).ok).toBe(true);
    expect((await call(cluster, 1, sid)).ok).toBe(true);
    const own = await sessionOn(cluster, 1);
    expect((await call(cluster, 1, own)).ok).toBe(true);
    expect(cluster.nodes.every((n) => n.proc && n.proc.exitCode === null)).toBe(true);
  });

  it('treats a forged, stale or replayed node-to-node marker as a client: forwarded, counted', async () => {
    const sid = await sessionOn(cluster, 0);
    const rejected = (): Promise<number> => metricValue(base(cluster, 1), 'mcp_forward_auth_rejected_total');
    const before = await rejected();
    // The old plain marker means nothing any more.
    expect((await call(cluster, 1, sid, { 'x-mcp-forwarded-by': 'node1' })).ok).toBe(true);
    // A made-up auth header: forwarded as a client's request.
    expect((await call(cluster, 1, sid, { 'x-mcp-forward-auth': 'bm9kZTE.1.AAAA' })).ok).toBe(true);
    const auth = createForwardAuth(cluster.secret, 'node1');
    // A header signed for another session, and one signed 60 s ago (a replay after the window).
    expect((await call(cluster, 1, sid, { 'x-mcp-forward-auth': auth.sign('POST', '/mcp', 'other-session', Date.now()) })).ok).toBe(true);
    expect((await call(cluster, 1, sid, { 'x-mcp-forward-auth': auth.sign('POST', '/mcp', sid, Date.now() - 60_000) })).ok).toBe(true);
    expect(await rejected()).toBe(before + 3);
    // A valid, fresh one is a peer's: node2 does not forward again and answers for itself (404).
    const fresh = await call(cluster, 1, sid, { 'x-mcp-forward-auth': auth.sign('POST', '/mcp', sid, Date.now()) });
    expect(fresh.status).toBe(404);
    expect(await rejected()).toBe(before + 3);
  });

  it('does not forward to an address from Redis that fails the peer rule (404, logged once)', async () => {
    const invalid = [
      '10.1.2.3:3000',
      'evil.example.com:80',
      '127.0.0.1:0',
      '127.0.0.1:99999',
      'http://127.0.0.1:80/',
      '127.0.0.1',
      '0.0.0.0:3000',
      '[::]:3000',
      ' 127.0.0.1:80',
    ];
    const forwardedBefore = await metricValue(base(cluster, 1), 'mcp_forwarded_requests_total');
    for (const [n, address] of invalid.entries()) {
      const node = `bogus${n}`;
      await redis.hset('mcp:nodes', node, JSON.stringify({ address, beat: 1, seen: Date.now() }));
      const sid = createTagger(cluster.secret, node).tag(randomBytes(16).toString('base64url'));
      for (let k = 0; k < 2; k++) {
        const r = await call(cluster, 1, sid);
        expect(r.status, address).toBe(404);
        expect(JSON.parse(r.body).error.code).toBe(-32001);
      }
      await redis.hdel('mcp:nodes', node);
    }
    expect(await metricValue(base(cluster, 1), 'mcp_forwarded_requests_total')).toBe(forwardedBefore);
    const lines = cluster.nodes[1].logs.filter((l) => l.includes('invalid address'));
    for (const address of invalid) expect(lines.filter((l) => JSON.parse(l).address === address).length, address).toBe(1);
    expect(await metricValue(base(cluster, 1), 'mcp_cluster_peer_address_invalid_total')).toBeGreaterThanOrEqual(invalid.length);
  });

  it('answers 502 for a black-hole owner and 503 beyond the per-owner limit, quickly, and keeps serving', async () => {
    const accepted: Socket[] = [];
    const hole: Server = createServer((s) => accepted.push(s));
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    const port = (hole.address() as { port: number }).port;
    let beat = 0;
    const announce = (): Promise<unknown> =>
      redis.hset('mcp:nodes', 'ghost', JSON.stringify({ address: `127.0.0.1:${port}`, beat: ++beat, seen: Date.now() }));
    await announce();
    const beating = setInterval(() => void announce(), 500);
    try {
      const sid = createTagger(cluster.secret, 'ghost').tag(randomBytes(16).toString('base64url'));
      const t0 = Date.now();
      const hung = Array.from({ length: 4 }, () => call(cluster, 1, sid));
      // The four calls reached the owner (it accepted them) and wait for an answer that never comes.
      await waitFor(() => accepted.length >= 4, 10_000, 'four connections to the black hole');
      const busy = await rpc(url(cluster, 1), sid, CALL, VERSION);
      expect(busy.status).toBe(503);
      expect(busy.headers.get('retry-after')).toBe('1');
      expect((await busy.json()).error.code).toBe(-32000);
      // Meanwhile the node serves its own sessions and forwards to its live peer.
      const own = await sessionOn(cluster, 1);
      expect((await call(cluster, 1, own)).ok).toBe(true);
      expect((await call(cluster, 1, await sessionOn(cluster, 0))).ok).toBe(true);
      const outcomes = await Promise.all(hung);
      const elapsed = Date.now() - t0;
      for (const o of outcomes) {
        expect(o.status).toBe(502);
        expect(JSON.parse(o.body).error.code).toBe(-32000);
      }
      console.log(
        `[figure] black-hole owner: 4 calls answered 502 after ${elapsed} ms (MCP_FORWARD_RESPONSE_TIMEOUT_MS=1500), the 5th 503 at once`,
      );
      expect(await metricValue(base(cluster, 1), 'mcp_forward_failures_total', 'reason="response_timeout"')).toBeGreaterThanOrEqual(4);
      expect(await metricValue(base(cluster, 1), 'mcp_forward_failures_total', 'reason="owner_busy"')).toBeGreaterThanOrEqual(1);
      // The slots are free again: the next call is forwarded (and times out) rather than refused.
      expect((await call(cluster, 1, sid)).status).toBe(502);
    } finally {
      clearInterval(beating);
      await redis.hdel('mcp:nodes', 'ghost');
      for (const s of accepted) s.destroy();
      await new Promise((r) => hole.close(r));
    }
  });

  it('keeps relayed GET streams from taking the sockets forwarded calls need', async () => {
    const sids: string[] = [];
    for (let i = 0; i < 17; i++) sids.push(await sessionOn(cluster, 0));
    const aborts: AbortController[] = [];
    try {
      // 16 relayed streams (the streams limit), four times the calls limit.
      for (const sid of sids.slice(0, 16)) {
        const ac = new AbortController();
        aborts.push(ac);
        const res = await fetch(url(cluster, 1), {
          headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': VERSION },
          signal: ac.signal,
        });
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      }
      // Calls still go through, more at once than their own limit allows in sequence.
      for (let round = 0; round < 3; round++) {
        const outcomes = await Promise.all(sids.slice(0, 4).map((sid) => call(cluster, 1, sid)));
        for (const o of outcomes) expect(o.ok, o.body).toBe(true);
      }
      // The 17th stream is beyond the streams limit: 503, at once.
      const over = await fetch(url(cluster, 1), {
        headers: { accept: 'text/event-stream', 'mcp-session-id': sids[16], 'mcp-protocol-version': VERSION },
      });
      expect(over.status).toBe(503);
      expect(over.headers.get('retry-after')).toBe('1');
      await over.arrayBuffer();
    } finally {
      for (const ac of aborts) ac.abort();
    }
    // Closed streams free their slots (the client went away, the relay ends upstream).
    await waitFor(
      async () => {
        const res = await fetch(url(cluster, 1), {
          headers: { accept: 'text/event-stream', 'mcp-session-id': sids[16], 'mcp-protocol-version': VERSION },
        });
        const ok = res.status === 200;
        await res.body?.cancel();
        return ok;
      },
      10_000,
      'a stream slot after the others closed',
    );
  });
});

async function sessionKeysExist(redis: Redis, sids: string[]): Promise<number> {
  return redis.exists(...sids.map((s) => `mcp:session:${s}`));
}

/** Every session called through a node that does not own it; true when all answered. */
async function crossNodeCallsOk(c: Cluster, owned: string[][]): Promise<boolean> {
  const outcomes = await Promise.all(
    owned.flatMap((sids, i) => sids.map((sid) => call(c, (i + 1) % c.nodes.length, sid).catch(() => ({ ok: false })))),
  );
  return outcomes.every((o) => o.ok);
}

describe('Redis stalls (SIGSTOP/SIGCONT of a real redis-server)', () => {
  it("loses no live node's keys after a 6 s and a 20 s stall; nodes rejoin; cross-node calls work again within 10 s", async () => {
    const cluster = await startTestCluster({}, 3);
    const redis = new Redis(cluster.redisUrl);
    try {
      const owned: string[][] = [];
      for (let i = 0; i < 3; i++) owned.push([await sessionOn(cluster, i), await sessionOn(cluster, i), await sessionOn(cluster, i)]);
      const all = owned.flat();
      await waitFor(async () => (await sessionKeysExist(redis, all)) === all.length, 20_000, 'a key for every session');
      expect(await crossNodeCallsOk(cluster, owned)).toBe(true);

      for (const stallMs of [6000, 20_000]) {
        const before = await redis.hgetall('mcp:nodes');
        cluster.redis.kill('SIGSTOP');
        const stoppedAt = Date.now();
        let duringOk = false;
        try {
          // The fault is the stall itself: Redis stays stopped for stallMs. Cross-node calls are tried
          // at its end (forwarding never waits on Redis).
          await new Promise((r) => setTimeout(r, Math.max(0, stallMs - 1500 - (Date.now() - stoppedAt))));
          duringOk = await crossNodeCallsOk(cluster, owned);
          await new Promise((r) => setTimeout(r, Math.max(0, stallMs - (Date.now() - stoppedAt))));
        } finally {
          cluster.redis.kill('SIGCONT');
        }
        const resumedAt = Date.now();
        await waitFor(() => crossNodeCallsOk(cluster, owned), 10_000, `cross-node calls after a ${stallMs} ms stall`, 100);
        const backMs = Date.now() - resumedAt;
        // Every node beat again (its entry changed twice since the stall began): each has run the
        // rounds in which a reaper would have acted.
        const last = new Map(Object.entries(before));
        const changes = new Map<string, number>();
        await waitFor(
          async () => {
            const now = await redis.hgetall('mcp:nodes');
            for (const n of cluster.nodes) {
              const v = now[n.name];
              if (v && v !== last.get(n.name)) {
                changes.set(n.name, (changes.get(n.name) ?? 0) + 1);
                last.set(n.name, v);
              }
            }
            return cluster.nodes.every((n) => (changes.get(n.name) ?? 0) >= 3);
          },
          15_000,
          'three heartbeats of every node after the stall',
          200,
        );
        const known = await redis.smembers('mcp:nodes:known');
        const nodes = Object.keys(await redis.hgetall('mcp:nodes'));
        for (const n of cluster.nodes) {
          expect(nodes).toContain(n.name);
          expect(known).toContain(n.name);
        }
        expect(await sessionKeysExist(redis, all)).toBe(all.length);
        for (let i = 0; i < 3; i++) expect(await metricValue(base(cluster, i), 'mcp_cluster_nodes_reaped_total')).toBe(0);
        console.log(
          `[figure] Redis stalled ${stallMs} ms: cross-node calls during the stall ${duringOk ? 'answered' : 'failed'}; working again ${backMs} ms after SIGCONT; session keys kept ${all.length}/${all.length}`,
        );
        expect(duringOk).toBe(true);
      }
      for (const n of cluster.nodes) expect(n.logs.filter((l) => l.includes('removed a dead node'))).toEqual([]);
      // Sessions created after the stalls are registered as usual.
      const fresh = await sessionOn(cluster, 1);
      await waitFor(async () => (await sessionKeysExist(redis, [fresh])) === 1, 20_000, 'the key of a session created after the stalls');
    } finally {
      cluster.redis.kill('SIGCONT');
      redis.disconnect();
      await cluster.stop();
    }
  }, 180_000);
});

describe('Redis at maxmemory with noeviction', () => {
  it("still deletes closed sessions' keys, counts refused registrations, keeps serving, and catches up once memory frees", async () => {
    // A long flush interval puts the DELs and the refused SETs of this test into the same batches.
    const cluster = await startTestCluster({ MCP_REGISTRY_FLUSH_MS: '200' }, 2);
    const redis = new Redis(cluster.redisUrl);
    try {
      const old: string[] = [];
      for (let i = 0; i < 8; i++) old.push(await sessionOn(cluster, 0));
      await waitFor(async () => (await sessionKeysExist(redis, old)) === old.length, 20_000, 'keys of the first sessions');

      // Fill Redis up to a maxmemory a little above what it uses now.
      const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
      await redis.config('SET', 'maxmemory-policy', 'noeviction');
      await redis.config('SET', 'maxmemory', String(used + 2 * 1024 * 1024));
      const filler = 'x'.repeat(64 * 1024);
      let oom = '';
      for (let i = 0; i < 200 && !oom; i++) await redis.set(`filler:${i}`, filler).catch((err: Error) => (oom = err.message));
      expect(oom).toMatch(/OOM/);
      // Freeing a few bytes (a DEL, a client buffer) must not let writes through again: stay well over.
      const full = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
      await redis.config('SET', 'maxmemory', String(full - 1024 * 1024));

      // Close half of the sessions while new ones are registered: their DELs share batches with refused SETs.
      const closing = old.slice(0, 4);
      const [deletes, fresh] = await Promise.all([
        Promise.all(
          closing.map((sid) =>
            fetch(url(cluster, 0), { method: 'DELETE', headers: { 'mcp-session-id': sid, 'mcp-protocol-version': VERSION } }),
          ),
        ),
        Promise.all([0, 1, 2, 3].map(() => sessionOn(cluster, 0))),
      ]);
      for (const d of deletes) expect(d.status).toBe(200);
      const t0 = Date.now();
      await waitFor(async () => (await sessionKeysExist(redis, closing)) === 0, 20_000, "the closed sessions' keys deleted at maxmemory");
      const delMs = Date.now() - t0;
      await waitFor(
        async () => (await metricValue(base(cluster, 0), 'mcp_registry_write_failures_total', 'op="set"')) >= 1,
        20_000,
        'refused registrations counted',
      );
      expect(await sessionKeysExist(redis, fresh)).toBe(0);
      // The node keeps serving: old, new and forwarded sessions all answer.
      for (const sid of [...old.slice(4), ...fresh]) expect((await call(cluster, 0, sid)).ok).toBe(true);
      for (const sid of [...old.slice(4), ...fresh]) expect((await call(cluster, 1, sid)).ok).toBe(true);
      const own = await sessionOn(cluster, 1);
      expect((await call(cluster, 0, own)).ok).toBe(true);
      for (const n of cluster.nodes) expect(n.proc?.exitCode).toBeNull();

      // Memory frees: the refused registrations land (they stayed queued).
      await redis.config('SET', 'maxmemory', '0');
      const t1 = Date.now();
      await waitFor(
        async () => (await sessionKeysExist(redis, [...fresh, own])) === fresh.length + 1,
        20_000,
        'the refused registrations written once memory freed',
      );
      const catchUpMs = Date.now() - t1;
      expect(await sessionKeysExist(redis, old.slice(4))).toBe(4);
      for (let i = 0; i < 2; i++) expect(await metricValue(base(cluster, i), 'mcp_cluster_nodes_reaped_total')).toBe(0);
      console.log(
        `[figure] maxmemory/noeviction: closed sessions' keys deleted within ${delMs} ms; new registrations refused and counted, written ${catchUpMs} ms after memory freed`,
      );
    } finally {
      await redis.config('SET', 'maxmemory', '0').catch(() => {});
      redis.disconnect();
      await cluster.stop();
    }
  }, 120_000);
});
