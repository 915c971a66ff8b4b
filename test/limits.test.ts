/**
 * Bounded memory under hostile clients. Real nodes over HTTP: capped initialize
 * params, batch size, subscriptions and live sessions; a slow SSE reader fed by a fast producer is
 * dropped at MCP_SSE_MAX_BUFFERED (it can resume); the node's RSS stays within a stated bound. The SSE
 * writer's accounting against uWS's write semantics is proven in process in test/unit/sse-writer.test.ts.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initialize, metricValue, POST_HEADERS, rpc, startServer, type TestServer } from './helpers/server.js';
import { SseReader } from './helpers/sse.js';
import { waitFor } from './helpers/wait.js';

const SSE_LIMIT = 64 * 1024;
/**
 * RSS the node may hold over what it held before each flood below, once settled, and at any time
 * during the 300 big initializes (8 in flight: each costs its body, its string and its parse, about
 * 12 MB). Measured in ten clean CI runs (baseline about 105 MB): after the initializes +21..+99 MB
 * settled and +80..+110 MB at the peak, after the slow reader +5..+20 MB more; without the cap the
 * 300 sessions kept 1.2 GB. What is left after a flood is mostly garbage the heap has not returned to
 * the system yet, so each bound is taken from the RSS just before its own flood, with room for that.
 */
const RSS_GROWTH_BOUND_MB = 150;
const RSS_PEAK_BOUND_MB = 250;

let srv: TestServer;
let early: string;
let baselineMb = 0;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * RSS once it has settled (memory goes back to the OS lazily, after the node's next GCs): polls until
 * it is within `boundMb` and fell by less than 1 MB over the last second, or `ms` pass.
 */
async function settledRss(pid: number, boundMb: number, ms = 20_000): Promise<number> {
  const deadline = Date.now() + ms;
  const readings = [rssMb(pid)];
  for (;;) {
    const rss = readings[readings.length - 1];
    const secondAgo = readings[Math.max(0, readings.length - 5)];
    if ((readings.length >= 5 && rss <= boundMb && secondAgo - rss < 1) || Date.now() >= deadline) return rss;
    await new Promise((r) => setTimeout(r, 250));
    readings.push(rssMb(pid));
  }
}

async function post(body: string | Buffer, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(srv.url, { method: 'POST', headers: { ...POST_HEADERS, ...headers }, body });
}

function initBody(id: number, params: Record<string, unknown>): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' }, ...params },
  });
}

async function expectAlive(sid: string): Promise<void> {
  const res = await rpc(srv.url, sid, {
    jsonrpc: '2.0',
    id: 77,
    method: 'tools/call',
    params: { name: 'echo', arguments: { text: 'still here' } },
  });
  expect(res.status).toBe(200);
  expect((await res.json()).result.content[0].text).toBe('still here');
}

/** Runs `n` jobs, `width` at a time. */
async function pool(n: number, width: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await job(next++);
    }),
  );
}

