/**
 * Tool faults stay inside their request (or, at worst, their worker). Real nodes
 * (WORKERS=2) run test/fixtures/faulty-tools.mjs; every check goes through HTTP, the registry check
 * through a real redis-server.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initialize, metricValue, POST_HEADERS, rpc, runServer, startServer, type LogLine, type TestServer } from './helpers/server.js';
import { startRedis, stopAllRedis, type RedisServer } from './helpers/redis.js';
import { waitFor } from './helpers/wait.js';

const TOOLS = 'test/fixtures/faulty-tools.mjs';

function call(srv: TestServer, sid: string, name: string, args: Record<string, unknown> = {}, id: number | string = 1): Promise<Response> {
  return rpc(srv.url, sid, { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
}

async function threadOf(srv: TestServer, sid: string): Promise<number> {
  const res = await call(srv, sid, 'whoami');
  expect(res.status).toBe(200);
  return JSON.parse((await res.json()).result.content[0].text).threadId;
}

/** Opens sessions until each of the two workers holds `per` of them; returns them by thread. */
async function sessionsByThread(srv: TestServer, per: number): Promise<Map<number, string[]>> {
  const by = new Map<number, string[]>();
  for (let i = 0; i < per * 6 && (by.size < 2 || [...by.values()].some((v) => v.length < per)); i++) {
    const { sid } = await initialize(srv.url);
    const t = await threadOf(srv, sid);
    by.set(t, [...(by.get(t) ?? []), sid]);
  }
  expect(by.size).toBe(2);
  for (const v of by.values()) expect(v.length).toBeGreaterThanOrEqual(per);
  return by;
}

async function readyz(srv: TestServer): Promise<{ status: number; body: any }> {
  const res = await fetch(`${srv.base}/readyz`);
  return { status: res.status, body: await res.json() };
}

