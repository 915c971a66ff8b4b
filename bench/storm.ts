/**
 * Reconnection-storm benchmarks on a real local cluster (redis-server, N nodes, HAProxy with the
 * sticky cookie), driven by this process's own load generator: N well-behaved MCP clients, each
 * initializing through the load balancer, holding a GET SSE stream and calling a tool about once a
 * second (autocannon cannot hold streams or cookies).
 *
 *   kill          SIGKILL one node; its clients notice, get 404, re-initialize elsewhere
 *   rolling       SIGTERM + restart every node in turn (drain); run with drain jitter on, then off
 *   deploy-storm  every client drops its session and re-initializes at the same moment
 *   steady        no event: --warmup seconds of steady load (relayed share, calls/s, CPU per call)
 *
 *   npm run bench:storm -- --clients 3000 --scenario kill --out bench/results
 *   npm run bench:storm -- --clients 200 --scenario all          (a quick look)
 *   npm run bench:storm -- --era modern --clients 3000   (kill with 2026-07-28 clients: listen streams, stateless calls)
 *   npm run bench:storm -- --help
 *
 * Each scenario writes <out>/storm-<scenario>-<time>/{report.md,result.json,*.svg}; progress goes to
 * stderr once a second, a summary to stdout at the end. Exit code 0 when every run completed (met or
 * missed targets alike: they are in the report), 1 when a run failed, 2 on bad flags. Results carry the
 * commit measured; a working tree that differs from it is refused unless --allow-dirty (then flagged).
 */
import { resolve } from 'node:path';
import { reportUsage } from './lib/args.js';
import { describeProvenance, errorText, provenance, requireClean } from './lib/provenance.js';
import { loadClusterCode } from './lib/storm-cluster.js';
import { parseStormArgs, type StormOptions, type StormScenario } from './lib/storm-options.js';
import { writeScenario, type RunOutput, type Written } from './lib/storm-report.js';
import { abortRuns, runStorm, type RunPlan } from './lib/storm-run.js';
import { buildSeries, summarize } from './lib/storm-summary.js';
import { writeModernScenario } from './lib/storm-modern-report.js';
import { abortModernRuns, runModernStorm } from './lib/storm-modern-run.js';
import { summarizeModern, type ModernSummary } from './lib/storm-modern-summary.js';

const TITLES: Record<StormScenario, string> = {
  kill: 'SIGKILL one node',
  rolling: 'rolling restart of every node (SIGTERM, drain)',
  'deploy-storm': 'every client re-initializes at once',
  steady: 'steady load, no event',
};

function plansOf(o: StormOptions, scenario: StormScenario): RunPlan[] {
  if (scenario !== 'rolling') return [{ name: scenario, scenario, drainJitter: o.drainJitter }];
  if (!o.compareJitter) return [{ name: `rolling-jitter-${o.drainJitter ? 'on' : 'off'}`, scenario, drainJitter: o.drainJitter }];
  return [
    { name: 'jitter-on', scenario, drainJitter: true },
    { name: 'jitter-off', scenario, drainJitter: false },
  ];
}

function headline(s: RunOutput['summary']): string {
  const r = s.recovery;
  const q = (x: number): string => (Number.isFinite(x) ? `${Math.round(x)}` : 'n/a');
  const lines = [
    `${s.name}: ${r.affected} affected clients, ${r.unrecovered} not recovered; recovery ms after notice p50/p95/p99/max ${q(r.fromNotice.p50)}/${q(r.fromNotice.p95)}/${q(r.fromNotice.p99)}/${q(r.fromNotice.max)}, after event p99/max ${q(r.fromEvent.p99)}/${q(r.fromEvent.max)}`,
    `  relayed share steady ${(s.relay.steady.share * 100).toFixed(2)}% (${s.relay.steady.forwarded}/${s.relay.steady.requests}), event window ${(s.relay.event.share * 100).toFixed(2)}%; steady ${q(s.throughput.callsPerS)} calls/s, ${s.throughput.cpuMsPerCall.toFixed(3)} ms CPU per call; bystanders disturbed ${s.bystanders.disturbed} of ${s.bystanders.clients}`,
    `  errors other than 404: ${s.errors.unexpected} (affected ${s.errors.affected}, others ${s.errors.unaffected}); tool calls ${s.calls.started} started, ${s.calls.ok} ok, ${s.calls.lost} lost, ${s.calls.inFlightAtStop} in flight at the end, ${s.calls.retried} retried`,
    `  peak initialize rate per node: ${Object.entries(s.initRate.peakByNode)
      .map(([n, v]) => `${n} ${q(v)}/s`)
      .join(', ')}; Redis cmds/s steady ${q(s.redis.steadyPerS)}, peak ${q(s.redis.eventPeakPerS)}`,
    `  tools/call request p99 steady ${q(s.latency.steady.request.p99)} ms, event window ${q(s.latency.event.request.p99)} ms; Redis ${s.endCheck.redisKeys} keys vs ${s.endCheck.activeSessions} live (${s.endCheck.converged ? `matched after ${(s.endCheck.afterMs / 1000).toFixed(1)} s` : 'NOT matched'})`,
    ...s.targets.map((t) => `  target ${t.name} ${t.target}: ${t.measured} -> ${t.met === null ? 'reported' : t.met ? 'MET' : 'MISSED'}`),
  ];
  return lines.join('\n');
}

