/**
 * A real Prometheus (Debian's package) scrapes a running node, configured with the
 * `mcp` job of deploy/prometheus/prometheus.yml (its relabelling included) and the alert rules of
 * deploy/prometheus/alerts.yml, while a small load runs: sessions, tool calls (ok and isError), 404s
 * for unknown and deleted sessions, GET SSE streams opened and closed, re-initialize after a 404.
 * Then every panel query of every dashboard must be accepted and return data, and every alert rule
 * must load and evaluate.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ROOT, initialize, startServer, type TestServer } from './helpers/server.js';
import {
  ALERTS_FILE,
  GRAFANA_BUILTINS,
  backgroundLoad,
  dashboardTargets,
  loadDashboards,
  openStream,
  queryNames,
  startPrometheus,
  substituteVariables,
  waitFor,
  type PrometheusInstance,
  type PromSample,
} from './helpers/prometheus.js';

const SCRAPES_BEFORE_QUERYING = 5;

interface ScrapeJob {
  job_name: string;
  [k: string]: unknown;
}

let node: TestServer | undefined;
let prom: PrometheusInstance | undefined;
let load: ReturnType<typeof backgroundLoad> | undefined;
let held: { close(): Promise<void> } | undefined;
let instance = '';

beforeAll(async () => {
  node = await startServer({ env: { WORKERS: '2' } });
  instance = `127.0.0.1:${node.port}`;
  // One GET stream stays open for the whole test (a client listening for notifications).
  const { sid } = await initialize(node.url);
  held = await openStream(node.url, sid);

  const deployed = parse(readFileSync(join(ROOT, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8')) as { scrape_configs: ScrapeJob[] };
  const job = deployed.scrape_configs.find((j) => j.job_name === 'mcp');
  if (!job) throw new Error('deploy/prometheus/prometheus.yml has no job "mcp"');
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    rule_files: [ALERTS_FILE],
    scrape_configs: [{ ...job, scrape_interval: '1s', scrape_timeout: '1s', static_configs: [{ targets: [instance] }] }],
  };
  prom = await startPrometheus(stringify(config));
  load = backgroundLoad(node.url, 100);
  await waitFor(
    async () => {
      const r = await prom!.query(`count_over_time(up{job="mcp", instance="${instance}"}[1m])`);
      const v = (r.data?.result as PromSample[] | undefined)?.[0]?.value[1];
      return Number(v) >= SCRAPES_BEFORE_QUERYING;
    },
    30_000,
    `${SCRAPES_BEFORE_QUERYING} scrapes of the node`,
  );
}, 60_000);

afterAll(async () => {
  await load?.stop().catch(() => {});
  await held?.close().catch(() => {});
  await prom?.stop();
  await node?.stop();
});

function isVector(r: unknown): r is PromSample[] {
  return Array.isArray(r) && (r.length === 0 || typeof r[0] === 'object');
}

describe('Prometheus scraping a loaded node', () => {
  it('scrapes it through the deploy job, whose relabelling adds the node label', async () => {
    const r = await prom!.query('up{job="mcp"}');
    expect(r.status).toBe('success');
    const result = r.data!.result as PromSample[];
    expect(result).toHaveLength(1);
    expect(result[0].metric).toMatchObject({ job: 'mcp', instance, node: '127.0.0.1' });
    expect(result[0].value[1]).toBe('1');
    expect(load!.stats.sessions).toBeGreaterThan(0);
    expect(load!.stats.notFound).toBeGreaterThan(0);
    expect(load!.stats.streams).toBeGreaterThan(0);
  });

  it("fills the dashboards' job and instance variables (label_values) with the node", async () => {
    for (const d of loadDashboards()) {
      for (const v of d.json.templating.list.filter((x: { type: string }) => x.type === 'query')) {
        const m = /^label_values\((\w+),\s*(\w+)\)$/.exec(v.definition);
        expect(m, `${d.file}: ${v.definition}`).not.toBeNull();
        const r = await prom!.api<{ status: string; data: string[] }>(`/api/v1/label/${m![2]}/values?match[]=${encodeURIComponent(m![1])}`);
        expect(r.status).toBe('success');
        expect(r.data, `${d.file}: $${v.name}`).toEqual([v.name === 'job' ? 'mcp' : instance]);
      }
    }
  });

  it('accepts every dashboard query and returns data for it (one node, then "All")', async () => {
    const failures: string[] = [];
    const nanOnly: string[] = [];
    let checked = 0;
    for (const d of loadDashboards()) {
      const instanceVar = d.json.templating.list.find((v: { name: string }) => v.name === 'instance');
      const values = [instance.replace(/\./g, '\\\\.'), ...(instanceVar?.includeAll ? [instanceVar.allValue] : [])];
      for (const t of dashboardTargets(d)) {
        for (const value of values) {
          const where = `${t.dashboard} / ${t.panel} / ${t.refId} ($instance=${value})`;
          const expr = substituteVariables(t.expr, { ...GRAFANA_BUILTINS, job: 'mcp', instance: value });
          const r = await prom!.query(expr);
          checked++;
          if (r.status !== 'success') {
            failures.push(`${where}: ${r.errorType}: ${r.error} in ${expr}`);
            continue;
          }
          const result = r.data!.result;
          if (!isVector(result) || result.length === 0) {
            failures.push(`${where}: no data for ${expr}`);
            continue;
          }
          if (result.every((s) => !Number.isFinite(Number(s.value[1])))) nanOnly.push(`${where}: ${expr}`);
        }
      }
    }
    expect(checked).toBeGreaterThan(50);
    expect(failures).toEqual([]);
    // A quantile or average over a histogram that never observed anything is NaN: with the in-memory
    // registry that is the registry's flush histograms only. Anything else NaN is a broken query.
    const unexpectedNaN = nanOnly.filter(
      (n) => !queryNames(n.slice(n.lastIndexOf(': ') + 2)).metrics.every((m) => m.startsWith('mcp_registry_')),
    );
    expect(unexpectedNaN).toEqual([]);
  });

  it('loads every alert rule and evaluates it with health ok', async () => {
    const file = parse(readFileSync(ALERTS_FILE, 'utf8')) as { groups: { name: string; rules: { alert: string; expr: string }[] }[] };
    const expected = file.groups.flatMap((g) => g.rules.map((r) => `${g.name}/${r.alert}`)).sort();
    type RulesAnswer = {
      status: string;
      data: {
        groups: { name: string; rules: { name: string; type: string; health: string; lastError?: string; lastEvaluation: string }[] }[];
      };
    };
    let answer: RulesAnswer | undefined;
    await waitFor(
      async () => {
        answer = await prom!.api<RulesAnswer>('/api/v1/rules');
        const rules = answer.data.groups.flatMap((g) => g.rules);
        return rules.length === expected.length && rules.every((r) => r.health !== 'unknown' && !r.lastEvaluation.startsWith('0001'));
      },
      15_000,
      'every alert rule evaluated once',
    );
    expect(answer!.status).toBe('success');
    const loaded = answer!.data.groups.flatMap((g) =>
      g.rules.map((r) => ({ id: `${g.name}/${r.name}`, type: r.type, health: r.health, lastError: r.lastError ?? '' })),
    );
    expect(loaded.map((r) => r.id).sort()).toEqual(expected);
    for (const r of loaded) expect(r, r.id).toMatchObject({ type: 'alerting', health: 'ok', lastError: '' });
    for (const rule of file.groups.flatMap((g) => g.rules)) {
      const q = await prom!.query(rule.expr);
      expect(q.status, `${rule.alert}: ${q.error}`).toBe('success');
    }
  });

  it('fires no alert on a healthy node under this load', async () => {
    const alerts = await prom!.api<{ data: { alerts: { labels: { alertname: string }; state: string }[] } }>('/api/v1/alerts');
    expect(alerts.data.alerts.filter((a) => a.state === 'firing').map((a) => a.labels.alertname)).toEqual([]);
  });

  it('ran the load without unexpected answers', () => {
    expect(load!.stats.errors).toEqual([]);
  });
});
