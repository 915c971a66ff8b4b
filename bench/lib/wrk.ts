/**
 * Cross-check with wrk (C, one thread by default): the same load as autocannon, to tell the server's
 * limit apart from autocannon's (a JS load generator that shares the 2 cores and, with a fresh id per
 * request, tops out near 23k req/s here even against a bare uWS echo).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { machineBusySeconds, mainThreadCpuSeconds, track, treeCpuSeconds } from './processes.js';

export const WRK_BIN = '/usr/bin/wrk';
const ID_PLACEHOLDER = '[<id>]';

export interface WrkResult {
  rps: number;
  requests: number;
  errors: number;
  /** One response in `every` checked (in wrk's Lua: status 200 and every expected fragment present). */
  bodies: { every: number; checked: number; failed: number; firstFailure: string | null };
  latencyMs: { p50: number; p90: number; p99: number; mean: number; max: number };
  serverCpuCores: number;
  /** The server process's main thread alone (our node: the front every request crosses). */
  serverMainCpuCores: number;
  /** CPU cores busy on average in processes other than the server, wrk and the runner. */
  otherCpuCores: number;
  wrkCpuCores: number;
}

/**
 * A body with `[<id>]` (autocannon's placeholder) gets a fresh JSON-RPC id per request (the SDK maps
 * replies by id, so ids must not repeat); any other body is sent as is. `errors.status` counts HTTP
 * >= 400. The `response` hook checks one answer in `every` during the load: status 200 and each of
 * `expect` (fragments of the JSON-RPC result, as both servers write compact JSON) present; Lua has no
 * JSON parser, so this is weaker than autocannon's check, which parses. Each thread counts in its own
 * Lua state; done() adds them up.
 */
function luaScript(headers: Record<string, string>, body: string, every: number, expect: readonly string[]): string {
  const hdrs = Object.entries(headers)
    .map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`)
    .join('\n');
  const at = body.indexOf(ID_PLACEHOLDER);
  const requestFn =
    at < 0
      ? `wrk.body = ${JSON.stringify(body)}`
      : `local n = 0
local pre, post = ${JSON.stringify(body.slice(0, at) + 'w')}, ${JSON.stringify(body.slice(at + ID_PLACEHOLDER.length))}
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, pre .. n .. post)
end`;
  const fragments = `{${expect.map((e) => JSON.stringify(e)).join(', ')}}`;
  return `wrk.method = "POST"
${hdrs}
${requestFn}
local threads = {}
setup = function(thread)
  table.insert(threads, thread)
end
seen, checked, failed, first = 0, 0, 0, ""
local expect = ${fragments}
response = function(status, headers, body)
  seen = seen + 1
  if seen % ${every} ~= 0 then return end
  checked = checked + 1
  local ok = status == 200
  for _, e in ipairs(expect) do
    if ok and not string.find(body, e, 1, true) then ok = false end
  end
  if not ok then
    failed = failed + 1
    if first == "" then first = "HTTP " .. status .. ": " .. string.sub(body, 1, 200) end
  end
end
done = function(summary, latency, requests)
  local c, f, ff = 0, 0, ""
  for _, t in ipairs(threads) do
    c = c + t:get("checked")
    f = f + t:get("failed")
    if ff == "" then ff = t:get("first") end
  end
  io.write(string.format("JSON{\\"requests\\":%d,\\"duration_us\\":%d,\\"errors\\":%d,\\"p50\\":%d,\\"p90\\":%d,\\"p99\\":%d,\\"mean\\":%f,\\"max\\":%d,\\"checked\\":%d,\\"failed\\":%d}\\n",
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max, c, f))
  io.write("FIRST" .. ff .. "\\n")
end
`;
}

/** CPU seconds of this process's reaped children (cutime + cstime in /proc/self/stat). */
function childCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[13]) + Number(rest[14])) / 100;
}

export async function runWrk(opts: {
  url: string;
  headers: Record<string, string>;
  /** May contain `[<id>]` once, replaced by a fresh id per request. */
  body: string;
  connections: number;
  duration: number;
  threads: number;
  serverPid: number;
  checkEvery: number;
  /** Fragments every checked answer must contain. */
  expect: readonly string[];
}): Promise<WrkResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-wrk-'));
  const script = join(dir, 'post.lua');
  writeFileSync(script, luaScript(opts.headers, opts.body, opts.checkEvery, opts.expect));
  const cpu0 = treeCpuSeconds(opts.serverPid);
  const main0 = mainThreadCpuSeconds(opts.serverPid);
  const machine0 = machineBusySeconds();
  const t0 = process.hrtime.bigint();
  let wrkCpu = 0;
  const children0 = childCpuSeconds();
  const self0 = process.cpuUsage();
  try {
    const out = await new Promise<string>((resolve, reject) => {
      const child = execFile(
        WRK_BIN,
        [
          '-t',
          String(opts.threads),
          '-c',
          String(opts.connections),
          '-d',
          `${Math.max(1, Math.round(opts.duration))}s`,
          '--timeout',
          '10s',
          '-s',
          script,
          opts.url,
        ],
        { maxBuffer: 1 << 20 },
        (err, stdout, stderr) => (err ? reject(new Error(`wrk failed: ${err.message}\n${stderr}`)) : resolve(stdout)),
      );
      track(child);
      child.once('exit', () => {
        // wrk's own CPU, from the kernel's accounting of this process's waited-for children.
        wrkCpu = childCpuSeconds() - children0;
      });
    });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const server = treeCpuSeconds(opts.serverPid) - cpu0;
    const main = mainThreadCpuSeconds(opts.serverPid) - main0;
    const machine = machineBusySeconds() - machine0;
    const selfCpu = process.cpuUsage(self0);
    const runner = (selfCpu.user + selfCpu.system) / 1e6;
    const line = out.split('\n').find((l) => l.startsWith('JSON{'));
    if (!line) throw new Error(`wrk: no summary in output:\n${out}`);
    const j = JSON.parse(line.slice(4)) as Record<string, number>;
    const first =
      out
        .split('\n')
        .find((l) => l.startsWith('FIRST'))
        ?.slice(5) ?? '';
    return {
      rps: j.requests / (j.duration_us / 1e6),
      requests: j.requests,
      errors: j.errors,
      bodies: { every: opts.checkEvery, checked: j.checked, failed: j.failed, firstFailure: first === '' ? null : first },
      latencyMs: { p50: j.p50 / 1000, p90: j.p90 / 1000, p99: j.p99 / 1000, mean: j.mean / 1000, max: j.max / 1000 },
      serverCpuCores: server / wall,
      serverMainCpuCores: main / wall,
      otherCpuCores: Math.max(0, machine - server - wrkCpu - runner) / wall,
      wrkCpuCores: wrkCpu / wall,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
