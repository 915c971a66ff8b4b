/**
 * lib/report.ts: the four paths (2025 and modern tools/call, each against the ceiling and the SDK v2
 * reference) are per-round ratios with their spread, judged against their targets by the median, in
 * the JSON summary, the table and the Markdown; invalid modern bodies fail the body check.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContenderName, ScenarioName } from '../lib/options.js';
import { formatMarkdown, formatTable, summarize, type RoundRecord, type RunRecord } from '../lib/report.js';
import type { ToolsRun } from '../lib/scenarios.js';

function run(scenario: ScenarioName, contender: ContenderName, rps: number, wrkRps: number, failed = 0): RunRecord {
  const latencyMs = { p50: 1, p90: 1, p99: 2, mean: 1, max: 3, count: 100 } as unknown as ToolsRun['latencyMs'];
  const result = {
    rps,
    ok: 100,
    errors: 0,
    statusCodes: { 200: 100 },
    latencyMs,
    autocannonLatencyMs: { p50: 1, p99: 2, mean: 1 },
    bodies: { every: 64, checked: 10, failed, firstFailure: null },
    durationS: 1,
    serverCpuCores: 1,
    loadgenCpuCores: 1,
    otherCpuCores: 0,
    checkedAfter: true,
    wrk: {
      rps: wrkRps,
      requests: 100,
      errors: 0,
      bodies: { every: 64, checked: 10, failed: 0, firstFailure: null },
      latencyMs: { p50: 1, p90: 1, p99: 2, mean: 1, max: 3 },
      serverCpuCores: 1,
      serverMainCpuCores: 0.75,
      otherCpuCores: 0,
      wrkCpuCores: 1,
    },
  } satisfies ToolsRun;
  return { scenario, contender, ok: true, result, otherCpuBefore: 0 };
}

const CONTENDERS: ContenderName[] = ['ours', 'sdk-v2', 'sdk-v2-cluster', 'bare-uws'];

/** Three rounds; modern ours/bare-uws 0.9, 0.8, 0.95 (median 0.9: met, not every round); modern ours/sdk-v2-cluster 12x. */
function rounds(modernFailed = 0): RoundRecord[] {
  const share = [0.9, 0.8, 0.95];
  return share.map((s, i) => ({
    round: i + 1,
    order: CONTENDERS,
    runs: [
      run('tools', 'ours', 60_000, 70_000),
      run('tools', 'sdk-v2', 1_000, 1_000),
      run('tools', 'bare-uws', 100_000, 100_000),
      run('call-modern', 'ours', 100_000 * s, 100_000 * s, modernFailed),
      run('call-modern', 'sdk-v2-cluster', (100_000 * s) / 12, (100_000 * s) / 12),
      run('call-modern', 'bare-uws', 100_000, 100_000),
    ],
  }));
}

void test('four paths: per-round ratios with their spread, judged by the median, for both load generators', () => {
  const { paths } = summarize(rounds(), CONTENDERS);
  const find = (path: string, ratio: string, loadgen: string) =>
    paths.find((p) => p.path.startsWith(path) && p.ratio === ratio && p.loadgen === loadgen);
  assert.equal(paths.length, 8);
  const ceiling = find('modern', 'ours/bare-uws', 'wrk')!;
  assert.ok(Math.abs(ceiling.spread!.median - 0.9) < 1e-3 && Math.abs(ceiling.spread!.min - 0.8) < 1e-3);
  assert.equal(ceiling.met, true);
  assert.equal(ceiling.everyRound, false);
  const sdk = find('modern', 'ours/sdk-v2-cluster', 'autocannon')!;
  assert.ok(Math.abs(sdk.spread!.median - 12) < 0.05);
  assert.equal(sdk.met, true);
  assert.equal(sdk.everyRound, true);
  const old = find('2025', 'ours/bare-uws', 'autocannon')!;
  assert.ok(Math.abs(old.spread!.median - 0.6) < 1e-3);
  assert.equal(old.met, false);
  assert.equal(find('2025', 'ours/sdk-v2', 'wrk')!.met, true);
  const table = formatTable(summarize(rounds(), CONTENDERS), CONTENDERS);
  assert.match(
    table,
    /modern tools\/call \(no session\)\s+ours\/bare-uws\s+wrk\s+90% \[80%\.\.95%\]\s+>= 85%\s+met \(median; not every round\)/,
  );
  assert.match(table, /2025 tools\/call \(1 session\)\s+ours\/bare-uws\s+autocannon\s+60% \[60%\.\.60%\]\s+>= 85%\s+missed/);
  const md = formatMarkdown(summarize(rounds(), CONTENDERS), CONTENDERS, {
    file: 'throughput-x.json',
    commit: 'abc',
    dirty: true,
    startedAt: 'now',
    config: '3 rounds',
  });
  assert.match(
    md,
    /\| modern tools\/call \(no session\) \| ours\/sdk-v2-cluster \| wrk \| 12\.00x \[12\.00\.\.12\.00\] \| >= 10x \| met \(every round\) \|/,
  );
  assert.match(md, /\*\*dirty\*\*/);
  // Server CPU per answered request (1 core at 70,000 req/s under wrk: 14.29 µs) and the main thread's share.
  const perRequest = summarize(rounds(), CONTENDERS).metrics['tools.wrk.cpuPerRequest']?.perContender.ours;
  assert.ok(perRequest !== undefined && Math.abs(perRequest.median - 1e6 / 70_000) < 1e-6);
  assert.match(md, /\| tools\/call server CPU per request \(wrk\) \(µs\) \| ours \| 14\.29 \| 14\.29 \| 14\.29 \|/);
  assert.match(md, /\| modern tools\/call server main thread CPU \(wrk\) \(cores\) \| ours \| 0\.75 \|/);
});

void test('a path with a side missing is not measured, and an invalid modern body fails the body check', () => {
  const only = rounds(3).map((r) => ({ ...r, runs: r.runs.filter((x) => x.contender !== 'sdk-v2-cluster') }));
  const s = summarize(only, CONTENDERS);
  const missing = s.paths.filter((p) => p.ratio === 'ours/sdk-v2-cluster');
  assert.ok(missing.every((p) => p.spread === undefined && !p.met));
  assert.match(formatTable(s, CONTENDERS), /ours\/sdk-v2-cluster\s+wrk\s+-\s+>= 10x\s+not measured/);
  const bodies = s.targets.find((t) => t.name.startsWith('response bodies invalid'))!;
  assert.equal(bodies.value, 9);
  assert.equal(bodies.pass, false);
});
