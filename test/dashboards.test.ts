/**
 * The dashboards, the alert rules and the node's /metrics cannot drift apart: every metric a panel
 * query or an alert expression selects exists on a live node (after a little load, so labelled series
 * exist), with the labels the query uses. Plus the import rules: unique uids, a `datasource` variable,
 * no datasource uid written into a dashboard, and the committed JSON equal to grafana/generate.mjs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT, initialize, startServer, type TestServer } from './helpers/server.js';
import {
  ALERTS_FILE,
  SCRAPE_SERIES,
  TARGET_LABELS,
  allPanels,
  clientRound,
  dashboardTargets,
  loadDashboards,
  newLoadStats,
  openStream,
  parseExposition,
  queryNames,
} from './helpers/prometheus.js';

const dashboards = loadDashboards();
const INSTANCE_QUERY = 'label_values(mcp_sessions_created_total, instance)';
const JOB_QUERY = 'label_values(mcp_sessions_created_total, job)';

interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
}
const alertRules: AlertRule[] = (parse(readFileSync(ALERTS_FILE, 'utf8')) as { groups: { rules: AlertRule[] }[] }).groups.flatMap(
  (g) => g.rules,
);

let srv: TestServer;
let exposition: Map<string, Set<string>>;

beforeAll(async () => {
  srv = await startServer({ env: { WORKERS: '2' } });
  const stats = newLoadStats();
  for (let round = 0; round < 6; round++) await clientRound(srv.url, round, stats);
  expect(stats.errors).toEqual([]);
  // One stream stays open while /metrics is read, so stream gauges are non-zero too.
  const { sid } = await initialize(srv.url);
  const stream = await openStream(srv.url, sid);
  exposition = parseExposition(await (await fetch(`${srv.base}/metrics`)).text());
  await stream.close();
});

afterAll(async () => {
  await srv?.stop();
});

/** Checks one query against the live exposition; returns problems as text. */
function problems(where: string, expr: string): string[] {
  const out: string[] = [];
  const names = queryNames(expr);
  if (names.metrics.length === 0) out.push(`${where}: no metric in ${expr}`);
  const known = new Set<string>(TARGET_LABELS);
  for (const m of names.metrics) {
    if (SCRAPE_SERIES.has(m)) continue;
    const labels = exposition.get(m);
    if (!labels) {
      out.push(`${where}: metric ${m} is not on /metrics`);
      continue;
    }
    for (const l of labels) known.add(l);
  }
  for (const s of names.selectors) {
    const labels = exposition.get(s.metric);
    if (!labels) continue;
    for (const l of s.labels) if (!labels.has(l) && !TARGET_LABELS.has(l)) out.push(`${where}: ${s.metric} has no label ${l}`);
  }
  for (const l of names.grouping) if (!known.has(l)) out.push(`${where}: grouping label ${l} is on none of ${names.metrics.join(', ')}`);
  return out;
}

describe('the PromQL reader these checks rely on', () => {
  it('finds metric names, matcher labels and grouping labels, and skips functions, strings and durations', () => {
    const n = queryNames(
      'histogram_quantile(0.99, sum by (method, le) (rate(mcp_request_duration_seconds_bucket{instance=~"$instance", method="a{b}"}[5m] offset 1m))) / on (instance) group_left(node) up or vector(1e3)',
    );
    expect(n.metrics.sort()).toEqual(['mcp_request_duration_seconds_bucket', 'up']);
    expect(n.selectors.find((s) => s.metric === 'mcp_request_duration_seconds_bucket')!.labels).toEqual(['instance', 'method']);
    expect(n.grouping.sort()).toEqual(['instance', 'le', 'method', 'node']);
  });

  it('reports a misspelt metric or label', () => {
    const saved = exposition;
    exposition = new Map([['mcp_x_total', new Set(['reason'])]]);
    try {
      expect(problems('t', 'sum by (reason) (rate(mcp_x_total[1m]))')).toEqual([]);
      expect(problems('t', 'rate(mcp_y_total[1m])')).toEqual(['t: metric mcp_y_total is not on /metrics']);
      expect(problems('t', 'rate(mcp_x_total{reasn="delete"}[1m])')).toEqual(['t: mcp_x_total has no label reasn']);
      expect(problems('t', 'sum by (worker) (mcp_x_total)')).toEqual(['t: grouping label worker is on none of mcp_x_total']);
    } finally {
      exposition = saved;
    }
  });
});

describe('dashboards match the metrics', () => {
  it('finds the dashboards and queries it checks', () => {
    expect(dashboards.map((d) => d.file)).toEqual(['cluster-overview.json', 'node-detail.json', 'reconnect-storm.json']);
    for (const d of dashboards) expect(dashboardTargets(d).length).toBeGreaterThan(10);
  });

  it('selects only metrics and labels the node exports, in every panel query', () => {
    const found = dashboards.flatMap((d) =>
      dashboardTargets(d).flatMap((t) => problems(`${t.dashboard} / ${t.panel} / ${t.refId}`, t.expr)),
    );
    expect(found).toEqual([]);
  });

  it('selects only metrics and labels the node exports, in every alert expression', () => {
    expect(alertRules.length).toBeGreaterThanOrEqual(4);
    const found = alertRules.flatMap((r) => problems(`alert ${r.alert ?? r.record}`, r.expr));
    expect(found).toEqual([]);
  });

  it('shows every mcp_ metric of the node somewhere (a new metric needs a panel)', () => {
    const used = new Set(dashboards.flatMap((d) => dashboardTargets(d).flatMap((t) => queryNames(t.expr).metrics)));
    const family = (sample: string): string => sample.replace(/_(bucket|sum|count)$/, '');
    const usedFamilies = new Set([...used].map(family));
    const missing = [...exposition.keys()].filter((s) => s.startsWith('mcp_') && !usedFamilies.has(family(s)));
    expect(missing).toEqual([]);
  });
});

