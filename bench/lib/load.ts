/**
 * The measured load: autocannon (in this process) against one server, with our own latency
 * histogram at 10 µs resolution (autocannon's own histogram rounds to whole milliseconds), status
 * counts, and the CPU both sides used during the run.
 */
import autocannon, { type Result } from 'autocannon';
import { cpuSeconds, machineBusySeconds } from './processes.js';
import { LatencyHistogram } from './stats.js';

export interface LoadSpec {
  url: string;
  headers: Record<string, string>;
  body: string;
  connections: number;
  /** Seconds. */
  duration: number;
  /** Server pid, for its CPU use during the run. */
  serverPid: number;
}

export interface LoadResult {
  /** 2xx responses per second. */
  rps: number;
  ok: number;
  /** Non-2xx responses + socket errors + timeouts. */
  errors: number;
  statusCodes: Record<string, number>;
  latencyMs: ReturnType<LatencyHistogram['summary']>;
  /** autocannon's own (whole-millisecond) percentiles, for cross-checking. */
  autocannonLatencyMs: { p50: number; p99: number; mean: number };
  durationS: number;
  /** CPU cores busy on average: the server process (all threads), and this runner (autocannon). */
  serverCpuCores: number;
  loadgenCpuCores: number;
  /** CPU cores busy on average in other processes (noise from anything else on the machine). */
  otherCpuCores: number;
}

export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const hist = new LatencyHistogram();
  const cpu0 = cpuSeconds(spec.serverPid);
  const self0 = process.cpuUsage();
  const machine0 = machineBusySeconds();
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: spec.url,
        method: 'POST',
        headers: spec.headers,
        body: spec.body,
        connections: spec.connections,
        duration: spec.duration,
        idReplacement: spec.body.includes('[<id>]'),
        timeout: 10,
      },
      (err: Error | null, r: Result) => {
        if (err) return reject(err);
        const wall = Number(process.hrtime.bigint() - t0) / 1e9;
        const self = process.cpuUsage(self0);
        const server = safeCpu(spec.serverPid, cpu0);
        const loadgen = (self.user + self.system) / 1e6;
        const machine = machineBusySeconds() - machine0;
        const statusCodes: Record<string, number> = {};
        for (const [code, s] of Object.entries(r.statusCodeStats)) statusCodes[code] = s.count;
        resolve({
          rps: r['2xx'] / r.duration,
          ok: r['2xx'],
          errors: r.non2xx + r.errors + r.timeouts,
          statusCodes,
          latencyMs: hist.summary(),
          autocannonLatencyMs: { p50: r.latency.p50, p99: r.latency.p99, mean: r.latency.mean },
          durationS: r.duration,
          serverCpuCores: server / wall,
          loadgenCpuCores: loadgen / wall,
          otherCpuCores: Math.max(0, machine - server - loadgen) / wall,
        });
      },
    );
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (statusCode >= 200 && statusCode < 300) hist.record(responseTime);
    });
  });
}

function safeCpu(pid: number, before: number): number {
  try {
    return cpuSeconds(pid) - before;
  } catch {
    return NaN;
  }
}