describe('faults contained in their request', () => {
  let srv: TestServer;
  let thread: number;
  let a: string;
  let b: string;
  let other: string;

  beforeAll(async () => {
    srv = await startServer({ env: { MCP_TOOLS: TOOLS, WORKERS: '2' } });
    const [[t, mine], [, others]] = [...(await sessionsByThread(srv, 2)).entries()];
    thread = t;
    [a, b] = mine;
    other = others[0];
  });
  afterAll(async () => {
    await srv?.stop();
  });

  /** Both sessions of the faulting worker and one on the other worker still answer, same threads. */
  async function othersFine(): Promise<void> {
    expect(await threadOf(srv, a)).toBe(thread);
    expect(await threadOf(srv, b)).toBe(thread);
    expect(await threadOf(srv, other)).not.toBe(thread);
  }

  it('answers a result JSON cannot encode (BigInt, cycle, throwing toJSON) with -32603 for that request only', async () => {
    for (const [tool, why] of [
      ['bigint', /BigInt/],
      ['cycle', /circular/i],
      ['badjson', /toJSON refuses/],
    ] as const) {
      const res = await call(srv, a, tool, {}, `req-${tool}`);
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body.id).toBe(`req-${tool}`);
      expect(body.error.code).toBe(-32603);
      expect(body.error.message).toMatch(/^Result could not be serialized: /);
      expect(body.error.message).toMatch(why);
      await othersFine();
    }
    await waitFor(
      async () => (await metricValue(srv.base, 'mcp_worker_errors_total', 'kind="unserializable"')) >= 3,
      10_000,
      'unserializable counted',
    );
  });

  it('rejects a notification JSON cannot encode; the tool and its session go on', async () => {
    const body = await (await call(srv, a, 'badnotify')).json();
    expect(body.result.content[0].text).toBe('rejected: MCP_ERR_UNSERIALIZABLE');
    await othersFine();
  });

  it('counts a throwing timer and an unhandled rejection; the worker and its sessions go on', async () => {
    const before = await metricValue(srv.base, 'mcp_worker_errors_total', 'kind="uncaught_exception"');
    const beforeRej = await metricValue(srv.base, 'mcp_worker_errors_total', 'kind="unhandled_rejection"');
    expect((await (await call(srv, a, 'throwtimer')).json()).result.content[0].text).toBe('scheduled');
    expect((await (await call(srv, a, 'rejectlater')).json()).result.content[0].text).toBe('left');
    await waitFor(
      async () => (await metricValue(srv.base, 'mcp_worker_errors_total', 'kind="uncaught_exception"')) === before + 1,
      10_000,
      'uncaught exception counted',
    );
    await waitFor(
      async () => (await metricValue(srv.base, 'mcp_worker_errors_total', 'kind="unhandled_rejection"')) === beforeRej + 1,
      10_000,
      'unhandled rejection counted',
    );
    await srv.waitForLog((l) => l.msg === 'uncaught exception in session worker (contained)' && String(l.err).includes('timer boom'));
    await srv.waitForLog(
      (l) => l.msg === 'unhandled rejection in session worker (contained)' && String(l.err).includes('nobody awaits me'),
    );
    await othersFine();
    expect((await readyz(srv)).body.workerRestarts).toEqual([]);
  });

  it('survives 1,000 throwing timers: every call of the other sessions succeeds, logs stay bounded', async () => {
    const before = await metricValue(srv.base, 'mcp_worker_errors_total', 'kind="uncaught_exception"');
    const logged = (): number => srv.logs.filter((l) => l.msg === 'uncaught exception in session worker (contained)').length;
    const loggedBefore = logged();
    expect((await (await call(srv, a, 'manythrows', { n: 1000 })).json()).result.content[0].text).toBe('scheduled');
    const calls = await Promise.all(Array.from({ length: 50 }, (_, i) => threadOf(srv, [a, b, other][i % 3])));
    expect(calls.filter((t) => t === thread).length).toBe(34);
    await waitFor(
      async () => (await metricValue(srv.base, 'mcp_worker_errors_total', 'kind="uncaught_exception"')) === before + 1000,
      10_000,
      '1000 exceptions counted',
    );
    await othersFine();
    // At most 10 lines a second are written (the rest counted as `suppressed`).
    expect(logged() - loggedBefore).toBeLessThan(100);
    expect((await readyz(srv)).body.workerRestarts).toEqual([]);
  });

  it('answers a handler that never settles after its tool timeout, aborting extra.signal', async () => {
    const res = await call(srv, a, 'hang', {}, 'h1');
    const body = await res.json();
    expect(body).toMatchObject({ id: 'h1', error: { code: -32603, message: 'Handler timed out after 300 ms', data: { timeoutMs: 300 } } });
    const aborts = JSON.parse((await (await call(srv, a, 'aborts')).json()).result.content[0].text);
    expect(aborts).toContainEqual({ requestId: 'h1', code: 'MCP_ERR_HANDLER_TIMEOUT', message: 'Handler timed out after 300 ms' });
    // A result that comes after the timeout is dropped: the answer is the timeout error.
    const late = await (await call(srv, a, 'late', {}, 'l1')).json();
    expect(late).toMatchObject({ id: 'l1', error: { code: -32603, message: 'Handler timed out after 200 ms' } });
    await waitFor(
      async () => (await metricValue(srv.base, 'mcp_worker_errors_total', 'kind="handler_timeout"')) >= 2,
      10_000,
      'timeouts counted',
    );
    await othersFine();
  });
});

/** A 2026-07-28 tools/call (no session), as an SDK v2 client pinned to that revision sends it. */
function modernCall(srv: TestServer, name: string, id: string): Promise<Response> {
  const _meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientInfo': { name: 'faults-test', version: '1' },
    'io.modelcontextprotocol/clientCapabilities': {},
  };
  return fetch(srv.url, {
    method: 'POST',
    headers: { ...POST_HEADERS, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {}, _meta } }),
  });
}

describe('handler timeouts on the 2026-07-28 path', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({ env: { MCP_TOOLS: TOOLS, WORKERS: '2' } });
  });
  afterAll(async () => {
    await srv?.stop();
  });

  it('answers a stateless call that never settles after its tool timeout, and a late result is dropped', async () => {
    const before = await metricValue(srv.base, 'mcp_worker_errors_total', 'kind="handler_timeout"');
    const hang = await modernCall(srv, 'hang', 'mh1');
    expect(hang.status).toBe(200);
    expect(await hang.json()).toMatchObject({
      id: 'mh1',
      error: { code: -32603, message: 'Handler timed out after 300 ms', data: { timeoutMs: 300 } },
    });
    const late = await modernCall(srv, 'late', 'ml1');
    expect(await late.json()).toMatchObject({ id: 'ml1', error: { code: -32603, message: 'Handler timed out after 200 ms' } });
    // A call that answers at once still does, on the same workers.
    const ok = await (await modernCall(srv, 'whoami', 'mw1')).json();
    expect(ok).toMatchObject({ id: 'mw1', result: { resultType: 'complete' } });
    // Counted as the 2025 path's timeouts are.
    await waitFor(
      async () => (await metricValue(srv.base, 'mcp_worker_errors_total', 'kind="handler_timeout"')) >= before + 2,
      10_000,
      'the stateless timeouts counted',
    );
  });
});

