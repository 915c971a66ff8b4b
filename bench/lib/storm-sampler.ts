/**
 * Once a second: every node's /metrics (straight to the node, not through HAProxy), Redis INFO, the
 * machine's CPU (/proc/stat) and this process's own CPU and event-loop delay. Rates are computed
 * later from the counters (storm-summary.ts); here only raw readings are kept.
 */
import { get } from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
/** The clock of a run's recorder (the 2025 and the modern fleets each have their own). */
export interface RunClock {
  /** ms since the run's start. */
  now(): number;
}

const SCRAPE_TIMEOUT_MS = 2000;

export interface NodeReading {
  /** Sum of mcp_sessions_active over the node's workers. */
  active: number;
  created: number;
  /** mcp_requests_total{status="404"}, all methods. */
  notFound: number;
  /** mcp_requests_total, all methods and statuses (a relayed request is counted by its owner). */
  requests: number;
  forwarded: number;
  /** mcp_forwarded_by_reason_total by reason (absent on a build without it). */
  forwardedByReason: Record<string, number>;
  streams: number;
  /** mcp_listen_streams_active: open 2026-07-28 listen streams (absent on a build without it: 0). */
  listeners: number;
  /** mcp_cluster_events_published_total / _received_total: change events through Redis. */
  eventsPublished: number;
  eventsReceived: number;
  /** process_cpu_seconds_total (front and workers: one process). */
  cpuSeconds: number;
  /** process_start_time_seconds: a restarted node (counters from 0 again) has a new one; null if not exported. */
  startTime: number | null;
  /**
   * mcp_node_time_seconds: the node's clock when it read these counters (null on a build without it).
   * Rates between two readings use it, so a reading that arrives late is still exact.
   */
  clock?: number | null;
}

export interface Sample {
  /** ms since the run's start (Recorder clock), when the readings were asked for. */
  t: number;
  /** When the last of them had arrived: a long span (a stalled event loop, a slow node) blurs when they were taken. */
  tRead: number;
  /** Node name → reading, or null when /metrics did not answer (node down). */
  nodes: Record<string, NodeReading | null>;
  /** INFO stats total_commands_processed. */
  redisCommands: number | null;
  /** Share of the machine's CPU time busy since the previous sample (0..1), all cores. */
  machineBusy: number | null;
  /** This process (the load generator): CPU cores used since the previous sample. */
  loadgenCpu: number;
  /** Cores used since the previous sample by this process's children, by command name (haproxy, redis-server, node). */
  childCores: Record<string, number>;
  /** Cores used by processes that are not this benchmark (another job on the machine skews the run). */
  othersCores: number | null;
  loadgenLagP99Ms: number;
  loadgenLagMaxMs: number;
  clients: { sessions: number; streams: number; recovering: number };
}

export interface SampledNode {
  name: string;
  port: number;
}

const WANTED = [
  'mcp_sessions_active',
  'mcp_sessions_created_total',
  'mcp_requests_total',
  'mcp_forwarded_requests_total',
  'mcp_forwarded_by_reason_total',
  'mcp_sse_streams_active',
  'mcp_listen_streams_active',
  'mcp_cluster_events_published_total',
  'mcp_cluster_events_received_total',
  'process_cpu_seconds_total',
  'process_start_time_seconds',
  'mcp_node_time_seconds',
] as const;

/** Sums the series of the metrics this benchmark reads (mcp_requests_total: all, and where status="404"). */
export function parseNodeMetrics(text: string): NodeReading {
  const r: NodeReading = {
    active: 0,
    created: 0,
    notFound: 0,
    requests: 0,
    forwarded: 0,
    forwardedByReason: {},
    streams: 0,
    listeners: 0,
    eventsPublished: 0,
    eventsReceived: 0,
    cpuSeconds: 0,
    startTime: null,
    clock: null,
  };
  let start = 0;
  while (start < text.length) {
    let nl = text.indexOf('\n', start);
    if (nl < 0) nl = text.length;
    if (text.charCodeAt(start) !== 35 /* # */) {
      const line = text.slice(start, nl);
      const brace = line.indexOf('{');
      const space = line.lastIndexOf(' ');
      const name = line.slice(0, brace >= 0 && brace < space ? brace : line.indexOf(' '));
      if ((WANTED as readonly string[]).includes(name)) {
        const v = Number(line.slice(space + 1));
        if (Number.isFinite(v)) {
          switch (name) {
            case 'mcp_sessions_active':
              r.active += v;
              break;
            case 'mcp_sessions_created_total':
              r.created += v;
              break;
            case 'mcp_requests_total':
              r.requests += v;
              if (line.includes('status="404"')) r.notFound += v;
              break;
            case 'mcp_forwarded_by_reason_total': {
              const reason = /reason="([^"]*)"/.exec(line)?.[1] ?? 'unknown';
              r.forwardedByReason[reason] = (r.forwardedByReason[reason] ?? 0) + v;
              break;
            }
            case 'mcp_forwarded_requests_total':
              r.forwarded += v;
              break;
            case 'mcp_sse_streams_active':
              r.streams += v;
              break;
            case 'mcp_listen_streams_active':
              r.listeners += v;
              break;
            case 'mcp_cluster_events_published_total':
              r.eventsPublished += v;
              break;
            case 'mcp_cluster_events_received_total':
              r.eventsReceived += v;
              break;
            case 'process_cpu_seconds_total':
              r.cpuSeconds += v;
              break;
            case 'process_start_time_seconds':
              r.startTime = v;
              break;
            case 'mcp_node_time_seconds':
              r.clock = v;
              break;
          }
        }
      }
    }
    start = nl + 1;
  }
  return r;
}

