#!/usr/bin/env node
/**
 * The source of grafana/dashboards/*.json. Run `node grafana/generate.mjs` after editing a panel here;
 * `node grafana/generate.mjs --check` exits 1 when the committed JSON differs (test/dashboards.test.ts
 * runs the same comparison, so the JSON and this file cannot drift apart).
 *
 * Conventions every dashboard keeps (checked by test/dashboards.test.ts and test/prometheus.test.ts):
 * - every panel and target uses the `${datasource}` template variable, never a datasource uid;
 * - every query filters on `job=~"$job", instance=~"$instance"` (both variables come from
 *   label_values(mcp_sessions_created_total, ...), so they list MCP nodes only);
 * - rates use `$__rate_interval`, so the provisioned datasource must declare the scrape interval
 *   (grafana/provisioning/datasources/prometheus.yml sets timeInterval: 5s);
 * - every query returns a series on a single idle node: labelled counters that appear only after
 *   their first event are summed, and the 5xx query falls back to `vector(0)`.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const OUT = fileURLToPath(new URL('./dashboards/', import.meta.url));
const DS = Object.freeze({ type: 'prometheus', uid: '${datasource}' });
// `job` as well as `instance`: Prometheus' own and Traefik's targets also export `up` and process_*.
const I = 'job=~"$job", instance=~"$instance"';
const RI = '$__rate_interval';

/** rate() of a counter, filtered on $instance, summed by `by` (empty: one series). */
function rate(metric, by = '', extra = '') {
  const sel = `${metric}{${I}${extra ? `, ${extra}` : ''}}[${RI}]`;
  return by ? `sum by (${by}) (rate(${sel}))` : `sum(rate(${sel}))`;
}

/** A quantile of a prom-client histogram across the selected nodes, grouped by `by`. */
function quantile(q, metric, by = '', extra = '') {
  const sel = `${metric}_bucket{${I}${extra ? `, ${extra}` : ''}}[${RI}]`;
  return `histogram_quantile(${q}, sum by (${by ? `${by}, ` : ''}le) (rate(${sel})))`;
}

function target(expr, legendFormat = '__auto') {
  return { expr, legendFormat };
}

/** A time series panel. `w` is its width out of 24. */
function ts(title, description, unit, targets, w = 12, extra = {}) {
  return { kind: 'timeseries', title, description, unit, targets, w, h: 8, ...extra };
}

function stat(title, description, unit, expr, extra = {}) {
  return { kind: 'stat', title, description, unit, targets: [target(expr, title)], w: 4, h: 4, ...extra };
}

function row(title) {
  return { kind: 'row', title };
}

function datasourceVariable() {
  return {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    current: {},
    hide: 0,
    includeAll: false,
    multi: false,
    options: [],
    refresh: 1,
    regex: '',
    skipUrlSync: false,
  };
}