describe('node-wide handler timeout', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({ env: { MCP_TOOLS: TOOLS, WORKERS: '2', MCP_HANDLER_TIMEOUT_MS: '500', MCP_SESSION_IDLE_MS: '1000' } });
  });
  afterAll(async () => {
    await srv?.stop();
  });

  it('answers after MCP_HANDLER_TIMEOUT_MS and leaves nothing in flight (the idle session then expires)', async () => {
    const { sid } = await initialize(srv.url);
    const body = await (await call(srv, sid, 'hangglobal', {}, 7)).json();
    expect(body).toMatchObject({ id: 7, error: { code: -32603, message: 'Handler timed out after 500 ms' } });
    // A session with a request in flight never counts as idle; this one does, so it expires.
    await waitFor(async () => (await readyz(srv)).body.sessions === 0, 15_000, 'the session to expire');
    expect((await call(srv, sid, 'whoami')).status).toBe(404);
  });
});

describe('stalled worker (watchdog)', () => {
  let srv: TestServer;
  let redis: RedisServer;
  let client: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
    // 2 s rather than less: a healthy worker on a busy 2-core machine must never look stalled.
    srv = await startServer({
      env: { MCP_TOOLS: TOOLS, WORKERS: '2', MCP_WORKER_STALL_MS: '2000', REDIS_URL: redis.url, NODE_ID: 'stall' },
    });
  });
  afterAll(async () => {
    await srv?.stop();
    client?.disconnect();
    await stopAllRedis();
  });

  it('takes a worker in a CPU loop out of placement, replaces it, ends only its sessions and their registry keys', async () => {
    const by = await sessionsByThread(srv, 3);
    const [[stuckThread, victims], [healthyThread, survivors]] = [...by.entries()];
    const keys = (sids: string[]): string[] => sids.map((s) => `mcp:session:${s}`);
    await waitFor(
      async () => (await client.exists(...keys([...victims, ...survivors]))) === victims.length + survivors.length,
      10_000,
      'registry keys written',
    );

    const spin = call(srv, victims[0], 'spin');
    // The other worker serves throughout; keep calling it until the stuck worker is replaced.
    let replaced = false;
    let survivorCalls = 0;
    const background = (async () => {
      while (!replaced) {
        for (const sid of survivors) expect(await threadOf(srv, sid)).toBe(healthyThread);
        survivorCalls += survivors.length;
      }
    })();

    const stalled = await srv.waitForLog((l) => l.msg === 'session worker stalled; no new sessions go to it', 15_000);
    expect(stalled.sessions).toBe(victims.length);
    const during = await readyz(srv);
    // Readiness holds while the other worker takes sessions; the body names the stalled one.
    expect(during.status).toBe(200);
    expect(during.body.stalledWorkers).toEqual([stalled.slot]);
    // New sessions land on the healthy worker meanwhile.
    const fresh: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { sid, res } = await initialize(srv.url);
      expect(res.status).toBe(200);
      expect(await threadOf(srv, sid)).toBe(healthyThread);
      fresh.push(sid);
    }

    const replacing = await srv.waitForLog((l) => l.msg === 'session worker stalled past MCP_WORKER_STALL_MS; replacing it', 15_000);
    expect(replacing).toMatchObject({ level: 'error', slot: stalled.slot, sessions: victims.length, stallMs: 2000 });
    const died = await srv.waitForLog((l) => l.msg === 'session worker died; its sessions are gone' && l.reason === 'stall', 15_000);
    expect(died).toMatchObject({ slot: stalled.slot, sessions: victims.length });
    replaced = true;
    await background;
    expect(survivorCalls).toBeGreaterThan(0);

    // The spinning request and every session of the replaced worker: 404, so clients re-initialize.
    expect((await spin).status).toBe(404);
    for (const sid of victims) {
      const res = await call(srv, sid, 'whoami');
      expect(res.status).toBe(404);
      expect((await res.json()).error.code).toBe(-32001);
    }
    for (const sid of [...survivors, ...fresh]) expect(await threadOf(srv, sid)).toBe(healthyThread);
    await waitFor(async () => (await client.exists(...keys(victims))) === 0, 10_000, "the replaced worker's sessions' keys removed");
    expect(await client.exists(...keys([...survivors, ...fresh]))).toBe(survivors.length + fresh.length);

    expect(await metricValue(srv.base, 'mcp_worker_stalls_total')).toBe(1);
    expect(await metricValue(srv.base, 'mcp_worker_restarts_total', 'reason="stall"')).toBe(1);
    expect(await metricValue(srv.base, 'mcp_sessions_closed_total', 'reason="worker_died"')).toBe(victims.length);

    // The replacement comes up and serves new sessions (the least loaded worker takes them).
    await waitFor(async () => (await readyz(srv)).body.workers === 2, 15_000, 'the replacement worker');
    const after = await readyz(srv);
    expect(after.status).toBe(200);
    expect(after.body.stalledWorkers).toEqual([]);
    expect(after.body.workerRestarts).toEqual([expect.objectContaining({ slot: stalled.slot, reason: 'stall', sessions: victims.length })]);
    const { sid: next } = await initialize(srv.url);
    const nextThread = await threadOf(srv, next);
    expect(nextThread).not.toBe(stuckThread);
    expect(nextThread).not.toBe(healthyThread);
  });
});