export function scrape(port: number): Promise<NodeReading | null> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/metrics', headers: { host: 'localhost' }, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return resolve(null);
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(parseNodeMetrics(Buffer.concat(chunks).toString('utf8'))));
      res.on('error', () => resolve(null));
    });
    req.setTimeout(SCRAPE_TIMEOUT_MS, () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

export async function redisTotalCommands(redis: Redis): Promise<number | null> {
  try {
    const m = /total_commands_processed:(\d+)/.exec(await redis.info('stats'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** INFO commandstats → command → calls. */
export async function redisCommandStats(redis: Redis): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  try {
    for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]] = Number(m[2]);
  } catch {
    // Reported as empty.
  }
  return out;
}

interface MachineTimes {
  /** Everything but idle and iowait. */
  busy: number;
  /** user + nice + system: time charged to processes (irq, softirq and steal are not). */
  procs: number;
  total: number;
}

function machineTimes(): MachineTimes | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - f[3] - (f[4] ?? 0), procs: f[0] + f[1] + f[2], total };
  } catch {
    return null;
  }
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/**
 * CPU seconds used so far by each direct child of this process (the cluster runner starts
 * redis-server, haproxy and the nodes as children): pid → [command name, seconds]; {} where /proc
 * cannot be read.
 */
export function childCpu(): Record<string, [string, number]> {
  const out: Record<string, [string, number]> = {};
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    // "pid (comm) state ppid ... utime stime": comm may contain spaces, so split after the last ')'.
    const close = stat.lastIndexOf(')');
    const f = stat.slice(close + 2).split(' ');
    if (Number(f[1]) !== process.pid) continue;
    out[pid] = [stat.slice(stat.indexOf('(') + 1, close), (Number(f[11]) + Number(f[12])) / USER_HZ];
  }
  return out;
}

/** Cores used between two childCpu() readings, by command name (only processes present in both). */
function childCores(
  prev: Record<string, [string, number]>,
  now: Record<string, [string, number]>,
  seconds: number,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [pid, [comm, cpu]] of Object.entries(now)) {
    const before = prev[pid];
    if (!before || before[0] !== comm) continue;
    out[comm] = (out[comm] ?? 0) + Math.max(0, cpu - before[1]) / seconds;
  }
  return out;
}

export class Sampler {
  readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private readonly lag = monitorEventLoopDelay({ resolution: 10 });
  private lastCpu = process.cpuUsage();
  private lastCpuAt = performance.now();
  private lastChildrenAt = performance.now();
  private lastMachine = machineTimes();
  private lastChildren = childCpu();

  constructor(
    private readonly rec: RunClock,
    private readonly nodes: () => readonly SampledNode[],
    private readonly redis: Redis,
    private readonly clients: () => Sample['clients'],
  ) {}

  start(): void {
    this.lag.enable();
    this.timer = setInterval(() => void this.tick(), 1000);
    void this.tick();
  }

  stop(): void {
    clearInterval(this.timer);
    this.lag.disable();
  }

  get last(): Sample | undefined {
    return this.samples.at(-1);
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const t = this.rec.now();
      const nodes = this.nodes();
      const [readings, redisCommands] = await Promise.all([Promise.all(nodes.map((n) => scrape(n.port))), redisTotalCommands(this.redis)]);
      const tRead = this.rec.now();
      const now = performance.now();
      const cpu = process.cpuUsage(this.lastCpu);
      const loadgenCpu = (cpu.user + cpu.system) / 1000 / Math.max(1, now - this.lastCpuAt);
      this.lastCpu = process.cpuUsage();
      this.lastCpuAt = now;
      const m = machineTimes();
      const last = this.lastMachine;
      const span = m && last && m.total > last.total ? m.total - last.total : 0;
      const machineBusy = span ? (m!.busy - last!.busy) / span : null;
      const children = childCpu();
      const kids = childCores(this.lastChildren, children, Math.max(0.001, (now - this.lastChildrenAt) / 1000));
      const ours = loadgenCpu + Object.values(kids).reduce((a, b) => a + b, 0);
      const othersCores = span ? Math.max(0, ((m!.procs - last!.procs) / span) * cpus().length - ours) : null;
      this.lastMachine = m;
      this.lastChildren = children;
      this.lastChildrenAt = now;
      const sample: Sample = {
        t,
        tRead,
        nodes: Object.fromEntries(nodes.map((n, i) => [n.name, readings[i]])),
        redisCommands,
        machineBusy,
        loadgenCpu,
        childCores: kids,
        othersCores,
        loadgenLagP99Ms: this.lag.percentile(99) / 1e6,
        loadgenLagMaxMs: this.lag.max / 1e6,
        clients: this.clients(),
      };
      this.lag.reset();
      this.samples.push(sample);
    } finally {
      this.busy = false;
    }
  }
}
