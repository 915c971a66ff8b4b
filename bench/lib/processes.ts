/**
 * Server processes the benchmark starts: spawned on port 0 (the port is read from the
 * `{"msg":"listening"}` line), tracked in one set, and always killed — on a normal stop, on an
 * error, on Ctrl-C / SIGTERM, and (synchronously, SIGKILL) when the runner exits for any reason.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';

export interface Spawned {
  name: string;
  pid: number;
  port: number;
  url: string;
  proc: ChildProcess;
  /** Last lines of stderr/stdout that were not the listening line, for error messages. */
  tail: string[];
  stop(): Promise<void>;
}

export interface SpawnSpec {
  name: string;
  args: string[];
  env: Record<string, string | undefined>;
  cwd: string;
  /** Milliseconds to wait for the listening line. */
  timeoutMs?: number;
}

const live = new Set<ChildProcess>();
let hooksInstalled = false;

function killAllSync(): void {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  live.clear();
}

/** Adds a child (a load generator, say) to the set killed on exit; it leaves the set when it exits. */
export function track(proc: ChildProcess): void {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
}

/** Installs the exit/signal hooks once; `onSignal` runs before the process exits on a signal. */
export function installCleanup(onSignal?: (sig: NodeJS.Signals) => void): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      onSignal?.(sig);
      killAllSync();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

const TAIL = 20;

export async function startProcess(spec: SpawnSpec): Promise<Spawned> {
  const proc = spawn(process.execPath, spec.args, { cwd: spec.cwd, env: spec.env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  const exited = once(proc, 'exit').then(() => {
    live.delete(proc);
  });
  const tail: string[] = [];
  let resolvePort!: (port: number) => void;
  const portP = new Promise<number>((r) => (resolvePort = r));
  const reader = (stream: NodeJS.ReadableStream): void => {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.includes('"listening"')) {
          try {
            const parsed = JSON.parse(line) as { msg?: string; port?: number };
            if (parsed.msg === 'listening' && typeof parsed.port === 'number') {
              resolvePort(parsed.port);
              continue;
            }
          } catch {
            /* not JSON: keep it in the tail */
          }
        }
        tail.push(line);
        if (tail.length > TAIL) tail.shift();
      }
    });
  };
  reader(proc.stdout);
  reader(proc.stderr);

  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  };

  const timeoutMs = spec.timeoutMs ?? 20_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    const port = await Promise.race([
      portP,
      exited.then(() => {
        throw new Error(`${spec.name} exited (code ${proc.exitCode}, signal ${proc.signalCode}) before listening:\n${tail.join('\n')}`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${spec.name} did not log "listening" within ${timeoutMs} ms:\n${tail.join('\n')}`)),
          timeoutMs,
        );
      }),
    ]);
    return { name: spec.name, pid: proc.pid!, port, url: `http://127.0.0.1:${port}/mcp`, proc, tail, stop };
  } catch (err) {
    await stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Resident set size of a process in KiB (VmRSS covers all of its threads). */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

const CLK_TCK = 100;

/** utime + stime of a /proc `stat` file (a process's or one thread's), in seconds. */
function statCpuSeconds(path: string): number {
  const stat = readFileSync(path, 'utf8');
  // Field 2 (comm) may contain spaces; the fields after it start after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

/** CPU seconds (user + system, all threads) a process has used so far. */
export function cpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/**
 * CPU seconds (user + system) of a process's main thread alone: for our node, the uWebSockets.js
 * front, which every request crosses (its workers are other threads of the same process).
 */
export function mainThreadCpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);
}

/** A process's children, from every thread's `children` list (a child belongs to the thread that forked it). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ')) if (c !== '') out.push(Number(c));
    } catch {
      /* the thread ended meanwhile */
    }
  }
  return out;
}

/** Processes visited at most: a server under test has a handful (sdk-v2-cluster: one per core). */
const MAX_TREE = 256;

/** A process and its live descendants, parents first (at most MAX_TREE). */
export function processTree(pid: number): number[] {
  const tree = [pid];
  for (let i = 0; i < tree.length && tree.length < MAX_TREE; i++) {
    try {
      tree.push(...childrenOf(tree[i]));
    } catch {
      /* gone meanwhile */
    }
  }
  return tree.slice(0, MAX_TREE);
}

/**
 * CPU seconds of a process and its live descendants (sdk-v2-cluster serves from child processes;
 * our node and the others have none, so this equals cpuSeconds for them). A descendant that ends
 * mid-run takes its seconds out of the sum (they move to its parent's cutime, not counted here), so
 * a run compares two sums over the same, live, process tree.
 */
export function treeCpuSeconds(pid: number): number {
  let sum = cpuSeconds(pid);
  for (const child of processTree(pid).slice(1)) {
    try {
      sum += cpuSeconds(child);
    } catch {
      /* ended since the tree was read */
    }
  }
  return sum;
}

/** Busy CPU seconds of the whole machine so far (all cores; /proc/stat minus idle and iowait). */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already counted in user).
  const busy = f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0);
  return busy / CLK_TCK;
}
