/**
 * The measured load: autocannon (in this process) against one server, with our own latency
 * histogram in µs (autocannon's own rounds to whole milliseconds), status counts, the CPU both sides
 * used during the run, and a sample of the response bodies parsed and validated while the load runs
 * (one in `checkEvery`): a server that answers fast but wrongly must not score.
 */
import autocannon, { type Result } from 'autocannon';
import { machineBusySeconds, treeCpuSeconds } from './processes.js';
import { LatencyRecorder, type Distribution } from './stats.js';

/** Validates one response body; returns what is wrong with it, or null. */
export type BodyValidator = (body: string) => string | null;

export interface LoadSpec {
  url: string;
  headers: Record<string, string>;
  body: string;
  connections: number;
  /** Seconds. */
  duration: number;
  /** Server pid, for its CPU use during the run. */
  serverPid: number;
  /** One response body in this many is validated during the run. */
  checkEvery: number;
  validate: BodyValidator;
}

/** What the sample of response bodies checked during a run showed. */
export interface BodyChecks {
  every: number;
  checked: number;
  failed: number;
  /** The first failure: what was wrong and the start of the body. */
  firstFailure: string | null;
}

export interface LoadResult {
  /** 2xx responses per second. */
  rps: number;
  ok: number;
  /** Non-2xx responses + socket errors + timeouts. */
  errors: number;
  statusCodes: Record<string, number>;
  latencyMs: Distribution;
  /** autocannon's own (whole-millisecond) percentiles, for cross-checking. */
  autocannonLatencyMs: { p50: number; p99: number; mean: number };
  bodies: BodyChecks;
  durationS: number;
  /** CPU cores busy on average: the server process (all threads), and this runner (autocannon). */
  serverCpuCores: number;
  loadgenCpuCores: number;
  /** CPU cores busy on average in other processes (noise from anything else on the machine). */
  otherCpuCores: number;
}

export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const hist = new LatencyRecorder();
  const bodies: BodyChecks = { every: spec.checkEvery, checked: 0, failed: 0, firstFailure: null };
  let seen = 0;
  // Called by autocannon for every response; only one in `checkEvery` is parsed.
  const verifyBody = (body: string): boolean => {
    if (++seen % spec.checkEvery !== 0) return true;
    bodies.checked++;
    const wrong = spec.validate(body);
    if (wrong === null) return true;
    bodies.failed++;
    bodies.firstFailure ??= `${wrong}: ${body.slice(0, 200)}`;
    return false;
  };
  const cpu0 = treeCpuSeconds(spec.serverPid);
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
        verifyBody,
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
          bodies,
          durationS: r.duration,
          serverCpuCores: server / wall,
          loadgenCpuCores: loadgen / wall,
          otherCpuCores: Math.max(0, machine - server - loadgen) / wall,
        });
        hist.destroy();
      },
    );
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (statusCode >= 200 && statusCode < 300) hist.record(responseTime);
    });
  });
}

function safeCpu(pid: number, before: number): number {
  try {
    return treeCpuSeconds(pid) - before;
  } catch {
    return NaN;
  }
}
