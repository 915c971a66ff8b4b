/** Issue 4, point 4 (single node part): SIGTERM drains: readiness fails, no new sessions, streams closed with retry, spread over the window. */
import { describe, expect, it } from 'vitest';
import { initialize, POST_HEADERS, startServer } from './helpers/server.js';
import { SseReader } from './helpers/sse.js';

async function openStreams(url: string, n: number): Promise<SseReader[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const { sid } = await initialize(url);
      const res = await fetch(url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' } });
      const r = new SseReader(res);
      await r.next();
      return r;
    }),
  );
}

async function closeTimes(readers: SseReader[], t0: number): Promise<Array<{ at: number; retry: number | undefined }>> {
  return Promise.all(
    readers.map(async (r) => {
      const events = await r.rest(8000);
      return { at: Date.now() - t0, retry: events.find((e) => e.retry !== undefined)?.retry };
    }),
  );
}

describe('drain on SIGTERM', () => {
  it('fails /readyz at once, refuses new sessions, and closes streams with retry spread over the window', async () => {
    const srv = await startServer({ env: { MCP_DRAIN_WINDOW_MS: '1500', MCP_SSE_RETRY_MS: '700' } });
    const readers = await openStreams(srv.url, 12);
    const t0 = Date.now();
    const exit = srv.stop('SIGTERM');
    await srv.waitForLog((l) => l.msg === 'draining');
    const ready = await fetch(`${srv.base}/readyz`);
    expect(ready.status).toBe(503);
    expect((await ready.json()).status).toBe('draining');
    const init = await fetch(srv.url, {
      method: 'POST',
      headers: POST_HEADERS,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
    });
    expect(init.status).toBe(503);
    const closed = await closeTimes(readers, t0);
    expect(closed.every((c) => c.retry === 700)).toBe(true);
    const times = closed.map((c) => c.at).sort((a, b) => a - b);
    // Spread: not all at once, and all within the window (plus slack).
    expect(times.at(-1)! - times[0]).toBeGreaterThan(300);
    expect(times.at(-1)!).toBeLessThan(4000);
    expect(await exit).toBe(0);
    expect(srv.logs.some((l) => l.msg === 'stopped')).toBe(true);
  });

  it('closes every stream at once with jitter off', async () => {
    const srv = await startServer({ env: { MCP_DRAIN_WINDOW_MS: '1500', MCP_DRAIN_JITTER: '0' } });
    const readers = await openStreams(srv.url, 8);
    const t0 = Date.now();
    const exit = srv.stop('SIGTERM');
    const closed = await closeTimes(readers, t0);
    const times = closed.map((c) => c.at).sort((a, b) => a - b);
    expect(times.at(-1)! - times[0]).toBeLessThan(300);
    expect(await exit).toBe(0);
  });
});