describe('worker heap cap', () => {
  let srv: TestServer;
  beforeAll(async () => {
    // The synchronous bomb blocks its worker while it allocates: the watchdog stays out of this test.
    srv = await startServer({ env: { MCP_TOOLS: TOOLS, WORKERS: '2', MCP_WORKER_MAX_HEAP_MB: '64', MCP_WORKER_STALL_MS: '120000' } });
  });
  afterAll(async () => {
    await srv?.stop();
  });

  // V8's limit ends the worker with ERR_WORKER_OUT_OF_MEMORY; the worker's own check ends it with exit(1).
  const cases = [
    ['heapbomb', 'in one synchronous loop (V8 limit)', /reaching memory limit/],
    ['leak', 'across event-loop turns (live-heap check)', /exited with code: 1/],
  ] as const;
  for (const [tool, how, ended] of cases) {
    it(`a worker that exhausts its heap ${how} costs only its own sessions; the node serves on`, async () => {
      const restartsBefore = await metricValue(srv.base, 'mcp_worker_restarts_total', 'reason="heap_limit"');
      const deaths = (): LogLine[] =>
        srv.logs.filter((l) => l.msg === 'session worker died; its sessions are gone' && l.reason === 'heap_limit');
      const deathsBefore = deaths().length;
      await waitFor(async () => (await readyz(srv)).body.workers === 2, 15_000, 'both workers up');
      const by = await sessionsByThread(srv, 2);
      const [[deadThread, victims], [liveThread, survivors]] = [...by.entries()];
      const bomb = call(srv, victims[0], tool);
      await waitFor(() => deaths().length > deathsBefore, 30_000, 'the worker to be replaced');
      const died = deaths()[deathsBefore];
      expect(died.sessions).toBeGreaterThanOrEqual(victims.length);
      expect(died.err).toMatch(ended);
      expect((await bomb).status).toBe(404);
      for (const sid of victims) expect((await call(srv, sid, 'whoami')).status).toBe(404);
      for (const sid of survivors) expect(await threadOf(srv, sid)).toBe(liveThread);
      expect(srv.proc.exitCode).toBeNull();
      expect((await fetch(`${srv.base}/healthz`)).status).toBe(200);
      expect(await metricValue(srv.base, 'mcp_worker_restarts_total', 'reason="heap_limit"')).toBe(restartsBefore + 1);
      await waitFor(async () => (await readyz(srv)).body.workers === 2, 15_000, 'the replacement worker');
      const { sid } = await initialize(srv.url);
      const t = await threadOf(srv, sid);
      expect(t).not.toBe(deadThread);
    });
  }
});

describe('fault limit settings', () => {
  it('refuses limits that cannot work, naming the option', async () => {
    for (const [name, value, expected] of [
      ['MCP_WORKER_MAX_HEAP_MB', '8', /0 \(no cap\) or at least 16/],
      ['MCP_HANDLER_TIMEOUT_MS', '0', /an integer >= 1/],
      ['MCP_WORKER_STALL_MS', '10', /an integer >= 100/],
    ] as const) {
      const r = await runServer(['--port', '0'], { [name]: value });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(name);
      expect(r.stderr).toMatch(expected);
    }
  });
});