/** A POST whose SSE answer is read through a raw socket at a rate the test controls. */
function rawPost(port: number, sid: string, body: string): Socket {
  const sock = connect(port, '127.0.0.1');
  sock.write(
    `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n` +
      `Mcp-Session-Id: ${sid}\r\nMcp-Protocol-Version: 2025-11-25\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  return sock;
}

describe('a node under hostile clients', () => {
  beforeAll(async () => {
    srv = await startServer({
      args: ['--tools', 'test/fixtures/flood-tools.mjs'],
      env: { MCP_SSE_MAX_BUFFERED: '64kb', MCP_REPLAY_EVENTS: '3', WORKERS: '2' },
    });
    early = (await initialize(srv.url)).sid;
    await expectAlive(early);
    baselineMb = rssMb(srv.proc.pid!);
    console.log(`[limits] baseline RSS ${baselineMb.toFixed(1)} MB`);
  });
  afterAll(async () => {
    await srv?.stop();
  });

  describe('initialize params', () => {
    it('refuses 300 initializes carrying 4 MB of clientInfo each (400, -32602) with bounded RSS', async () => {
      const before = await metricValue(srv.base, 'mcp_sessions_rejected_total', 'reason="client_state_too_large"');
      const created0 = await metricValue(srv.base, 'mcp_sessions_created_total');
      // 4,000,000 characters: the body stays under the 4 MiB MAX_BODY default, so the cap under test is this one.
      const name = 'x'.repeat(4_000_000);
      let peakMb = 0;
      await pool(300, 8, async (i) => {
        const res = await post(initBody(i, { clientInfo: { name, version: '1' } }));
        expect(res.status).toBe(400);
        expect(res.headers.get('mcp-session-id')).toBeNull();
        const body = await res.json();
        expect(body).toMatchObject({ jsonrpc: '2.0', id: i, error: { code: -32602 } });
        expect(body.error.message).toContain('clientInfo');
        peakMb = Math.max(peakMb, rssMb(srv.proc.pid!));
      });
      expect(await metricValue(srv.base, 'mcp_sessions_rejected_total', 'reason="client_state_too_large"')).toBe(before + 300);
      expect(await metricValue(srv.base, 'mcp_sessions_created_total')).toBe(created0);
      const after = await settledRss(srv.proc.pid!, baselineMb + RSS_GROWTH_BOUND_MB);
      console.log(
        `[limits] RSS after 300 x 4 MB initializes: peak seen ${peakMb.toFixed(1)} MB, settled ${after.toFixed(1)} MB (baseline ${baselineMb.toFixed(1)} MB)`,
      );
      expect(after).toBeLessThanOrEqual(baselineMb + RSS_GROWTH_BOUND_MB);
      expect(peakMb).toBeLessThanOrEqual(baselineMb + RSS_PEAK_BOUND_MB);
      await expectAlive(early);
    }, 180_000);

    it('applies the same cap to capabilities, also when deeply nested, and accepts params under it', async () => {
      const wide = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, { v: i }]));
      const res = await post(initBody(5, { capabilities: { experimental: wide } }));
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ id: 5, error: { code: -32602, message: expect.stringContaining('capabilities') } });
      // 30,000 levels (a recursive walk would overflow the stack) in a body under the 64 KiB the
      // front scans for shape: parsed, then refused by the iterative size check.
      const deep = `{"jsonrpc":"2.0","id":6,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"experimental":${'['.repeat(3e4)}${']'.repeat(3e4)}}}}`;
      const res2 = await post(deep);
      expect(res2.status).toBe(400);
      expect(await res2.json()).toMatchObject({ id: 6, error: { code: -32602 } });
      // 100,000 levels: refused by the shape scan before anything parses it.
      const deeper = `{"jsonrpc":"2.0","id":8,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"experimental":${'['.repeat(1e5)}${']'.repeat(1e5)}}}}`;
      const res3 = await post(deeper);
      expect(res3.status).toBe(400);
      expect((await res3.json()).error).toMatchObject({ code: -32600, message: expect.stringContaining('nests deeper') });
      // 15,000 characters of clientInfo: within the 16 KiB cap.
      const ok = await post(initBody(7, { clientInfo: { name: 'n'.repeat(15_000), version: '1' } }));
      expect(ok.status).toBe(200);
      expect(ok.headers.get('mcp-session-id')).toBeTruthy();
      await expectAlive(early);
    });
  });

  describe('batches', () => {
    it('caps a batch at 64 messages (400, -32600); 64 are served', async () => {
      const { sid } = await initialize(srv.url, '2025-03-26');
      const batch = (n: number) => Array.from({ length: n }, (_, i) => ({ jsonrpc: '2.0', id: i + 1, method: 'ping' }));
      const over = await rpc(srv.url, sid, batch(65), '2025-03-26');
      expect(over.status).toBe(400);
      expect(await over.json()).toMatchObject({
        jsonrpc: '2.0',
        id: null,
        error: { code: -32600, message: expect.stringContaining('64') },
      });
      const full = await rpc(srv.url, sid, batch(64), '2025-03-26');
      expect(full.status).toBe(200);
      expect((await full.json()).length).toBe(64);
    });
  });

  describe('subscriptions', () => {
    it('caps subscriptions at 1000 per session and URIs at 2048 characters (-32602)', async () => {
      const { sid } = await initialize(srv.url, '2025-03-26');
      const sub = (id: number, uri: string, method = 'resources/subscribe') => ({ jsonrpc: '2.0', id, method, params: { uri } });
      for (let start = 0; start < 1000; start += 64) {
        const msgs = Array.from({ length: Math.min(64, 1000 - start) }, (_, i) => sub(start + i + 1, `note://n/${start + i}`));
        const res = await rpc(srv.url, sid, msgs, '2025-03-26');
        expect(res.status).toBe(200);
        for (const r of await res.json()) expect(r.result).toEqual({});
      }
      const one = async (msg: unknown) => (await rpc(srv.url, sid, msg, '2025-03-26')).json();
      expect((await one(sub(2001, 'note://n/1000'))).error).toMatchObject({ code: -32602, message: expect.stringContaining('1000') });
      // Re-subscribing to a URI already held is not a new subscription.
      expect((await one(sub(2002, 'note://n/5'))).result).toEqual({});
      expect((await one(sub(2003, 'note://n/5', 'resources/unsubscribe'))).result).toEqual({});
      expect((await one(sub(2004, 'note://n/1000'))).result).toEqual({});
      const fresh = (await initialize(srv.url)).sid;
      const long = await (await rpc(srv.url, fresh, sub(1, `note://${'u'.repeat(2049)}`))).json();
      expect(long.error).toMatchObject({ code: -32602, message: expect.stringContaining('2048') });
      expect((await (await rpc(srv.url, fresh, sub(2, `note://${'u'.repeat(2000)}`))).json()).result).toEqual({});
    });
  });

  describe('slow SSE reader', () => {
    it('drops a reader that drains slower than a fast producer at MCP_SSE_MAX_BUFFERED; it can resume, others keep working', async () => {
      const beforeMb = rssMb(srv.proc.pid!);
      const { sid } = await initialize(srv.url);
      const other = (await initialize(srv.url)).sid;
      const dropped0 = await metricValue(srv.base, 'mcp_sse_dropped_total');
      const EVENT = 16 * 1024;
      const COUNT = 4000;
      const sock = rawPost(
        srv.port,
        sid,
        JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'flood', arguments: { count: COUNT, size: EVENT } },
        }),
      );
      // Reads one chunk (at most 64 KiB) every 50 ms, at most 1.3 MB/s: far below what the tool produces.
      let received = '';
      sock.setEncoding('latin1');
      sock.on('data', (d: string) => {
        received += d;
        sock.pause();
      });
      sock.on('error', () => {});
      const reader = setInterval(() => sock.resume(), 50);
      try {
        const line = await srv.waitForLog((l) => l.msg === 'dropping slow SSE reader', 30_000);
        // What was held when it went: just over the limit (one event crossed it), never the whole flood.
        expect(line.heldBytes as number).toBeGreaterThan(SSE_LIMIT);
        expect(line.heldBytes as number).toBeLessThan(SSE_LIMIT + 2 * EVENT + 1024);
        // The log names the session by a short hash, never by its id.
        expect(line.session).not.toBe(sid);
        expect(String(line.session)).toHaveLength(12);
        expect(JSON.stringify(line)).not.toContain(sid);
        expect(await metricValue(srv.base, 'mcp_sse_dropped_total')).toBe(dropped0 + 1);
      } finally {
        clearInterval(reader);
        sock.destroy();
      }
      await expectAlive(early);
      await expectAlive(other);

      // The tool runs to its end with no reader attached (the worker keeps the stream's last 3 events).
      await waitFor(
        async () => (await metricValue(srv.base, 'mcp_tool_calls_total', 'tool="flood"')) >= 1,
        30_000,
        'the flood call to end',
        100,
      );
      // The client resumes from the last event it saw and gets what the worker kept, the result last.
      // (Replayed after the flood, within the limit: a resumed stream fed faster than it is read would be
      // dropped the same way.)
      const ids = [...received.matchAll(/id: (\d+_\d+)\n/g)].map((m) => m[1]);
      expect(ids.length).toBeGreaterThan(0);
      const resumed = await fetch(srv.url, {
        headers: {
          accept: 'text/event-stream',
          'mcp-session-id': sid,
          'mcp-protocol-version': '2025-11-25',
          'last-event-id': ids[ids.length - 1],
        },
      });
      expect(resumed.status).toBe(200);
      const events = await new SseReader(resumed).rest(30_000);
      const last = JSON.parse(events[events.length - 1].data);
      expect(last).toMatchObject({ id: 1, result: { content: [{ text: String(COUNT) }] } });

      // Another session's stream is served in full (50 events of 1000 B stay under the limit however
      // slowly they are read).
      const res = await rpc(srv.url, other, {
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'flood', arguments: { count: 50, size: 1000 } },
      });
      const all = await new SseReader(res).rest(30_000);
      expect(all.filter((e) => e.data.includes('notifications/message')).length).toBe(50);
      expect(JSON.parse(all[all.length - 1].data).result.content[0].text).toBe('50');

      const after = await settledRss(srv.proc.pid!, beforeMb + RSS_GROWTH_BOUND_MB);
      console.log(
        `[limits] RSS after the slow reader (${COUNT} x ${EVENT} B produced): ${after.toFixed(1)} MB (before it ${beforeMb.toFixed(1)} MB, baseline ${baselineMb.toFixed(1)} MB)`,
      );
      expect(after).toBeLessThanOrEqual(beforeMb + RSS_GROWTH_BOUND_MB);
    }, 120_000);
  });
});

