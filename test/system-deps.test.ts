/** A fresh machine: `npm test` without the services it needs stops at once and names the command that installs them. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/server.js';

function run(path: string, env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('/bin/bash', [`${ROOT}test/system-deps.sh`], { env: { PATH: path, ...env } }, (err, _stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr });
    });
  });
}

describe('test/system-deps.sh', () => {
  it('with nothing installed and installing off: exits non-zero at once with the one apt-get command', async () => {
    // A PATH that has the shell's helpers but none of the services.
    const bin = mkdtempSync(join(tmpdir(), 'nodeps-'));
    try {
      for (const tool of ['id', 'sort', 'tr', 'cat', 'printf']) symlinkSync(`/usr/bin/${tool}`, join(bin, tool));
      const r = await run(bin, { MCP_TEST_NO_INSTALL: '1' });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('apt-get update && apt-get install -y --no-install-recommends haproxy prometheus redis-server');
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('with everything installed: exits 0 and installs nothing', async () => {
    const r = await run(process.env.PATH ?? '', { MCP_TEST_NO_INSTALL: '1' });
    expect(r).toEqual({ code: 0, stderr: '' });
  });
});
