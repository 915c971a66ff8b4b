/**
 * Helpers for the observability tests: a real Prometheus process (Debian's `prometheus`, started on
 * 127.0.0.1:0 and always stopped), promtool, the dashboards in grafana/dashboards, a small PromQL
 * reader (metric and label names used by a query), a /metrics exposition reader, and an MCP load that
 * moves every metric the dashboards show (sessions, tool calls, 404 misses, deletes, SSE streams,
 * re-initialize after a 404).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, initialize, rpc } from './server.js';

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
export const PROMTOOL_BIN = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';
export const DASHBOARD_DIR = join(ROOT, 'grafana', 'dashboards');
export const ALERTS_FILE = join(ROOT, 'deploy', 'prometheus', 'alerts.yml');

// ---------------------------------------------------------------------------------------------------
// Prometheus and promtool

export interface PrometheusInstance {
  url: string;
  port: number;
  proc: ChildProcess;
  dir: string;
  logs: string[];
  query(expr: string): Promise<PromQueryResult>;
  api<T = unknown>(path: string): Promise<T>;
  stop(): Promise<void>;
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PromQueryResult {
  status: string;
  error?: string;
  errorType?: string;
  data?: { resultType: string; result: PromSample[] | [number, string] };
}

/**
 * Starts Prometheus with `config` (YAML text) in a fresh temp dir. It listens on 127.0.0.1:0 and the
 * port is read from its "Listening on" log line, so no port is picked and released beforehand.
 * Extra files (e.g. rule files) are written next to the config first.
 */
export async function startPrometheus(config: string, files: Record<string, string> = {}, timeoutMs = 30_000): Promise<PrometheusInstance> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-prom-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  writeFileSync(join(dir, 'prometheus.yml'), config);
  const proc = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      '--web.listen-address=127.0.0.1:0',
      '--log.level=info',
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const logs: string[] = [];
  const exited = once(proc, 'exit');
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const kill = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(kill);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(
      () => reject(new Error(`prometheus did not listen within ${timeoutMs} ms:\n${logs.slice(-10).join('\n')}`)),
      timeoutMs,
    );
    const onData = (d: string): void => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        logs.push(line);
        const m = /msg="Listening on" address=127\.0\.0\.1:(\d+)/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      }
    };
    proc.stdout.setEncoding('utf8').on('data', onData);
    proc.stderr.setEncoding('utf8').on('data', onData);
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`prometheus exited with ${code}:\n${logs.slice(-10).join('\n')}`));
    });
  }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  const url = `http://127.0.0.1:${port}`;
  const api = async <T>(path: string): Promise<T> => (await (await fetch(`${url}${path}`)).json()) as T;
  const query = (expr: string): Promise<PromQueryResult> => api<PromQueryResult>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
  const instance: PrometheusInstance = { url, port, proc, dir, logs, query, api, stop };
  try {
    await waitFor(async () => (await fetch(`${url}/-/ready`)).status === 200, timeoutMs, 'prometheus /-/ready');
  } catch (err) {
    await stop();
    throw err;
  }
  return instance;
}

