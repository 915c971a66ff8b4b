/**
 * The node's metrics. Per-request updates go to allocation-free hot metrics (hot.ts); rare events use
 * prom-client directly. Labels are closed lists (JSON-RPC methods, status codes, close reasons), never
 * session ids or raw paths. Worker threads keep their own metrics; the front merges them on scrape.
 */
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { RegistryObserver } from '../registry/registry.js';
import { HotCounter, HotHistogram } from './hot.js';
import { RESTART_REASONS } from '../pool/pool.js';
import { EVENT_DROPS, EVENT_REJECTIONS, type EventsObserver } from '../cluster/events.js';
import { AUTH_FAILURES } from '../auth/failures.js';
import { BINDING_HELP, BINDING_KINDS } from '../auth/binding.js';

export const METHODS = [
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/read',
  'resources/templates/list',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'notification',
  'response',
  'batch',
  'get',
  'delete',
  'server/discover',
  'subscriptions/listen',
  'other',
] as const;
const METHOD_INDEX = new Map<string, number>(METHODS.map((m, i) => [m, i]));
export const M_OTHER = METHODS.length - 1;
export const M_INIT = 0;
export const M_NOTIFICATION = METHODS.indexOf('notification');
export const M_RESPONSE = METHODS.indexOf('response');
export const M_BATCH = METHODS.indexOf('batch');
export const M_GET = METHODS.indexOf('get');
export const M_DELETE = METHODS.indexOf('delete');

export function methodIndex(method: unknown): number {
  return typeof method === 'string' ? (METHOD_INDEX.get(method) ?? M_OTHER) : M_OTHER;
}

/**
 * The protocol era of a request (label `era` of the request metrics): a 2025 revision (sessions) or
 * the stateless 2026-07-28 one. The era is the leading label, so a method index plus ERA_MODERN names
 * the same method in the modern era: the era rides in the number the front already carries per
 * request, and counting it costs nothing more.
 */
export const ERAS = ['2025', '2026-07-28'] as const;
export const ERA_MODERN = METHODS.length;

/** methodIndex of a 2026-07-28 request. */
export function modernMethodIndex(method: unknown): number {
  return ERA_MODERN + methodIndex(method);
}

const STATUSES = [
  '200',
  '202',
  '400',
  '401',
  '403',
  '404',
  '405',
  '406',
  '409',
  '413',
  '415',
  '429',
  '500',
  '502',
  '503',
  'other',
] as const;
const STATUS_INDEX = new Map<number, number>(STATUSES.slice(0, -1).map((s, i) => [Number(s), i]));
const S_OTHER = STATUSES.length - 1;

export const CLOSE_REASONS = ['delete', 'idle', 'worker_died', 'shutdown', 'init_failed', 'other'] as const;
const REASON_INDEX = new Map<string, number>(CLOSE_REASONS.map((r, i) => [r, i]));

/**
 * Where an unexpected error was caught (mcp_internal_errors_total{where}): a route handler of the
 * front, one of its asynchronous continuations, the worker-message dispatch, or the process-level
 * last resort (uncaughtException / unhandledRejection).
 */
export const INTERNAL_ERROR_SITES = [
  'post',
  'get',
  'delete',
  'method_not_allowed',
  'health',
  'ready',
  'not_found',
  'resource_metadata',
  'body',
  'forward',
  'registry',
  'worker_message',
  'metrics',
  'process',
] as const;
export type InternalErrorSite = (typeof INTERNAL_ERROR_SITES)[number];
/** Why an initialize was refused before any session existed (index = label value position). */
export const REJECT_REASONS = ['max_sessions', 'client_state_too_large'] as const;
export const R_MAX_SESSIONS = 0;
export const R_CLIENT_STATE = 1;
/** Why a forward was not relayed (label values of mcp_forward_failures_total). */
export const FORWARD_FAILURES = ['bad_header', 'owner_busy', 'connect_timeout', 'response_timeout', 'refused', 'error'] as const;
export type ForwardFailure = (typeof FORWARD_FAILURES)[number];
/**
 * Why a forwarded request reached a node other than its session's owner (label values of
 * mcp_forwarded_by_reason_total), from the route mark the load balancer sets (`x-mcp-route`, which it
 * strips from clients) and the node's own state:
 * - no_tag: no mark; the balancer did not route on the session id's owner tag (it does not, or its
 *   node table lacks the owner) and followed no sticky cookie it reports;
 * - owner_unroutable: mark `owner`; the balancer read the tag and knows the owner, but the owner was out
 *   of its rotation (failing /readyz: draining, just started) while this node's directory holds it alive;
 * - stale_route: mark `cookie`; the balancer followed the client's sticky cookie, which names another
 *   node (a session handed over during a drain, a cookie from an earlier session), without owner routing;
 * - handoff: an initialize a draining node handed to a live peer.
 */