describe('SSE backpressure within the limit', () => {
  let big: TestServer;
  beforeAll(async () => {
    big = await startServer({ args: ['--tools', 'test/fixtures/flood-tools.mjs'], env: { MCP_SSE_MAX_BUFFERED: '256mb', WORKERS: '1' } });
  });
  afterAll(async () => {
    await big?.stop();
  });

  it('queues behind a paused reader and, once it reads, delivers every event in order and ends the stream', async () => {
    const { sid } = await initialize(big.url);
    const COUNT = 2000;
    const sock = rawPost(
      big.port,
      sid,
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'flood', arguments: { count: COUNT, size: 16 * 1024 } },
      }),
    );
    const chunks: Buffer[] = [];
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', () => {});
    sock.pause();
    try {
      // Paused until the node has met backpressure many times: events wait in the stream's queue.
      const deadline = Date.now() + 30_000;
      await waitFor(async () => (await metricValue(big.base, 'mcp_sse_backpressure_total')) >= 100, 30_000, 'backpressure', 100).catch(
        () => undefined,
      );
      expect(await metricValue(big.base, 'mcp_sse_backpressure_total')).toBeGreaterThanOrEqual(100);
      sock.resume();
      // The chunked response ends with its zero-length chunk once everything queued went out.
      const tail = Buffer.from('\r\n0\r\n\r\n');
      while (Date.now() < deadline + 30_000) {
        const last = chunks[chunks.length - 1];
        if (last && Buffer.concat(chunks.slice(-2)).subarray(-tail.length).equals(tail)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const text = Buffer.concat(chunks).toString('latin1');
      const seqs = [...text.matchAll(/id: 1_(\d+)\n/g)].map((m) => Number(m[1]));
      // Priming event (1_0), COUNT notifications, then the result: every one, in order.
      expect(seqs).toEqual(Array.from({ length: COUNT + 2 }, (_, i) => i));
      expect(text).toContain(`"result":{"content":[{"type":"text","text":"${COUNT}"}]}`);
      expect(await metricValue(big.base, 'mcp_sse_dropped_total')).toBe(0);
    } finally {
      sock.destroy();
    }
  }, 90_000);
});

