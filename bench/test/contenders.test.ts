/**
 * The call-modern contenders start and answer: sdk-v2-cluster (the SDK v2 stateless handler on
 * node:cluster) listens once its workers do, answers a 2026-07-28 echo as the scenario checks it,
 * counts its workers' CPU, and leaves no process behind when stopped; bare-uws answers the modern
 * echo with the captured bytes it is given; each contender takes part in the scenarios of its era.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { contenderSpec, startContender } from '../lib/contenders.js';
import { captureExchange, exchangeDifferences, PROBE_ID, PROBE_TEXT, type Exchange, type RawAnswer } from '../lib/exchange.js';
import { keepAliveAgent, parseTarget } from '../lib/mcp-client.js';
import { CONTENDERS } from '../lib/options.js';
import { processTree, treeCpuSeconds } from '../lib/processes.js';
import { ROOT } from '../lib/product.js';
import { checkModernEcho } from '../lib/scenarios.js';

const scratch = mkdtempSync(join(tmpdir(), 'bench-contenders-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls (bounded) until every pid has exited. */
async function allGone(pids: readonly number[], timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(alive)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

void test('sdk-v2-cluster: listens once its workers do, answers a 2026-07-28 echo, counts its workers, stops them all', async () => {
  const server = await startContender(contenderSpec('sdk-v2-cluster', null, ROOT, '', 2));
  const tree = processTree(server.pid);
  const agent = keepAliveAgent(4);
  try {
    assert.equal(tree.length, 3, `primary and 2 workers, got ${tree.join(', ')}`);
    const target = parseTarget(server.url);
    // Several connections at once: node:cluster hands them to both workers in turn.
    await Promise.all(Array.from({ length: 8 }, (_, i) => checkModernEcho(agent, target, `text ${i}`, i)));
    assert.ok(treeCpuSeconds(server.pid) > 0);
    await assert.rejects(checkModernEcho(agent, { ...target, path: '/other' }, 'x'), /modern echo check failed/);
  } finally {
    agent.destroy();
    await server.stop();
  }
  assert.ok(await allGone(tree), `still running after stop: ${tree.filter(alive).join(', ')}`);
});

function answer(body: string, sid: string | null): RawAnswer {
  const headers: Array<[string, string]> = [['content-type', 'application/json']];
  if (sid !== null) headers.push(['mcp-session-id', sid]);
  headers.push(['Date', 'Sun, 29 Nov 2026 10:10:18 GMT'], ['uWebSockets', '20'], ['Content-Length', String(Buffer.byteLength(body))]);
  return { statusLine: 'HTTP/1.1 200 OK', headers, body };
}

void test('bare-uws: answers the 2026-07-28 echo with the captured bytes, the id and text of each request spliced in', async () => {
  const id = JSON.stringify(PROBE_ID);
  const text = JSON.stringify(PROBE_TEXT);
  const reference: Exchange = {
    init: answer(`{"jsonrpc":"2.0","id":${id},"result":{"protocolVersion":"2025-11-25"}}`, 'abcdefghijkl'),
    tools: answer(`{"jsonrpc":"2.0","id":${id},"result":{"content":[{"type":"text","text":${text}}]}}`, null),
    modern: answer(`{"jsonrpc":"2.0","id":${id},"result":{"content":[{"type":"text","text":${text}}],"resultType":"complete"}}`, null),
  };
  const file = join(scratch, 'answers.json');
  writeFileSync(file, JSON.stringify(reference));
  const server = await startContender(contenderSpec('bare-uws', null, ROOT, file));
  const agent = keepAliveAgent();
  try {
    assert.deepEqual(exchangeDifferences(reference, await captureExchange(server.url)), []);
    await checkModernEcho(agent, parseTarget(server.url), 'another text', 42);
  } finally {
    agent.destroy();
    await server.stop();
  }
});

void test('each contender takes part in the scenarios of its era, and says why it skips the others', () => {
  const skips = (name: (typeof CONTENDERS)[number]): string[] => Object.keys(contenderSpec(name, 1, ROOT, 'ref').skips ?? {}).sort();
  assert.deepEqual(skips('sdk-v2-cluster'), ['init', 'rss', 'tools']);
  assert.deepEqual(skips('sdk-v1'), ['call-modern']);
  assert.deepEqual(skips('sdk-v2'), ['call-modern']);
  assert.deepEqual(skips('bare-uws'), ['rss']);
  assert.deepEqual(skips('ours'), []);
  assert.deepEqual(skips('ours-auth'), []);
  assert.deepEqual(contenderSpec('sdk-v2-cluster', 1, ROOT, 'ref', 3).args.slice(-2), ['--workers', '3']);
  assert.ok(!contenderSpec('sdk-v2-cluster', 1, ROOT, 'ref').args.includes('--workers'));
  assert.ok(!contenderSpec('ours', null, ROOT, 'ref').args.includes('--workers'));
});