describe('dashboards import cleanly', () => {
  it('have unique uids and titles, a current schema and the mcp-storm tag', () => {
    const uids = dashboards.map((d) => d.json.uid);
    expect(new Set(uids).size).toBe(uids.length);
    expect(new Set(dashboards.map((d) => d.json.title)).size).toBe(dashboards.length);
    for (const d of dashboards) {
      expect(d.json.uid, d.file).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
      expect(d.json.schemaVersion, d.file).toBeGreaterThanOrEqual(36);
      expect(d.json.tags, d.file).toContain('mcp-storm');
      expect(d.json.id ?? null, `${d.file}: an exported id would clash on import`).toBeNull();
    }
  });

  it('declare a datasource variable of type datasource for Prometheus, and job and instance variables', () => {
    for (const d of dashboards) {
      const vars = d.json.templating.list as any[];
      const ds = vars.find((v) => v.name === 'datasource');
      expect(ds, d.file).toMatchObject({ type: 'datasource', query: 'prometheus' });
      const inst = vars.find((v) => v.name === 'instance');
      expect(inst, d.file).toBeDefined();
      expect(inst.type).toBe('query');
      const q = typeof inst.query === 'string' ? inst.query : inst.query.query;
      expect(q).toBe(INSTANCE_QUERY);
      expect(inst.definition).toBe(INSTANCE_QUERY);
      expect(inst.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
      if (inst.includeAll) expect(inst.allValue, `${d.file}: "All" must be a regex for =~`).toBe('.*');
      const job = vars.find((v) => v.name === 'job');
      expect(job, d.file).toMatchObject({ type: 'query', definition: JOB_QUERY, datasource: { type: 'prometheus', uid: '${datasource}' } });
      for (const v of vars.filter((x) => x.type === 'query')) {
        const { metrics } = queryNames(v.definition.replace(/^label_values\((.*),\s*\w+\)$/, '$1'));
        expect(
          metrics.every((m) => exposition.has(m)),
          `${d.file}: variable ${v.name}`,
        ).toBe(true);
      }
    }
  });

  it('use ${datasource} on every panel and target and never a datasource uid', () => {
    const bad: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${path}[${i}]`));
      if (node === null || typeof node !== 'object') return;
      for (const [k, v] of Object.entries(node)) {
        if (k === 'datasource' && typeof v === 'string') bad.push(`${path}.datasource is a name: ${v}`);
        if (k === 'datasource' && v && typeof v === 'object' && (v as { uid?: unknown }).uid !== '${datasource}')
          bad.push(`${path}.datasource.uid = ${JSON.stringify((v as { uid?: unknown }).uid)}`);
        walk(v, `${path}.${k}`);
      }
    };
    for (const d of dashboards) {
      walk(d.json.panels, `${d.file}:panels`);
      walk(
        d.json.templating.list.filter((v: any) => v.type !== 'datasource'),
        `${d.file}:templating`,
      );
      expect(JSON.stringify(d.json), d.file).not.toMatch(/"__inputs"|DS_PROMETHEUS/);
      for (const p of allPanels(d.json)) {
        if (p.type === 'row') continue;
        expect(p.datasource, `${d.file} / ${p.title}`).toEqual({ type: 'prometheus', uid: '${datasource}' });
        expect(p.targets?.length, `${d.file} / ${p.title} has no query`).toBeGreaterThan(0);
      }
    }
    expect(bad).toEqual([]);
  });

  it('filter every selector on $job and $instance and use $__rate_interval for rates', () => {
    for (const d of dashboards) {
      for (const t of dashboardTargets(d)) {
        const where = `${t.dashboard} / ${t.panel} / ${t.refId}`;
        for (const sel of t.expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/g)) {
          // job too: Prometheus' and Traefik's own targets export `up` and process_* as well.
          expect(sel[2], `${where}: ${sel[1]}`).toContain('job=~"$job", instance=~"$instance"');
        }
        for (const r of t.expr.matchAll(/\[([^\]]+)\]/g)) expect(r[1], where).toBe('$__rate_interval');
      }
    }
  });

  it('have unique panel ids, unique refIds per panel and panels inside the 24-column grid', () => {
    for (const d of dashboards) {
      const panels = allPanels(d.json);
      const ids = panels.map((p) => p.id);
      expect(new Set(ids).size, d.file).toBe(ids.length);
      for (const p of panels) {
        const { x, w, h } = p.gridPos;
        expect(x + w, `${d.file} / ${p.title}`).toBeLessThanOrEqual(24);
        expect(h).toBeGreaterThan(0);
        const refs = (p.targets ?? []).map((t: any) => t.refId);
        expect(new Set(refs).size, `${d.file} / ${p.title}`).toBe(refs.length);
      }
    }
  });

  it('are exactly what grafana/generate.mjs renders', async () => {
    const gen = (await import(pathToFileURL(join(ROOT, 'grafana', 'generate.mjs')).href)) as {
      DASHBOARDS: Record<string, unknown>;
      render(d: unknown): string;
    };
    expect(Object.keys(gen.DASHBOARDS).sort()).toEqual(dashboards.map((d) => d.file));
    for (const [file, d] of Object.entries(gen.DASHBOARDS)) {
      expect(readFileSync(join(ROOT, 'grafana', 'dashboards', file), 'utf8'), `${file} is stale: run node grafana/generate.mjs`).toBe(
        gen.render(d),
      );
    }
  });
});