describe('MCP_MAX_SESSIONS', () => {
  let small: TestServer;
  beforeAll(async () => {
    small = await startServer({ env: { MCP_MAX_SESSIONS: '5', WORKERS: '1' } });
  });
  afterAll(async () => {
    await small?.stop();
  });

  it('answers the initialize beyond the cap 503 with Retry-After, counted; a DELETE makes room again', async () => {
    const sids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await initialize(small.url);
      expect(r.res.status).toBe(200);
      sids.push(r.sid);
    }
    const refused = await fetch(small.url, { method: 'POST', headers: POST_HEADERS, body: initBody(6, {}) });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(refused.headers.get('mcp-session-id')).toBeNull();
    expect(await refused.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
    expect(await metricValue(small.base, 'mcp_sessions_rejected_total', 'reason="max_sessions"')).toBe(1);
    // The sessions it has keep working.
    expect((await rpc(small.url, sids[0], { jsonrpc: '2.0', id: 1, method: 'ping' })).status).toBe(200);

    const del = await fetch(small.url, { method: 'DELETE', headers: { 'mcp-session-id': sids[0], 'mcp-protocol-version': '2025-11-25' } });
    expect(del.status).toBe(200);
    const again = await initialize(small.url);
    expect(again.res.status).toBe(200);
    expect(again.sid).toBeTruthy();
  });
});

describe('bodies that are costly to parse', () => {
  let node: TestServer;
  beforeAll(async () => {
    node = await startServer({ env: { WORKERS: '1' } });
  });
  afterAll(async () => {
    await node?.stop();
  });

  it('refuses deep nesting and huge object counts before parsing them (400, -32600), and serves on', async () => {
    const { sid } = await initialize(node.url);
    const half = 2 * 1024 * 1024 - 16;
    const shapes = {
      nested: '['.repeat(half) + ']'.repeat(half),
      objects: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"list":[${'{},'.repeat(200_000)}{}]}}}`,
    };
    for (const [name, body] of Object.entries(shapes)) {
      const res = await rpc(node.url, sid, body);
      expect(res.status, name).toBe(400);
      const err = (await res.json()).error;
      expect(err.code, name).toBe(-32600);
      expect(err.message, name).toMatch(/nests deeper|objects, arrays and members/);
    }
    // A large body of ordinary shape still goes through (one 1 MiB string).
    const big = await rpc(node.url, sid, { jsonrpc: '2.0', id: 2, method: 'ping', params: { _meta: { blob: 'x'.repeat(1024 * 1024) } } });
    expect(big.status).toBe(200);
    expect((await rpc(node.url, sid, { jsonrpc: '2.0', id: 3, method: 'ping' })).status).toBe(200);
  });
});
