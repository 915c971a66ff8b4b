/** Configuration errors, fallback refusal, structured logs. */
import { describe, expect, it } from 'vitest';
import { runServer, startServer } from './helpers/server.js';

describe('configuration', () => {
  it('exits with code 2 and names the bad option', async () => {
    const r = await runServer(['--port', 'abc']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stderr.trim()).msg).toContain('--port');
    const e = await runServer([], { WORKERS: '0', PORT: '0' });
    expect(e.code).toBe(2);
    expect(e.stderr).toContain('WORKERS');
    const m = await runServer(['--max-body', 'lots', '--port', '0']);
    expect(m.code).toBe(2);
    expect(m.stderr).toContain('--max-body');
    const r2 = await runServer(['--port', '0'], { REDIS_URL: 'ftp://nowhere' });
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('REDIS_URL');
    const u = await runServer(['--no-such-flag', '1']);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain('--no-such-flag');
  });

  it('prints every option with --help', async () => {
    const r = await runServer(['--help']);
    expect(r.code).toBe(0);
    for (const name of ['PORT', 'HOST', 'WORKERS', 'MCP_TOOLS', 'MAX_BODY', 'NODE_ID', 'REDIS_URL']) expect(r.stdout).toContain(name);
  });

  it('refuses to start on the uWebSockets.js pure-JS fallback', async () => {
    const r = await runServer(['--port', '0'], { UWS_USE_FALLBACK: '1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('MCP_ERR_UWS_FALLBACK');
  });

  it('fails clearly on a tools module that does not load', async () => {
    const r = await runServer(['--port', '0', '--tools', 'test/fixtures/missing.mjs']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('MCP_ERR_TOOLS_MODULE');
  });

  it('takes NODE_ID and WORKERS from the environment and logs JSON lines', async () => {
    const srv = await startServer({ env: { NODE_ID: 'node-under-test', WORKERS: '3' } });
    try {
      const health = await (await fetch(`${srv.base}/healthz`)).json();
      expect(health.node).toBe('node-under-test');
      const ready = await (await fetch(`${srv.base}/readyz`)).json();
      expect(ready.workers).toBe(3);
      const listening = srv.logs.find((l) => l.msg === 'listening')!;
      expect(listening.node).toBe('node-under-test');
      expect(typeof listening.time).toBe('string');
    } finally {
      await srv.stop();
    }
  });
});
