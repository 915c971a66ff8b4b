/** Sessions live in one worker; tool errors and worker deaths stay contained. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initialize, rpc, startServer, type TestServer } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';

let srv: TestServer;

beforeAll(async () => {
  srv = await startServer({ args: ['--tools', 'test/fixtures/tools.mjs', '--workers', '2'] });
});
afterAll(async () => {
  await srv?.stop();
});

async function call(sid: string, name: string, args: Record<string, unknown> = {}, id = 1): Promise<Response> {
  return rpc(srv.url, sid, { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
}

async function threadOf(sid: string): Promise<number> {
  const res = await call(sid, 'whoami');
  expect(res.status).toBe(200);
  const body = await res.json();
  return JSON.parse(body.result.content[0].text).threadId;
}

describe('session workers', () => {
  it('keeps every session in one worker for its whole life and spreads sessions over workers', async () => {
    const sessions = await Promise.all(Array.from({ length: 8 }, () => initialize(srv.url).then((r) => r.sid)));
    const threads = new Map<string, number>();
    for (let round = 0; round < 4; round++) {
      for (const sid of sessions) {
        const t = await threadOf(sid);
        if (threads.has(sid)) expect(t).toBe(threads.get(sid));
        threads.set(sid, t);
      }
    }
    expect(new Set(threads.values()).size).toBe(2);
  });

  it('answers a throwing tool with isError and the session goes on', async () => {
    const { sid } = await initialize(srv.url);
    const res = await call(sid, 'boom');
    const body = await res.json();
    expect(body.result.isError).toBe(true);
    expect(body.result.content[0].text).toContain('kaboom');
    const ok = await call(sid, 'add', { a: 1, b: 2 }, 2);
    expect((await ok.json()).result.structuredContent).toEqual({ sum: 3 });
  });

  it('rejects invalid tool arguments as a tool error', async () => {
    const { sid } = await initialize(srv.url);
    const body = await (await call(sid, 'add', { a: 'x', b: 2 })).json();
    expect(body.result.isError).toBe(true);
    expect(body.result.content[0].text).toMatch(/Input validation error/);
  });

  it('cancels a running tool on notifications/cancelled', async () => {
    const { sid } = await initialize(srv.url);
    // The tool would wait a minute; only the cancellation can end it within the bound below.
    let settled = false;
    const pending = call(sid, 'wait', { ms: 60_000 }, 'w1' as unknown as number).finally(() => {
      settled = true;
    });
    // A cancellation that reaches the worker before the request is ignored: repeat it (bounded) until
    // the request ends, rather than guessing how long the request takes to start.
    await waitFor(
      async () => {
        if (settled) return true;
        const note = await rpc(srv.url, sid, {
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { requestId: 'w1', reason: 'user' },
        });
        expect(note.status).toBe(202);
        return settled;
      },
      20_000,
      'the cancelled call to be answered',
      50,
    );
    const body = await (await pending).json();
    expect(body.error.code).toBe(-32800);
  });

  it('a worker that dies takes only its own sessions (404 afterwards) and is replaced', async () => {
    // New sessions go to the least-loaded worker: create until both workers hold at least three.
    const byThread = new Map<number, string[]>();
    for (let i = 0; i < 200 && [...byThread.values()].filter((v) => v.length >= 3).length < 2; i++) {
      const { sid } = await initialize(srv.url);
      const t = await threadOf(sid);
      byThread.set(t, [...(byThread.get(t) ?? []), sid]);
    }
    expect(byThread.size).toBe(2);
    const [deadThread, victims] = [...byThread.entries()][0];
    const [survivorThread, survivors] = [...byThread.entries()][1];
    const crash = await call(victims[0], 'crash');
    expect(crash.status).toBe(404);
    await srv.waitForLog((l) => l.msg === 'session worker died; its sessions are gone');
    for (const sid of victims) {
      const res = await call(sid, 'whoami');
      expect(res.status).toBe(404);
      expect((await res.json()).error.code).toBe(-32001);
    }
    for (const sid of survivors) expect(await threadOf(sid)).not.toBe(deadThread);
    // The replacement worker comes up, then (the least loaded) serves new sessions in a new thread.
    for (let i = 0; i < 100; i++) {
      if ((await (await fetch(`${srv.base}/readyz`)).json()).workers === 2) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const { sid: fresh } = await initialize(srv.url);
    const replacement = await threadOf(fresh);
    expect(replacement).not.toBe(deadThread);
    expect(replacement).not.toBe(survivorThread);
    const ready = await (await fetch(`${srv.base}/readyz`)).json();
    expect(ready.workers).toBe(2);
  });
});
