/**
 * Front-thread metrics. Label values are fixed sets (method names from a closed list, status codes),
 * never session ids or raw paths. Counters with labels are bound once, so the hot path only adds.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RegistryObserver } from '../registry/registry.js';

const KNOWN_METHODS = [
  'initialize', 'ping', 'tools/list', 'tools/call', 'resources/list', 'resources/read', 'resources/templates/list',
  'resources/subscribe', 'resources/unsubscribe', 'prompts/list', 'prompts/get', 'completion/complete',
  'logging/setLevel', 'notification', 'response', 'batch', 'other',
];
const METHOD_SET = new Set(KNOWN_METHODS);

export function methodLabel(method: unknown): string {
  return typeof method === 'string' && METHOD_SET.has(method) ? method : 'other';
}

export class Metrics {
  readonly registry = new Registry();
  readonly sessionsCreated: Counter;
  readonly sessionsClosed: Counter<'reason'>;
  readonly sseStreams: Gauge;
  readonly requests: Counter<'method' | 'status'>;
  readonly requestDuration: Histogram<'method'>;
  readonly misroutes: Counter;
  readonly unknown: Counter;
  readonly forwarded: Counter;
  readonly sseBackpressure: Counter;
  readonly sseDropped: Counter;
  readonly sessionsActive: Gauge<'worker'>;
  readonly poolUtilization: Gauge;
  readonly eventLoopLag: Gauge<'thread'>;
  readonly registryBatchSize: Histogram;
  readonly registryFlushDuration: Histogram;
  readonly registryQueueDepth: Gauge;
  readonly registryDropped: Counter;
  readonly registryDegraded: Counter;

  constructor(readonly enabled: boolean) {
    const registers = [this.registry];
    if (enabled) collectDefaultMetrics({ register: this.registry });
    this.sessionsCreated = new Counter({ name: 'mcp_sessions_created_total', help: 'MCP sessions created on this node', registers });
    this.sessionsClosed = new Counter({ name: 'mcp_sessions_closed_total', help: 'MCP sessions closed on this node, by reason', labelNames: ['reason'], registers });
    this.sseStreams = new Gauge({ name: 'mcp_sse_streams_active', help: 'Open SSE streams (POST and GET) on this node', registers });
    this.requests = new Counter({ name: 'mcp_requests_total', help: 'HTTP requests on /mcp by JSON-RPC method and HTTP status', labelNames: ['method', 'status'], registers });
    this.requestDuration = new Histogram({
      name: 'mcp_request_duration_seconds',
      help: 'Time from a request body being read to its answer, by JSON-RPC method',
      labelNames: ['method'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.misroutes = new Counter({ name: 'mcp_session_misroutes_total', help: 'Requests for sessions that live on another node', registers });
    this.unknown = new Counter({ name: 'mcp_session_unknown_total', help: 'Requests for sessions no node knows', registers });
    this.forwarded = new Counter({ name: 'mcp_forwarded_requests_total', help: 'Requests forwarded to the owning node', registers });
    this.sseBackpressure = new Counter({ name: 'mcp_sse_backpressure_total', help: 'SSE writes that hit socket backpressure', registers });
    this.sseDropped = new Counter({ name: 'mcp_sse_dropped_total', help: 'SSE streams dropped because the reader was too slow', registers });

    this.sessionsActive = new Gauge({ name: 'mcp_sessions_active', help: 'Live MCP sessions, by session worker', labelNames: ['worker'], registers });
    this.poolUtilization = new Gauge({ name: 'mcp_worker_pool_utilization', help: 'Share of the session pool busy running host tasks (piscina utilization)', registers });
    this.eventLoopLag = new Gauge({ name: 'mcp_event_loop_lag_seconds', help: 'Mean event-loop delay since the last scrape, front and each worker', labelNames: ['thread'], registers });
    this.registryBatchSize = new Histogram({ name: 'mcp_registry_batch_size', help: 'Commands per registry pipeline flush', buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000], registers });
    this.registryFlushDuration = new Histogram({ name: 'mcp_registry_flush_duration_seconds', help: 'Time for one registry pipeline flush', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers });
    this.registryQueueDepth = new Gauge({ name: 'mcp_registry_queue_depth', help: 'Registry writes waiting to be flushed', registers });
    this.registryDropped = new Counter({ name: 'mcp_registry_dropped_total', help: 'Registry writes dropped because the write queue was full', registers });
    this.registryDegraded = new Counter({ name: 'mcp_registry_lookup_degraded_total', help: 'Misroute checks answered local-only because the registry was unreachable', registers });
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
    };
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