export const FORWARD_REASONS = ['no_tag', 'owner_unroutable', 'stale_route', 'handoff'] as const;
export const FR_NO_TAG = 0;
export const FR_OWNER_UNROUTABLE = 1;
export const FR_STALE_ROUTE = 2;
export const FR_HANDOFF = 3;
/** Which per-client limit refused a request (label values of mcp_rate_limited_total). */
export const RATE_LIMITS = ['requests', 'sessions'] as const;
export const RL_REQUESTS = 0;
export const RL_SESSIONS = 1;

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new HotCounter(
    'mcp_requests_total',
    'HTTP requests on /mcp by protocol era, JSON-RPC method and HTTP status',
    ['era', 'method', 'status'],
    [ERAS, METHODS, STATUSES],
  );
  readonly requestDuration = new HotHistogram(
    'mcp_request_duration_seconds',
    'Time from a request arriving to its answer (or its SSE stream ending), by protocol era and JSON-RPC method',
    LATENCY_BUCKETS,
    ['era', 'method'],
    [ERAS, METHODS],
  );
  readonly sessionsCreated = new HotCounter('mcp_sessions_created_total', 'MCP sessions created on this node');
  readonly sessionsClosed = new HotCounter(
    'mcp_sessions_closed_total',
    'MCP sessions closed on this node, by reason',
    ['reason'],
    [CLOSE_REASONS],
  );
  readonly sessionsRejected = new HotCounter(
    'mcp_sessions_rejected_total',
    'Initializes refused before a session was created, by reason',
    ['reason'],
    [REJECT_REASONS],
  );
  readonly misroutes = new HotCounter('mcp_session_misroutes_total', 'Requests for sessions that live on another node (registry says so)');
  readonly unknown = new HotCounter('mcp_session_unknown_total', 'Requests for sessions that no node knows');
  readonly forwarded = new HotCounter('mcp_forwarded_requests_total', 'Requests forwarded to the node that owns the session');
  readonly forwardedByReason = new HotCounter(
    'mcp_forwarded_by_reason_total',
    'Requests forwarded to another node, by why they reached this one (sums to mcp_forwarded_requests_total)',
    ['reason'],
    [FORWARD_REASONS],
    true,
  );
  readonly sseBackpressure = new HotCounter('mcp_sse_backpressure_total', 'SSE writes that met socket backpressure');
  readonly sseDropped = new HotCounter('mcp_sse_dropped_total', 'SSE streams dropped because the reader was too slow');
  readonly rateLimited = new HotCounter(
    'mcp_rate_limited_total',
    'Requests refused with 429 by a per-client limit, by limit (requests: MCP_RATE_LIMIT; sessions: MCP_MAX_SESSIONS_PER_PRINCIPAL)',
    ['limit'],
    [RATE_LIMITS],
    true,
  );
  /** Counted on the request path: a flood of bad tokens must cost no allocation here. */
  readonly authFailures = new HotCounter(
    'mcp_auth_failures_total',
    'Requests refused by authorization, by reason (401 invalid or missing token, 403 insufficient_scope, 503 key_fetch_error / introspection_error)',
    ['reason'],
    [AUTH_FAILURES],
    true,
  );
  /** Binding refusals (authorization on): another principal's session, requestState or an expired listen stream. */
  readonly bindingRefusals = new HotCounter('mcp_auth_binding_refusals_total', BINDING_HELP, ['kind'], [BINDING_KINDS], true);
  readonly sseStreams: Gauge;
  readonly listenStreams: Gauge;
  readonly eventsPublished: Counter;
  readonly eventsReceived: Counter;
  readonly eventsRejected: Counter<'reason'>;
  readonly eventsDropped: Counter<'reason'>;
  readonly requestsInFlight: Gauge;
  readonly sessionsActive: Gauge<'worker'>;
  readonly poolUtilization: Gauge;
  readonly eventLoopLag: Gauge<'thread'>;
  readonly registryBatchSize: Histogram;
  readonly registryFlushDuration: Histogram;
  readonly registryQueueDepth: Gauge;
  readonly registryDropped: Counter;
  readonly registryDegraded: Counter;
  readonly internalErrors: Counter<'where'>;
  readonly workerStalls: Counter;
  readonly workerRestarts: Counter<'reason'>;
  readonly registryWriteFailures: Counter<'op'>;
  readonly forwardFailures: Counter<'reason'>;
  readonly forwardAuthRejected: Counter;
  readonly peerAddressInvalid: Counter;
  readonly nodesReaped: Counter;

  readonly nodeReady: Gauge;
  readonly nodeTime: Gauge;
  readonly nodeInfo: Gauge<'node' | 'version'>;

  constructor(
    readonly enabled: boolean,
    sseStreamCount: () => number,
    ready: () => boolean,
    nodeId = '',
    version = '',
    listenStreamCount: () => number = () => 0,
  ) {
    const registers = [this.registry];
    if (enabled) collectDefaultMetrics({ register: this.registry });
    for (const m of [
      this.requests,
      this.requestDuration,
      this.sessionsCreated,
      this.sessionsClosed,
      this.sessionsRejected,
      this.misroutes,
      this.unknown,
      this.forwarded,
      this.forwardedByReason,
      this.sseBackpressure,
      this.sseDropped,
      this.rateLimited,
      this.authFailures,
      this.bindingRefusals,
    ]) {
      this.registry.registerMetric(m as unknown as Metric);
    }
    this.sseStreams = new Gauge({
      name: 'mcp_sse_streams_active',
      help: 'Open SSE streams (POST and GET) on this node',
      registers,
      collect() {
        this.set(sseStreamCount());
      },
    });
    this.listenStreams = new Gauge({
      name: 'mcp_listen_streams_active',
      help: 'Open 2026-07-28 subscriptions/listen streams on this node (also counted in mcp_sse_streams_active)',
      registers,
      collect() {
        this.set(listenStreamCount());
      },
    });
    this.eventsPublished = new Counter({
      name: 'mcp_cluster_events_published_total',
      help: "Change announcements of this node's workers published to the other nodes (Redis pub/sub)",
      registers,
    });
    this.eventsReceived = new Counter({
      name: 'mcp_cluster_events_received_total',
      help: "Other nodes' change announcements accepted and delivered to this node's listen streams",
      registers,
    });
    this.eventsRejected = new Counter({
      name: 'mcp_cluster_events_rejected_total',
      help: 'Messages on the change channel refused, by reason (invalid: not signed with the cluster secret; stale: outside the time window; replayed; malformed; too_large)',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of EVENT_REJECTIONS) this.eventsRejected.inc({ reason }, 0);
    this.eventsDropped = new Counter({
      name: 'mcp_cluster_events_dropped_total',
      help: 'Change announcements not published to the other nodes, by reason (redis_down, queue_full, publish_failed, too_large); local listen streams got them',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of EVENT_DROPS) this.eventsDropped.inc({ reason }, 0);
    this.requestsInFlight = new Gauge({
      name: 'mcp_requests_in_flight',
      help: 'POSTs carrying requests that wait for their answer on this node (a drain waits for them)',
      registers,
    });
    this.nodeReady = new Gauge({
      name: 'mcp_node_ready',
      help: '1 while /readyz answers 200; 0 while the node starts or drains',
      registers,
      collect() {
        this.set(ready() ? 1 : 0);
      },
    });
    // node_exporter's node_time_seconds for this node: the clock the counters of this scrape were read
    // at. Rates over it are exact however late the scrape's answer arrives, and it shows clock skew
    // between nodes (a requestState's expiry is checked against another node's clock).
    this.nodeTime = new Gauge({
      name: 'mcp_node_time_seconds',
      help: "The node's wall clock when this scrape was taken (seconds since the epoch)",
      registers,
      collect() {
        this.set(Date.now() / 1000);
      },
    });
    this.nodeInfo = new Gauge({
      name: 'mcp_node_info',
      help: 'Always 1; labels name the node (NODE_ID) and the runtime version',
      labelNames: ['node', 'version'],
      registers,
    });
    this.nodeInfo.set({ node: nodeId, version }, 1);
    this.sessionsActive = new Gauge({
      name: 'mcp_sessions_active',
      help: 'Live MCP sessions, by session worker',
      labelNames: ['worker'],
      registers,
    });
    this.poolUtilization = new Gauge({
      name: 'mcp_worker_pool_utilization',
      help: 'Share of time the session workers were busy (event-loop utilization, 0..1)',
      registers,
    });
    this.eventLoopLag = new Gauge({
      name: 'mcp_event_loop_lag_seconds',
      help: 'Mean event-loop delay since the last scrape, front and each worker',
      labelNames: ['thread'],
      registers,
    });
    this.registryBatchSize = new Histogram({
      name: 'mcp_registry_batch_size',
      help: 'Commands per registry pipeline flush',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
      registers,
    });
    this.registryFlushDuration = new Histogram({
      name: 'mcp_registry_flush_duration_seconds',
      help: 'Time for one registry pipeline flush',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.registryQueueDepth = new Gauge({ name: 'mcp_registry_queue_depth', help: 'Registry writes waiting to be flushed', registers });
    this.registryDropped = new Counter({
      name: 'mcp_registry_dropped_total',
      help: 'Registry writes dropped because the write queue was full',
      registers,
    });
    this.registryDegraded = new Counter({
      name: 'mcp_registry_lookup_degraded_total',
      help: 'Misroute checks answered local-only because the registry was unreachable',
      registers,
    });
    this.internalErrors = new Counter({
      name: 'mcp_internal_errors_total',
      help: 'Unexpected errors caught in the front (answered 500 when a response was still open), by where they were caught',
      labelNames: ['where'],
      registers,
    });
    // Every site is exported from the start (at 0), so an alert can use increase() on any of them.
    for (const where of INTERNAL_ERROR_SITES) this.internalErrors.inc({ where }, 0);
    this.workerStalls = new Counter({
      name: 'mcp_worker_stalls_total',
      help: 'Session workers whose event loop was blocked past MCP_WORKER_STALL_MS/2 (taken out of placement)',
      registers,
    });
    this.workerRestarts = new Counter({
      name: 'mcp_worker_restarts_total',
      help: 'Session workers replaced, by reason (stall: watchdog; heap_limit: MCP_WORKER_MAX_HEAP_MB; died: the thread ended otherwise)',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of RESTART_REASONS) this.workerRestarts.inc({ reason }, 0);
    this.registryWriteFailures = new Counter({
      name: 'mcp_registry_write_failures_total',
      help: 'Registry writes Redis refused or did not acknowledge (re-queued), by operation (set: a session registered; del: a session removed)',
      labelNames: ['op'],
      registers,
    });
    this.forwardFailures = new Counter({
      name: 'mcp_forward_failures_total',
      help: 'Forwarded requests not relayed, by reason (bad_header 400, owner_busy 503, connect_timeout/response_timeout/error 502, refused 404)',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of FORWARD_FAILURES) this.forwardFailures.inc({ reason }, 0);
    this.registryWriteFailures.inc({ op: 'set' }, 0);
    this.registryWriteFailures.inc({ op: 'del' }, 0);
    this.forwardAuthRejected = new Counter({
      name: 'mcp_forward_auth_rejected_total',
      help: 'Requests whose node-to-node auth header did not verify (forged, stale or replayed): treated as clients',
      registers,
    });
    this.peerAddressInvalid = new Counter({
      name: 'mcp_cluster_peer_address_invalid_total',
      help: 'Node directory entries whose address failed validation (the node is treated as unreachable)',
      registers,
    });
    this.nodesReaped = new Counter({
      name: 'mcp_cluster_nodes_reaped_total',
      help: 'Dead nodes whose session keys this node removed',
      registers,
    });
  }

  forwardFailed(reason: ForwardFailure): void {
    this.forwardFailures.inc({ reason });
  }

  /** One answered request on /mcp. `started` is a performance.now() reading, or < 0 for none. */
  request(method: number, status: number, started: number): void {
    if (!this.enabled) return;
    this.requests.inc(method * STATUSES.length + (STATUS_INDEX.get(status) ?? S_OTHER));
    if (started >= 0) this.requestDuration.observe(method, (performance.now() - started) / 1000);
  }

  sessionClosed(reason: string): void {
    this.sessionsClosed.inc(REASON_INDEX.get(reason) ?? CLOSE_REASONS.length - 1);
  }

  registryObserver(): RegistryObserver {
    return {
      flushed: (size, seconds) => {
        this.registryBatchSize.observe(size);
        this.registryFlushDuration.observe(seconds);
      },
      queueDepth: (depth) => this.registryQueueDepth.set(depth),
      dropped: (count) => this.registryDropped.inc(count),
      degraded: () => this.registryDegraded.inc(),
      failed: (op, count) => this.registryWriteFailures.inc({ op }, count),
    };
  }

  eventsObserver(): EventsObserver {
    return {
      published: () => this.eventsPublished.inc(),
      received: () => this.eventsReceived.inc(),
      rejected: (reason) => this.eventsRejected.inc({ reason }),
      dropped: (reason, count) => this.eventsDropped.inc({ reason }, count),
    };
  }

  /** The exposition: this thread's metrics merged with the workers' (already JSON). */
  async text(workerMetrics: unknown[][]): Promise<string> {
    if (workerMetrics.length === 0) return this.registry.metrics();
    const own = await this.registry.getMetricsAsJSON();
    const merged = AggregatorRegistry.aggregate([own, ...workerMetrics] as never);
    return merged.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
