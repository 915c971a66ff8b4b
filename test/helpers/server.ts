/**
 * Starts a real node (`node dist/src/main.js`) on a free port (port 0, the port is read from the
 * "listening" log line) and always stops it. Logs are kept for assertions.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const MAIN = `${ROOT}dist/src/main.js`;

export interface LogLine {
  level: string;
  msg: string;
  [k: string]: unknown;
}

export interface TestServer {
  port: number;
  url: string;
  base: string;
  proc: ChildProcess;
  logs: LogLine[];
  stderr: string[];
  /** Resolves with the first log line matching, waiting up to `ms`. */
  waitForLog(pred: (l: LogLine) => boolean, ms?: number): Promise<LogLine>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  env?: Record<string, string>;
  args?: string[];
  /** Milliseconds to wait for "listening". */
  timeoutMs?: number;
}

export async function startServer(opts: StartOptions = {}): Promise<TestServer> {
  const proc = spawn(process.execPath, [MAIN, '--port', '0', ...(opts.args ?? [])], {
    cwd: ROOT,
    env: { ...process.env, HOST: '127.0.0.1', WORKERS: '2', LOG_LEVEL: 'info', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  const stderr: string[] = [];
  const waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  const onLine = (line: string): void => {
    if (!line.trim()) return;
    let parsed: LogLine;
    try {
      parsed = JSON.parse(line) as LogLine;
    } catch {
      parsed = { level: 'raw', msg: line };
    }
    logs.push(parsed);
    for (const w of [...waiters]) {
      if (w.pred(parsed)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(parsed);
      }
    }
  };
  let outBuf = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => {
    outBuf += d;
    let i;
    while ((i = outBuf.indexOf('\n')) >= 0) {
      onLine(outBuf.slice(0, i));
      outBuf = outBuf.slice(i + 1);
    }
  });
  let errBuf = '';
  proc.stderr.setEncoding('utf8').on('data', (d: string) => {
    errBuf += d;
    let i;
    while ((i = errBuf.indexOf('\n')) >= 0) {
      const line = errBuf.slice(0, i);
      stderr.push(line);
      onLine(line);
      errBuf = errBuf.slice(i + 1);
    }
  });
  const waitForLog = (pred: (l: LogLine) => boolean, ms = 10_000): Promise<LogLine> => {
    const found = logs.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (l: LogLine) => {
          clearTimeout(t);
          resolve(l);
        },
      };
      const t = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(
          new Error(`timed out waiting for log line; last logs: ${JSON.stringify(logs.slice(-5))} stderr: ${stderr.slice(-5).join('\n')}`),
        );
      }, ms);
      waiters.push(w);
    });
  };
  const exited = once(proc, 'exit');
  const listening = await Promise.race([
    waitForLog((l) => l.msg === 'listening', opts.timeoutMs ?? 15_000),
    exited.then(([code]) => {
      throw new Error(`server exited with ${code} before listening: ${stderr.join('\n')}`);
    }),
  ]);
  const port = listening.port as number;
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
    proc.kill(signal);
    const kill = setTimeout(() => proc.kill('SIGKILL'), 8000);
    const [code] = await exited;
    clearTimeout(kill);
    return code as number | null;
  };
  return { port, url: `http://127.0.0.1:${port}/mcp`, base: `http://127.0.0.1:${port}`, proc, logs, stderr, waitForLog, stop };
}

/** Runs the server binary to completion (for config errors): exit code and output. */
export async function runServer(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [MAIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [code] = await once(proc, 'exit');
  return { code: code as number | null, stdout, stderr };
}

/** Headers a well-formed POST carries. */
export const POST_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

export async function initialize(
  url: string,
  version = '2025-11-25',
  extraHeaders: Record<string, string> = {},
): Promise<{ sid: string; body: any; res: Response }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...POST_HEADERS, ...extraHeaders },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'test', version: '1' } },
    }),
  });
  const body = await res.json();
  return { sid: res.headers.get('mcp-session-id') ?? '', body, res };
}

export async function rpc(
  url: string,
  sid: string,
  message: unknown,
  version = '2025-11-25',
  extraHeaders: Record<string, string> = {},
): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { ...POST_HEADERS, 'mcp-session-id': sid, 'mcp-protocol-version': version, ...extraHeaders },
    body: typeof message === 'string' ? message : JSON.stringify(message),
  });
}

export async function metricValue(base: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  let total = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    if (line.startsWith(`${name}${labels ? '{' : ''}`) || line.startsWith(`${name} `)) {
      if (labels && !line.includes(labels)) continue;
      const v = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (Number.isFinite(v)) {
        total += v;
        found = true;
      }
    }
  }
  return found ? total : 0;
}