/** A query variable over the label values of mcp_sessions_created_total (MCP nodes only). */
function labelVariable(name, label, multi) {
  const query = `label_values(mcp_sessions_created_total, ${name})`;
  return {
    name,
    label,
    type: 'query',
    datasource: { ...DS },
    definition: query,
    query: { qryType: 1, query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    current: {},
    hide: 0,
    includeAll: multi,
    multi,
    ...(multi ? { allValue: '.*' } : {}),
    options: [],
    refresh: 2,
    regex: '',
    skipUrlSync: false,
    sort: 1,
  };
}

function fieldConfig(p) {
  const defaults = { unit: p.unit, min: p.min ?? 0 };
  if (p.max !== undefined) defaults.max = p.max;
  if (p.kind === 'timeseries') {
    defaults.custom = {
      drawStyle: 'line',
      lineWidth: 1,
      fillOpacity: p.stack ? 60 : 10,
      showPoints: 'never',
      spanNulls: false,
      stacking: { mode: p.stack ? 'normal' : 'none', group: 'A' },
    };
  }
  defaults.color = { mode: p.kind === 'stat' ? 'thresholds' : 'palette-classic' };
  defaults.thresholds = { mode: 'absolute', steps: p.thresholds ?? [{ color: 'green', value: null }] };
  return { defaults, overrides: [] };
}

function options(p) {
  if (p.kind === 'stat') {
    return {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'value',
      graphMode: 'area',
      justifyMode: 'auto',
      orientation: 'auto',
      textMode: 'auto',
    };
  }
  return {
    legend: { displayMode: 'table', placement: 'bottom', showLegend: true, calcs: ['mean', 'max', 'lastNotNull'] },
    tooltip: { mode: 'multi', sort: 'desc' },
  };
}

/** Lays panels out left to right on Grafana's 24-column grid; a row starts a new line. */
function layout(specs) {
  const panels = [];
  let id = 1;
  let x = 0;
  let y = 0;
  let lineHeight = 0;
  const newline = () => {
    y += lineHeight;
    x = 0;
    lineHeight = 0;
  };
  for (const p of specs) {
    if (p.kind === 'row') {
      newline();
      panels.push({ id: id++, type: 'row', title: p.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
      y += 1;
      continue;
    }
    if (x + p.w > 24) newline();
    panels.push({
      id: id++,
      type: p.kind,
      title: p.title,
      description: p.description,
      datasource: { ...DS },
      gridPos: { h: p.h, w: p.w, x, y },
      fieldConfig: fieldConfig(p),
      options: options(p),
      targets: p.targets.map((t, i) => ({
        refId: String.fromCharCode(65 + i),
        datasource: { ...DS },
        editorMode: 'code',
        expr: t.expr,
        legendFormat: t.legendFormat,
        range: true,
        instant: false,
      })),
    });
    x += p.w;
    lineHeight = Math.max(lineHeight, p.h);
  }
  return panels;
}

function dashboard({ uid, title, description, multi, refresh, from, specs }) {
  return {
    uid,
    title,
    description,
    tags: ['mcp-storm'],
    editable: true,
    graphTooltip: 1,
    fiscalYearStartMonth: 0,
    liveNow: false,
    refresh,
    schemaVersion: 39,
    version: 1,
    time: { from, to: 'now' },
    timepicker: {},
    timezone: 'browser',
    weekStart: '',
    annotations: { list: [] },
    links: [
      {
        title: 'MCP dashboards',
        type: 'dashboards',
        tags: ['mcp-storm'],
        asDropdown: true,
        includeVars: true,
        keepTime: true,
        icon: 'external link',
        targetBlank: false,
        tooltip: '',
        url: '',
      },
    ],
    templating: { list: [datasourceVariable(), labelVariable('job', 'Job', false), labelVariable('instance', 'Node', multi)] },
    panels: layout(specs),
  };
}

const LAT = 's';

/** Per-client limits (MCP_RATE_LIMIT, MCP_MAX_SESSIONS_PER_PRINCIPAL): what they refuse, and how much of the traffic that is. */
const LIMITS_ROW = [
  row('Limits'),
  ts(
    'Refused by per-client limits',
    'Requests answered 429 by a per-client limit, per node: requests (over MCP_RATE_LIMIT / MCP_RATE_BURST) or sessions (an initialize beyond MCP_MAX_SESSIONS_PER_PRINCIPAL). Limits are per node; a sustained rate alerts (McpClientsRateLimited).',
    'reqps',
    [target(rate('mcp_rate_limited_total', 'instance, limit'), '{{instance}} {{limit}}')],
  ),
  ts(
    'Share of requests refused with 429',
    'Requests answered 429 over all requests on /mcp. A few clients over their budget show as a small share; a large one means the limits are too low for the real traffic, or one identity stands for many clients (a proxy not listed in MCP_TRUSTED_PROXIES).',
    'percentunit',
    [target(`(${rate('mcp_requests_total', '', 'status="429"')} or vector(0)) / ${rate('mcp_requests_total')}`, '429 share')],
    12,
    { max: 1 },
  ),
];

const overview = dashboard({
  uid: 'mcp-cluster-overview',
  title: 'MCP / Cluster overview',
  description: 'Every mcp-storm node: sessions, requests, latency, errors, streams, event-loop lag, cluster routing and registry health.',
  multi: true,
  refresh: '10s',
  from: 'now-1h',
  specs: [
    row('Cluster'),
    stat('Nodes up', 'Scrape targets answering /metrics.', 'none', `sum(up{${I}})`),
    stat('Nodes ready', 'Nodes whose /readyz answers 200 (not starting, not draining).', 'none', `sum(mcp_node_ready{${I}})`),
    stat('Active sessions', 'Live MCP sessions on the selected nodes.', 'none', `sum(mcp_sessions_active{${I}})`),
    stat('Sessions created/s', 'initialize answered with a new session.', 'ops', rate('mcp_sessions_created_total')),
    stat('Requests/s', 'Every request on /mcp (POST, GET, DELETE).', 'reqps', rate('mcp_requests_total')),
    stat('Open SSE streams', 'POST and GET streams currently open.', 'none', `sum(mcp_sse_streams_active{${I}})`),
    stat('Listen streams', 'Open 2026-07-28 subscriptions/listen streams.', 'none', `sum(mcp_listen_streams_active{${I}})`),
    stat(
      'Worst event-loop lag',
      'Highest mean event-loop delay of any thread (front or worker) since the last scrape.',
      LAT,
      `max(mcp_event_loop_lag_seconds{${I}})`,
      {
        thresholds: [
          { color: 'green', value: null },
          { color: 'orange', value: 0.05 },
          { color: 'red', value: 0.1 },
        ],
      },
    ),
    row('Sessions'),
    ts(
      'Active sessions per node',
      'Sum of live sessions over the workers of each node. Uneven lines mean the balancer is not spreading new sessions.',
      'none',
      [target(`sum by (instance) (mcp_sessions_active{${I}})`, '{{instance}}')],
      8,
    ),
    ts(
      'Session creation rate per node',
      'Sessions created per second. A spike on all nodes at once is a reconnection storm (deploy, node loss).',
      'ops',
      [target(rate('mcp_sessions_created_total', 'instance'), '{{instance}}')],
      8,
    ),
    ts(
      'Session closes by reason',
      'delete: client DELETE; idle: idle timeout; worker_died: a session worker crashed; shutdown: node drained.',
      'ops',
      [target(rate('mcp_sessions_closed_total', 'reason'), '{{reason}}')],
      8,
    ),
    row('Requests'),
    ts(
      'Request rate by method and status',
      'Requests per second on /mcp by JSON-RPC method (get/delete for those HTTP methods) and HTTP status.',
      'reqps',
      [target(rate('mcp_requests_total', 'method, status'), '{{method}} {{status}}')],
      24,
    ),
    ts('Latency p50 by method', 'Median time from a request arriving to its answer (or its SSE stream ending).', LAT, [
      target(quantile(0.5, 'mcp_request_duration_seconds', 'method'), '{{method}}'),
    ]),
    ts('Latency p99 by method', '99th percentile time from a request arriving to its answer (or its SSE stream ending).', LAT, [
      target(quantile(0.99, 'mcp_request_duration_seconds', 'method'), '{{method}}'),
    ]),
    ts(
      '4xx / 5xx responses',
      '404 is the designed answer to unknown or misrouted sessions (the client re-initializes); 503 means no worker was ready or the node is draining.',
      'reqps',
      [
        target(rate('mcp_requests_total', 'status', 'status=~"4.."'), '{{status}}'),
        target(`${rate('mcp_requests_total', '', 'status=~"5.."')} or vector(0)`, '5xx'),
      ],
    ),
    ts('Open SSE streams per node', 'POST response streams plus GET streams.', 'none', [
      target(`sum by (instance) (mcp_sse_streams_active{${I}})`, '{{instance}}'),
    ]),
    row('Protocol eras and listen streams'),
    ts(
      'Request rate by era',
      '2025: requests of the 2025 revisions (sessions, initialize, GET streams); 2026-07-28: stateless requests of the current revision (server/discover, tools/call ... and subscriptions/listen).',
      'reqps',
      [target(rate('mcp_requests_total', 'era'), '{{era}}')],
      8,
    ),
    ts(
      'Latency p99 by era',
      '99th percentile time from a request arriving to its answer, per protocol era (a listen stream counts when it ends).',
      LAT,
      [target(quantile(0.99, 'mcp_request_duration_seconds', 'era'), '{{era}}')],
      8,
    ),
    ts(
      'Listen streams per node',
      'Open 2026-07-28 subscriptions/listen streams. A node that drains ends its own at once; their clients listen again on the others.',
      'none',
      [target(`sum by (instance) (mcp_listen_streams_active{${I}})`, '{{instance}}')],
      8,
    ),
    ts(
      'Change events between nodes',
      "published: this node's list changes and resource updates sent on the Redis channel; received: other nodes' ones accepted and delivered to local listen streams; dropped: not sent (Redis down, queue full); rejected: messages on the channel that failed the cluster-secret check, were too old, replayed or malformed (someone else writes to Redis, or clocks are far apart).",
      'ops',
      [
        target(rate('mcp_cluster_events_published_total'), 'published'),
        target(rate('mcp_cluster_events_received_total'), 'received'),
        target(rate('mcp_cluster_events_dropped_total', 'reason'), 'dropped {{reason}}'),
        target(rate('mcp_cluster_events_rejected_total', 'reason'), 'rejected {{reason}}'),
      ],
      24,
    ),
    row('Authorization'),
    ts(
      'Auth failures by reason',
      'Requests refused by authorization (MCP_AUTH_ISSUER): missing (no token: a client that has not signed in yet), malformed, expired, not_yet_valid, bad_signature, wrong_issuer, wrong_audience (a token for another resource), unknown_key, introspection_inactive (revoked) answer 401; insufficient_scope answers 403; key_fetch_error and introspection_error (the authorization server could not be reached) answer 503. A burst alerts.',
      'reqps',
      [target(rate('mcp_auth_failures_total', 'reason'), '{{reason}}')],
      12,
    ),
    ts(
      'Share of requests refused by authorization, per node',
      'Refused requests (every reason: 401, 403, 503) over all requests on /mcp. A client signing in adds one refusal (its first, tokenless request); a steady share well above that means clients hold bad tokens.',
      'percentunit',
      [target(`${rate('mcp_auth_failures_total', 'instance')} / ${rate('mcp_requests_total', 'instance')}`, '{{instance}}')],
      12,
      { max: 1 },
    ),
    ts(
      'Binding refusals by kind',
      "Requests naming another principal's session, answered 404 as if it did not exist: post, get (a stream), resume (Last-Event-ID), delete; request_state: a 2026-07-28 requestState replayed by another principal (refused as a tampered one); listen: listen streams ended because their token expired. Any steady rate of the first five means a client holds session ids or states that are not its own.",
      'reqps',
      [target(rate('mcp_auth_binding_refusals_total', 'kind'), '{{kind}}')],
      24,
    ),
    row('Threads'),
    ts(
      'Event-loop lag (worst thread per node)',
      'Mean event-loop delay since the last scrape of the slowest thread of each node. Above 100 ms for a minute alerts.',
      LAT,
      [target(`max by (instance) (mcp_event_loop_lag_seconds{${I}})`, '{{instance}}')],
    ),
    ts(
      'Worker pool utilization per node',
      'Share of time the session workers were busy (event-loop utilization).',
      'percentunit',
      [target(`avg by (instance) (mcp_worker_pool_utilization{${I}})`, '{{instance}}')],
      12,
      { max: 1 },
    ),
    ...LIMITS_ROW,
    row('Cluster routing and registry'),
    ts(
      'Misroutes and unknown sessions',
      'misroute: the registry says the session lives on another node; unknown: no node knows it. Both are answered 404 (or forwarded).',
      'reqps',
      [
        target(rate('mcp_session_misroutes_total', 'instance'), 'misroute {{instance}}'),
        target(rate('mcp_session_unknown_total', 'instance'), 'unknown {{instance}}'),
      ],
      8,
    ),
    ts(
      'Forwarded requests',
      'Requests forwarded to the node that owns their session (cookie-less clients on the wrong node).',
      'reqps',
      [target(rate('mcp_forwarded_requests_total', 'instance'), '{{instance}}')],
      8,
    ),
    ts(
      'Relayed share of /mcp requests',
      'Requests a node relayed to the owner of their session, over all /mcp requests the nodes answered (a relayed request is answered once, by its owner). A balancer that routes on the owner tag of Mcp-Session-Id keeps this near 0; round robin over N nodes without cookies gives about (N-1)/N.',
      'percentunit',
      [target(`${rate('mcp_forwarded_requests_total')} / ${rate('mcp_requests_total')}`, 'relayed share')],
      8,
      { max: 1 },
    ),
    ts(
      'Forwarded requests by reason',
      'Why a request reached a node other than its owner, from the route mark the balancer sets (x-mcp-route): no_tag (the balancer did not route on the owner tag), owner_unroutable (it did, but the owner was out of its rotation: draining, starting, failing /readyz), stale_route (it followed a sticky cookie naming another node), handoff (an initialize a draining node passed to a peer).',
      'reqps',
      [target(rate('mcp_forwarded_by_reason_total', 'reason'), '{{reason}}')],
      8,
    ),
    ts(
      'Registry drops and degraded lookups',
      'dropped: registry writes lost because the bounded queue was full (Redis slow or down); degraded: misroute checks answered locally because Redis was unreachable.',
      'ops',
      [
        target(rate('mcp_registry_dropped_total', 'instance'), 'dropped {{instance}}'),
        target(rate('mcp_registry_lookup_degraded_total', 'instance'), 'degraded {{instance}}'),
      ],
      8,
    ),
    ts(
      'Forwarding failures',
      'Forwards not relayed, by reason: bad_header (400, header bytes Node cannot send), owner_busy (503, MCP_FORWARD_MAX_PER_OWNER / _STREAMS_PER_OWNER reached), connect_timeout / response_timeout / error (502), refused (404, the owner is gone); auth_rejected: node-to-node auth headers that did not verify (forged, stale, replayed).',
      'ops',
      [
        target(rate('mcp_forward_failures_total', 'reason'), '{{reason}}'),
        target(rate('mcp_forward_auth_rejected_total'), 'auth_rejected'),
      ],
      12,
    ),
    ts(
      'Directory and registry faults',
      'reaped: dead nodes whose session keys this node removed; invalid_address: directory entries whose address failed the peer rule (MCP_PEER_ALLOW); write failures: registry writes Redis refused (e.g. SETs at maxmemory with noeviction), re-queued.',
      'ops',
      [
        target(rate('mcp_cluster_nodes_reaped_total'), 'reaped'),
        target(rate('mcp_cluster_peer_address_invalid_total'), 'invalid_address'),
        target(rate('mcp_registry_write_failures_total', 'op'), 'write failures {{op}}'),
      ],
      12,
    ),
  ],
});

const node = dashboard({
  uid: 'mcp-node-detail',
  title: 'MCP / Node detail',
  description: 'One mcp-storm node: workers, threads, tools, SSE, memory and CPU.',
  multi: false,
  refresh: '10s',
  from: 'now-1h',
  specs: [
    row('Node'),
    stat('Up', '1 when Prometheus scrapes the node.', 'none', `sum(up{${I}})`, {
      thresholds: [
        { color: 'red', value: null },
        { color: 'green', value: 1 },
      ],
    }),
    stat('Ready', '1 when /readyz answers 200; 0 while starting or draining.', 'none', `sum(mcp_node_ready{${I}})`, {
      thresholds: [
        { color: 'red', value: null },
        { color: 'green', value: 1 },
      ],
    }),
    stat('Node', 'NODE_ID and version of this node (mcp_node_info).', 'none', `max by (node, version) (mcp_node_info{${I}})`, {
      targets: [target(`max by (node, version) (mcp_node_info{${I}})`, '{{node}} {{version}}')],
    }),
    stat('Active sessions', 'Live MCP sessions on this node.', 'none', `sum(mcp_sessions_active{${I}})`),
    stat('Open SSE streams', 'POST and GET streams currently open.', 'none', `sum(mcp_sse_streams_active{${I}})`),
    stat(
      'Worker pool utilization',
      'Share of time the session workers were busy.',
      'percentunit',
      `avg(mcp_worker_pool_utilization{${I}})`,
      { max: 1 },
    ),
    stat('Resident memory', 'Process RSS (front and workers share one process).', 'bytes', `sum(process_resident_memory_bytes{${I}})`),
    stat(
      'File descriptors used',
      'Open descriptors / limit. Every socket and SSE stream holds one.',
      'percentunit',
      `sum(process_open_fds{${I}}) / sum(process_max_fds{${I}})`,
      {
        max: 1,
        thresholds: [
          { color: 'green', value: null },
          { color: 'orange', value: 0.7 },
          { color: 'red', value: 0.85 },
        ],
      },
    ),
    stat(
      'Clock offset from Prometheus',
      "How far the node's clock was from Prometheus' at the last scrape, either way. Nodes check a requestState's expiry and tokens' times against their own clocks; McpNodeClockSkew fires past 10 s.",
      's',
      `max(abs(mcp_node_time_seconds{${I}} - timestamp(mcp_node_time_seconds{${I}})))`,
      {
        thresholds: [
          { color: 'green', value: null },
          { color: 'orange', value: 10 },
        ],
      },
    ),
    row('Workers and threads'),
    ts(
      'Sessions per worker',
      'Live sessions in each session worker. New sessions go to the least-loaded worker, so the lines should stay close.',
      'none',
      [target(`sum by (worker) (mcp_sessions_active{${I}})`, 'worker {{worker}}')],
      8,
    ),
    ts(
      'Worker pool utilization',
      'Share of time the session workers were busy (event-loop utilization, 0..1).',
      'percentunit',
      [target(`avg(mcp_worker_pool_utilization{${I}})`, 'utilization')],
      8,
      { max: 1 },
    ),
    ts(
      'Event-loop lag per thread',
      'Mean event-loop delay since the last scrape: front (uWS, routing) and each worker.',
      LAT,
      [target(`max by (thread) (mcp_event_loop_lag_seconds{${I}})`, '{{thread}}')],
      8,
    ),
    ts(
      'Worker faults',
      "Contained in the worker: uncaught exceptions, unhandled rejections, handler timeouts (MCP_HANDLER_TIMEOUT_MS), unserializable results. Stalls: event loop blocked past MCP_WORKER_STALL_MS/2. Restarts: workers replaced (stall, heap_limit = MCP_WORKER_MAX_HEAP_MB, died); each costs that worker's sessions (404, clients re-initialize).",
      'ops',
      [
        target(rate('mcp_worker_errors_total', 'kind'), '{{kind}}'),
        target(rate('mcp_worker_stalls_total'), 'stall'),
        target(rate('mcp_worker_restarts_total', 'reason'), 'restart {{reason}}'),
      ],
      24,
    ),
    row('Tools'),
    ts(
      'Tool calls by tool and outcome',
      'tools/call handled by the session workers; outcome=error counts isError results and thrown handlers.',
      'ops',
      [target(rate('mcp_tool_calls_total', 'tool, outcome'), '{{tool}} {{outcome}}')],
    ),
    ts('Tool duration p50 / p99 by tool', 'Tool handler run time inside the session worker.', LAT, [
      target(quantile(0.5, 'mcp_tool_duration_seconds', 'tool'), 'p50 {{tool}}'),
      target(quantile(0.99, 'mcp_tool_duration_seconds', 'tool'), 'p99 {{tool}}'),
    ]),
    row('Requests'),
    ts(
      'Requests by method and status',
      'Requests per second on /mcp on this node.',
      'reqps',
      [target(rate('mcp_requests_total', 'method, status'), '{{method}} {{status}}')],
      8,
    ),
    ts(
      'Latency p99 by method',
      '99th percentile time to answer, by JSON-RPC method.',
      LAT,
      [target(quantile(0.99, 'mcp_request_duration_seconds', 'method'), '{{method}}')],
      8,
    ),
    ts(
      'Session closes by reason',
      'Why sessions ended on this node.',
      'ops',
      [target(rate('mcp_sessions_closed_total', 'reason'), '{{reason}}')],
      8,
    ),
    row('SSE'),
    ts('Open SSE streams', 'POST response streams plus GET streams on this node.', 'none', [
      target(`sum(mcp_sse_streams_active{${I}})`, 'streams'),
    ]),
    ts('Requests in flight', 'POSTs waiting for their answer (a drain waits for them, up to MCP_DRAIN_WINDOW_MS).', 'none', [
      target(`sum(mcp_requests_in_flight{${I}})`, 'in flight'),
    ]),
    ts(
      'SSE backpressure and dropped streams',
      'backpressure: writes that met a full socket buffer; dropped: streams closed because a slow reader exceeded MCP_SSE_MAX_BUFFERED (the client may resume).',
      'ops',
      [target(rate('mcp_sse_backpressure_total'), 'backpressure'), target(rate('mcp_sse_dropped_total'), 'dropped')],
    ),
    row('Process'),
    ts(
      'Memory',
      'RSS covers the front and all worker threads; heap figures are the front thread only.',
      'bytes',
      [
        target(`sum(process_resident_memory_bytes{${I}})`, 'rss'),
        target(`sum(nodejs_heap_size_used_bytes{${I}})`, 'front heap used'),
        target(`sum(nodejs_heap_size_total_bytes{${I}})`, 'front heap total'),
        target(`sum(nodejs_external_memory_bytes{${I}})`, 'front external'),
      ],
      8,
    ),
    ts(
      'CPU',
      'CPU seconds per second of the whole process (1 = one core).',
      'percentunit',
      [target(rate('process_cpu_user_seconds_total'), 'user'), target(rate('process_cpu_system_seconds_total'), 'system')],
      8,
      { stack: true },
    ),
    ts(
      'File descriptors',
      'Open descriptors against the limit: each socket and SSE stream holds one.',
      'none',
      [target(`sum(process_open_fds{${I}})`, 'open'), target(`sum(process_max_fds{${I}})`, 'limit')],
      8,
    ),
    ts(
      'Internal errors by where',
      'Unexpected errors the front caught: each failed only its own request (500) or was a process-level fault, and the node went on. Should stay 0; any rise is a bug: see the log lines "internal error".',
      'ops',
      [target(rate('mcp_internal_errors_total', 'where'), '{{where}}')],
    ),
  ],
});

const storm = dashboard({
  uid: 'mcp-reconnect-storm',
  title: 'MCP / Reconnection storm',
  description:
    'What a deploy or a node loss looks like: clients get 404, re-initialize on another node, the registry absorbs a burst of writes.',
  multi: true,
  refresh: '5s',
  from: 'now-15m',
  specs: [
    row('Storm'),
    stat('Nodes up', 'Scrape targets answering /metrics.', 'none', `sum(up{${I}})`),
    stat('Sessions created/s', 'initialize answered with a new session, all selected nodes.', 'ops', rate('mcp_sessions_created_total')),
    stat('404/s', 'Requests answered 404: unknown, closed or misrouted sessions.', 'reqps', rate('mcp_requests_total', '', 'status="404"')),
    stat('Misroutes/s', 'Requests for sessions the registry places on another node.', 'reqps', rate('mcp_session_misroutes_total')),
    stat('Forwarded/s', 'Requests forwarded to the owning node.', 'reqps', rate('mcp_forwarded_requests_total')),
    stat('Registry queue', 'Registry writes waiting to be flushed, all selected nodes.', 'none', `sum(mcp_registry_queue_depth{${I}})`),
    ts('Ready nodes', 'Per node: 1 ready, 0 starting or draining. A rolling restart shows as a walk of dips.', 'none', [
      target(`sum by (instance) (mcp_node_ready{${I}})`, '{{instance}}'),
    ]),
    ts('Session creation rate', 'Sessions created per second per node; the total line is the storm.', 'ops', [
      target(rate('mcp_sessions_created_total', 'instance'), '{{instance}}'),
      target(rate('mcp_sessions_created_total'), 'total'),
    ]),
    ts('initialize latency p50 / p99', 'Time to answer initialize: the cost a reconnecting client pays.', LAT, [
      target(quantile(0.5, 'mcp_request_duration_seconds', '', 'method="initialize"'), 'p50'),
      target(quantile(0.99, 'mcp_request_duration_seconds', '', 'method="initialize"'), 'p99'),
    ]),
    ts(
      '404s, misroutes and unknown sessions',
      '404 per node, split by cause: misroute (session lives on another node) or unknown (no node knows it).',
      'reqps',
      [
        target(rate('mcp_requests_total', 'instance', 'status="404"'), '404 {{instance}}'),
        target(rate('mcp_session_misroutes_total', 'instance'), 'misroute {{instance}}'),
        target(rate('mcp_session_unknown_total', 'instance'), 'unknown {{instance}}'),
      ],
    ),
    ts('Forwarded requests', 'Requests forwarded to the node that owns their session.', 'reqps', [
      target(rate('mcp_forwarded_requests_total', 'instance'), '{{instance}}'),
    ]),
    ts(
      'Session closes by reason',
      'shutdown and worker_died mark the start of a storm; delete and idle are normal churn.',
      'ops',
      [target(rate('mcp_sessions_closed_total', 'reason'), '{{reason}}')],
      8,
    ),
    ts(
      'Active sessions per node',
      'Sessions move off a draining node and pile onto the others.',
      'none',
      [target(`sum by (instance) (mcp_sessions_active{${I}})`, '{{instance}}')],
      8,
    ),
    ts(
      'Open SSE streams per node',
      'GET streams drop with their node and reopen after re-initialize.',
      'none',
      [target(`sum by (instance) (mcp_sse_streams_active{${I}})`, '{{instance}}')],
      8,
    ),
    row('Registry'),
    ts(
      'Registry batch size',
      'Commands per registry pipeline flush: larger batches under a storm mean the batching is absorbing it. Empty with the in-memory registry.',
      'none',
      [
        target(quantile(0.5, 'mcp_registry_batch_size'), 'p50'),
        target(quantile(0.99, 'mcp_registry_batch_size'), 'p99'),
        target(`sum(rate(mcp_registry_batch_size_sum{${I}}[${RI}])) / sum(rate(mcp_registry_batch_size_count{${I}}[${RI}]))`, 'avg'),
      ],
      8,
    ),
    ts('Registry flushes', 'Pipeline flushes per second.', 'ops', [target(rate('mcp_registry_batch_size_count'), 'flushes')], 8),
    ts(
      'Registry flush duration p50 / p99',
      'Time for one pipeline flush to Redis.',
      LAT,
      [
        target(quantile(0.5, 'mcp_registry_flush_duration_seconds'), 'p50'),
        target(quantile(0.99, 'mcp_registry_flush_duration_seconds'), 'p99'),
      ],
      8,
    ),
    ts(
      'Registry queue depth',
      'Writes waiting to be flushed, per node. It grows while Redis is slow or down and is bounded by MCP_REGISTRY_QUEUE_MAX.',
      'none',
      [target(`max by (instance) (mcp_registry_queue_depth{${I}})`, '{{instance}}')],
    ),
    ts(
      'Registry drops and degraded lookups',
      'dropped: writes lost because the queue was full (oldest first; sessions keep working); degraded: misroute checks answered locally because Redis was unreachable.',
      'ops',
      [
        target(rate('mcp_registry_dropped_total', 'instance'), 'dropped {{instance}}'),
        target(rate('mcp_registry_lookup_degraded_total', 'instance'), 'degraded {{instance}}'),
      ],
    ),
  ],
});

export const DASHBOARDS = Object.freeze({
  'cluster-overview.json': overview,
  'node-detail.json': node,
  'reconnect-storm.json': storm,
});

export function render(d) {
  return `${JSON.stringify(d, null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  let stale = 0;
  mkdirSync(OUT, { recursive: true });
  for (const [file, d] of Object.entries(DASHBOARDS)) {
    const text = render(d);
    if (check) {
      let current = '';
      try {
        current = readFileSync(OUT + file, 'utf8');
      } catch {
        // No file yet: it is stale.
      }
      if (current !== text) {
        console.error(`grafana/dashboards/${file} is stale: run node grafana/generate.mjs`);
        stale++;
      }
    } else {
      writeFileSync(OUT + file, text);
    }
  }
  process.exit(stale ? 1 : 0);
}
