/** In-process: loadConfig(argv, env) — flags over environment over defaults, and validation that names the option. */
import { describe, expect, it } from 'vitest';
import { DEFAULTS, loadConfig, usage } from '../../src/config.js';

function fails(argv: string[], env: Record<string, string> = {}): { code?: string; message: string } {
  try {
    loadConfig(argv, env);
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error(`loadConfig(${JSON.stringify(argv)}, ${JSON.stringify(env)}) did not fail`);
}

describe('loadConfig', () => {
  it('gives the frozen defaults with no flags and no environment', () => {
    const c = loadConfig([], {});
    expect(c).toEqual(DEFAULTS);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('takes flags over environment variables, in both flag spellings', () => {
    expect(loadConfig(['--port', '3001'], { PORT: '4000' }).port).toBe(3001);
    expect(loadConfig(['--port=3002'], { PORT: '4000' }).port).toBe(3002);
    expect(loadConfig([], { PORT: '4000' }).port).toBe(4000);
    expect(loadConfig(['--metrics'], {}).metrics).toBe(true);
  });

  it('parses sizes, booleans and lists', () => {
    expect(loadConfig(['--max-body', '512kb'], {}).maxBody).toBe(512 * 1024);
    expect(loadConfig([], { MAX_BODY: '4mb' }).maxBody).toBe(4 * 1024 * 1024);
    expect(loadConfig([], { MCP_FORWARD: 'off' }).forward).toBe(false);
    expect(loadConfig([], { MCP_ALLOWED_HOSTS: 'a.example, b.example,,' }).allowedHosts).toEqual(['a.example', 'b.example']);
  });

  it('names the bad option, with a stable code', () => {
    for (const [argv, env, name] of [
      [['--port', 'abc'], {}, '--port'],
      [['--port', '70000'], {}, '--port'],
      [[], { WORKERS: '0' }, 'WORKERS'],
      [['--max-body', 'lots'], {}, '--max-body'],
      [['--no-such-flag', '1'], {}, '--no-such-flag'],
      [['stray'], {}, 'stray'],
      [[], { MCP_METRICS: 'maybe' }, 'MCP_METRICS'],
      [[], { LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
      [[], { REDIS_URL: 'ftp://nowhere' }, 'REDIS_URL'],
    ] as Array<[string[], Record<string, string>, string]>) {
      const err = fails(argv, env);
      expect(err.message, name).toContain(name);
      expect(err.code).toMatch(/^MCP_ERR_/);
    }
  });

  it('refuses a short cluster secret without echoing it', () => {
    const err = fails([], { MCP_CLUSTER_SECRET: 'short-secret' });
    expect(err.message).toContain('MCP_CLUSTER_SECRET');
    expect(err.message).not.toContain('short-secret');
  });

  it('lists every option in --help', () => {
    const text = usage();
    for (const name of ['PORT', 'WORKERS', 'MAX_BODY', 'REDIS_URL', 'MCP_DRAIN_WINDOW_MS']) expect(text).toContain(name);
    // A default whose value alone would mislead says what it means.
    expect(text).toMatch(/--rate-burst\s+MCP_RATE_BURST\s+default: 0 \(0: twice the rate\)/);
    expect(text).toMatch(/--test-faults\s+MCP_TEST_FAULTS\s+default: false \(tests only/);
  });
});