/** Runs promtool; resolves with its exit code and output (never rejects on a non-zero exit). */
export function promtool(args: string[], cwd = ROOT): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(PROMTOOL_BIN, args, { cwd }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

/** Polls `check` (errors count as false) until it is true or `ms` pass. */
export async function waitFor(check: () => Promise<boolean> | boolean, ms: number, what: string, everyMs = 200): Promise<void> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${ms} ms waiting for ${what}${last ? `: ${last instanceof Error ? last.message : JSON.stringify(last)}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// ---------------------------------------------------------------------------------------------------
// Dashboards

export interface DashboardFile {
  file: string;
  json: any;
}

export interface DashboardTarget {
  dashboard: string;
  panel: string;
  refId: string;
  expr: string;
}

export function loadDashboards(): DashboardFile[] {
  return readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, json: JSON.parse(readFileSync(join(DASHBOARD_DIR, file), 'utf8')) }));
}

/** Every panel, rows' nested panels included. */
export function allPanels(dashboard: any): any[] {
  const out: any[] = [];
  for (const p of dashboard.panels ?? []) {
    out.push(p);
    for (const q of p.panels ?? []) out.push(q);
  }
  return out;
}

export function dashboardTargets(d: DashboardFile): DashboardTarget[] {
  const out: DashboardTarget[] = [];
  for (const p of allPanels(d.json)) {
    for (const t of p.targets ?? []) out.push({ dashboard: d.file, panel: p.title, refId: t.refId, expr: t.expr });
  }
  return out;
}

/** Grafana's variables in a query, replaced the way Grafana would for a query at "now". */
export function substituteVariables(expr: string, vars: Record<string, string>): string {
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare!;
    if (!(name in vars)) throw new Error(`no value for Grafana variable ${whole} in ${expr}`);
    return vars[name];
  });
}

/** Values for Grafana's built-in interval variables: 15 s covers several 1 s scrapes. */
export const GRAFANA_BUILTINS: Readonly<Record<string, string>> = Object.freeze({
  __rate_interval: '15s',
  __interval: '5s',
  __range: '1m',
  __range_s: '60',
  __interval_ms: '5000',
});

// ---------------------------------------------------------------------------------------------------
// A small PromQL reader: enough to list the metric names and label names a query uses.

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'atan2',
  'inf',
  'nan',
  'Inf',
  'NaN',
]);
const LABEL_LIST = /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g;

export interface QueryNames {
  /** Metric (sample) names the query selects. */
  metrics: string[];
  /** For each selector: its metric name and the label names its matchers use. */
  selectors: Array<{ metric: string; labels: string[] }>;
  /** Label names in by/without/on/ignoring/group_* lists. */
  grouping: string[];
}

export function queryNames(expr: string): QueryNames {
  // Strings first (they may contain braces, e.g. label_replace arguments or regexes).
  let s = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  const grouping: string[] = [];
  s = s.replace(LABEL_LIST, (_w, _kw: string, list: string) => {
    for (const l of list.split(',')) if (l.trim()) grouping.push(l.trim());
    return ' ';
  });
  const selectors: QueryNames['selectors'] = [];
  s = s.replace(/([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}/g, (_w, metric: string | undefined, body: string) => {
    const labels = [...body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]);
    const named = labels.indexOf('__name__');
    if (metric) selectors.push({ metric, labels: labels.filter((l) => l !== '__name__') });
    else if (named >= 0) throw new Error(`selector by __name__ not supported by this reader: ${expr}`);
    return metric ? ` ${metric} ` : ' ';
  });
  s = s.replace(/\[[^\]]*\]/g, ' ');
  const metrics = new Set<string>(selectors.map((x) => x.metric));
  for (const m of s.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (m[2] || KEYWORDS.has(m[1])) continue;
    metrics.add(m[1]);
  }
  for (const m of metrics) if (!selectors.some((x) => x.metric === m)) selectors.push({ metric: m, labels: [] });
  return { metrics: [...metrics], selectors, grouping };
}

// ---------------------------------------------------------------------------------------------------
// /metrics exposition

/** Sample name → label names seen on it (prom-client text format). */
export function parseExposition(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+\S+/.exec(line);
    if (!m) continue;
    const labels = out.get(m[1]) ?? new Set<string>();
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g)) labels.add(l[1]);
    out.set(m[1], labels);
  }
  return out;
}

/** Series Prometheus itself writes for every target, and the labels it attaches to every series. */
export const SCRAPE_SERIES = new Set([
  'up',
  'scrape_duration_seconds',
  'scrape_samples_scraped',
  'scrape_samples_post_metric_relabeling',
  'scrape_series_added',
]);
export const TARGET_LABELS = new Set(['instance', 'job', 'node']);

// ---------------------------------------------------------------------------------------------------
// Load

export interface LoadStats {
  sessions: number;
  toolCalls: number;
  notFound: number;
  deleted: number;
  streams: number;
  errors: string[];
}

export function newLoadStats(): LoadStats {
  return { sessions: 0, toolCalls: 0, notFound: 0, deleted: 0, streams: 0, errors: [] };
}

/**
 * One client's life, the way a reconnection storm looks from the node: initialize, call tools (one
 * that succeeds, one that reports isError), hit an unknown session id (404), sometimes open and close
 * the GET SSE stream, DELETE (every `keepEvery`-th session stays open), then use the deleted id (404)
 * — after which a real client re-initializes, which the next round does.
 */
export async function clientRound(url: string, round: number, stats: LoadStats, keepEvery = 3): Promise<void> {
  const v = '2025-11-25';
  const check = (what: string, status: number, want: number): void => {
    if (status !== want) stats.errors.push(`${what}: ${status} (want ${want})`);
  };
  const { sid, res } = await initialize(url, v);
  check('initialize', res.status, 200);
  if (!sid) return;
  stats.sessions++;
  const initd = await rpc(url, sid, { jsonrpc: '2.0', method: 'notifications/initialized' }, v);
  await initd.arrayBuffer();
  check('notifications/initialized', initd.status, 202);
  for (const [i, name] of ['test_simple_text', 'test_error_handling'].entries()) {
    const r = await rpc(url, sid, { jsonrpc: '2.0', id: 10 + i, method: 'tools/call', params: { name, arguments: {} } }, v);
    await r.arrayBuffer();
    check(`tools/call ${name}`, r.status, 200);
    stats.toolCalls++;
  }
  const miss = await rpc(
    url,
    `unknown-${round}-${Math.random().toString(36).slice(2)}`,
    { jsonrpc: '2.0', id: 20, method: 'tools/list' },
    v,
  );
  await miss.arrayBuffer();
  check('unknown session', miss.status, 404);
  stats.notFound++;
  if (round % 2 === 0) {
    const stream = await openStream(url, sid, v);
    if (stream.ok) stats.streams++;
    else stats.errors.push(`GET stream: ${stream.status}`);
    await stream.close();
  }
  if (round % keepEvery === keepEvery - 1) return;
  const del = await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': sid, 'mcp-protocol-version': v } });
  await del.arrayBuffer();
  check('DELETE', del.status, 200);
  stats.deleted++;
  const gone = await rpc(url, sid, { jsonrpc: '2.0', id: 30, method: 'ping' }, v);
  await gone.arrayBuffer();
  check('deleted session', gone.status, 404);
  stats.notFound++;
}

/** Opens the session's GET SSE stream and waits for its first bytes (the priming event). */
export async function openStream(
  url: string,
  sid: string,
  version = '2025-11-25',
): Promise<{ ok: boolean; status: number; close(): Promise<void> }> {
  const ac = new AbortController();
  const res = await fetch(url, {
    method: 'GET',
    signal: ac.signal,
    headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': version },
  });
  const ok = res.status === 200 && (res.headers.get('content-type') ?? '').startsWith('text/event-stream');
  if (ok) {
    const reader = res.body!.getReader();
    await Promise.race([reader.read(), new Promise((r) => setTimeout(r, 2000))]);
  }
  return {
    ok,
    status: res.status,
    close: async () => {
      ac.abort();
      await res.body?.cancel().catch(() => {});
    },
  };
}

/** Runs client rounds back to back (every `pauseMs`) until stop() is called. */
export function backgroundLoad(url: string, pauseMs = 100): { stats: LoadStats; stop(): Promise<void> } {
  const stats = newLoadStats();
  let running = true;
  const loop = (async () => {
    for (let round = 0; running; round++) {
      try {
        await clientRound(url, round, stats);
      } catch (err) {
        stats.errors.push(String(err));
      }
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  })();
  return {
    stats,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}