function modernHeadline(s: ModernSummary): string {
  const q = (x: number): string => (Number.isFinite(x) ? `${Math.round(x)}` : 'n/a');
  const a = s.events.account;
  return [
    `${s.name}: ${s.listen.affected} listen streams on ${s.killed}, ${s.listen.relistened} listening again on a survivor; ms after the cut p50/p95/p99/max ${q(s.listen.fromCut.p50)}/${q(s.listen.fromCut.p95)}/${q(s.listen.fromCut.p99)}/${q(s.listen.fromCut.max)}`,
    `  events ${s.events.ok} announced ok; (stream, event) pairs owed ${a.owed}, lost ${a.lost} (reopened ${a.byClass.reopened.lost}, kept ${a.byClass.kept.lost}, cut ${a.byClass.cut.lost}); delivery p99 steady ${q(s.delivery.steady.p99)} ms, kill window ${q(s.delivery.event.p99)} ms`,
    `  tool calls ${s.calls.started} started, ${s.calls.ok} ok, ${s.calls.lost} lost; ${s.calls.clientsWithFailures} clients with failed calls, served again p99 ${q(s.calls.servedAgain.p99)} ms; steady ${q(s.throughput.callsPerS)} calls/s; bystanders disturbed ${s.bystanders.disturbed} of ${s.bystanders.clients}`,
    ...s.targets.map((t) => `  target ${t.name} ${t.target}: ${t.measured} -> ${t.met === null ? 'reported' : t.met ? 'MET' : 'MISSED'}`),
  ].join('\n');
}

/** The kill scenario with 2026-07-28 clients: one run, its own report. */
async function mainModern(
  o: StormOptions,
  command: string,
  version: ReturnType<typeof provenance>,
  code: Awaited<ReturnType<typeof loadClusterCode>>,
): Promise<{ written: Written[]; failed: boolean }> {
  try {
    const data = await runModernStorm(o, { name: 'kill-modern', scenario: 'kill', drainJitter: o.drainJitter }, code);
    const { summary, series, account } = summarizeModern(data);
    process.stdout.write(`${modernHeadline(summary)}\n`);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const w = await writeModernScenario(
      resolve(o.out),
      {
        title: 'SIGKILL one node, 2026-07-28 clients (listen streams, stateless calls)',
        command,
        // Its clients call echo of the storm's tool module, whatever the 2025 default tool is.
        options: { ...o, tool: 'echo' },
        code: version,
        run: { data, series, summary, account },
      },
      stamp,
    );
    process.stdout.write(`report: ${w.markdown}\n`);
    return { written: [w], failed: false };
  } catch (err) {
    process.stderr.write(`[kill-modern] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return { written: [], failed: true };
  }
}

async function main(): Promise<number> {
  let o: StormOptions;
  try {
    o = parseStormArgs(process.argv.slice(2));
  } catch (err) {
    const code = reportUsage(err);
    if (code === null) throw err;
    return code;
  }
  const command = `npm run bench:storm -- ${process.argv.slice(2).join(' ')}`.trim();
  const version = provenance(o.allowDirty);
  requireClean(version);
  process.stderr.write(`storm benchmark: ${describeProvenance(version)}\n`);
  const code = await loadClusterCode(o.snapshot);
  const stop = (): void => code.remove();
  process.on('exit', stop);
  // Interrupted: stop the cluster (its processes would outlive us otherwise), then leave.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`${signal}: stopping the cluster\n`);
      void Promise.all([abortRuns(), abortModernRuns()]).finally(() => process.exit(130));
    });
  }
  const written: Written[] = [];
  let failed = false;
  try {
    if (o.era === 'modern') {
      const m = await mainModern(o, command, version, code);
      written.push(...m.written);
      failed = m.failed;
    }
    // The modern fleet runs the kill scenario only (the options refuse any other).
    for (const scenario of o.era === 'modern' ? [] : o.scenarios) {
      const runs: RunOutput[] = [];
      for (const plan of plansOf(o, scenario)) {
        try {
          const data = await runStorm(o, plan, code);
          const series = buildSeries(data);
          runs.push({ data, series, summary: summarize(data, series) });
          process.stdout.write(`${headline(runs.at(-1)!.summary)}\n`);
        } catch (err) {
          failed = true;
          process.stderr.write(`[${plan.name}] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
        }
      }
      if (runs.length === 0) continue;
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const w = await writeScenario(resolve(o.out), { scenario, title: TITLES[scenario], command, options: o, code: version, runs }, stamp);
      written.push(w);
      process.stdout.write(`report: ${w.markdown}\n`);
    }
  } finally {
    stop();
  }
  for (const w of written) process.stdout.write(`wrote ${w.markdown}, ${w.json} and ${w.charts.length} charts in ${w.dir}\n`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`${errorText(err)}\n`);
    process.exit(1);
  },
);
