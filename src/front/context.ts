/**
 * A node's context: every piece the front's routes, the worker-message dispatch and the drain work
 * with, built once by node.ts when the node starts, each set at construction and never replaced. Two
 * nodes in one process have two contexts and share nothing (no module holds state of a node).
 */
import type { NodeDirectory } from '../cluster/directory.js';
import type { ClusterEvents } from '../cluster/events.js';
import type { SessionTagger } from '../cluster/session-tag.js';
import type { NodeOptions } from '../config.js';
import type { ResourceServer } from '../auth/resource-server.js';
import type { Metrics } from '../metrics/metrics.js';
import type { SessionPool } from '../pool/pool.js';
import type { ClientLimits } from './client-limits.js';
import type { Exchanges } from './exchanges.js';
import type { Listeners } from './listeners.js';
import type { Forwarder } from './forward.js';
import type { Guard } from './guards.js';
import type { Readiness } from './readiness.js';
import type { MetricsScrape } from './scrape.js';
import type { SessionTable } from './session-table.js';

export interface NodeContext {
  readonly config: Readonly<NodeOptions>;
  readonly metrics: Metrics;
  /** Host and Origin rules. */
  readonly guard: Guard;
  readonly pool: SessionPool;
  /** Routes of the local sessions, and their registry writes. */
  readonly sessions: SessionTable;
  /** HTTP exchanges waiting on a worker, and SSE writing. */
  readonly exchanges: Exchanges;
  /** Open 2026-07-28 `subscriptions/listen` streams. */
  readonly listeners: Listeners;
  readonly scrape: MetricsScrape;
  readonly readiness: Readiness;
  /** Cluster mode (a cluster secret): owner tags in session ids. */
  readonly tagger: SessionTagger | null;
  /** With Redis: where the other nodes are. */
  readonly directory: NodeDirectory | null;
  /** With Redis and a cluster secret: definition changes shared with the other nodes' listen streams. */
  readonly events: ClusterEvents | null;
  /** Set when this node forwards (cluster secret, directory and MCP_FORWARD): agents, limits, relays. */
  readonly forwarder: Forwarder | null;
  /** Per-client limits (request rate, sessions per identity); null when all are off. */
  readonly limits: ClientLimits | null;
  /** With MCP_AUTH_ISSUER: token verification, challenges and the protected resource metadata. */
  readonly auth: ResourceServer | null;
}
