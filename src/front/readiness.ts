/**
 * What /readyz answers, and the drain flag it reports. A node is ready when a worker takes new
 * sessions, it is not draining, and with Redis configured, the registry's connection is up and (in a
 * cluster) the peers are known, so that a cookie-less request for a peer's session is forwarded, not
 * answered 404. Both waits end after WARMUP_MS: a node must come up even when Redis does not, and a
 * Redis outage later on does not fail readiness (the registry is off the request path; failing every
 * node of a fleet that shares one Redis would be an outage of its own). /readyz reports the
 * registry's connection in its body either way.
 *
 * One stalled or restarting worker does not fail readiness while another takes new sessions (its
 * body names it): a load balancer that took the node out would move every session of the node to
 * another node (404, re-initialize), where one worker's fault should cost only that worker's
 * sessions. All workers are up when the node starts listening (pool.start()).
 */
import type { NodeDirectory } from '../cluster/directory.js';
import type { NodeOptions } from '../config.js';
import type { SessionPool } from '../pool/pool.js';
import type { SessionTable } from './session-table.js';

/** A node waits this long at most for its registry connection and first view of the peers before it reports ready. */
const WARMUP_MS = 3000;

export class Readiness {
  private readonly createdAt = Date.now();
  private drainingNow = false;

  constructor(
    private readonly config: Readonly<Pick<NodeOptions, 'nodeId' | 'redisUrl'>>,
    private readonly pool: SessionPool,
    private readonly sessions: SessionTable,
    private readonly directory: NodeDirectory | null,
  ) {}

  /** The drain began: /readyz fails from now on and new sessions go elsewhere. */
  startDrain(): void {
    this.drainingNow = true;
  }

  get draining(): boolean {
    return this.drainingNow;
  }

  ready(): boolean {
    if (this.draining || this.pool.servingCount === 0) return false;
    if (Date.now() - this.createdAt > WARMUP_MS) return true;
    if (this.config.redisUrl && !this.sessions.registry.connected) return false;
    return !this.directory || this.directory.warm;
  }

  /** The /readyz body. */
  body(ready: boolean): string {
    const pool = this.pool;
    const registry = this.sessions.registry;
    return JSON.stringify({
      status: ready ? 'ready' : this.draining ? 'draining' : pool.servingCount === 0 ? 'no_worker' : 'starting',
      node: this.config.nodeId,
      workers: pool.readyCount,
      // Workers taking no new sessions now (watchdog), and the latest replacements (bounded).
      stalledWorkers: pool.slots.filter((x) => x.stalled).map((x) => x.index),
      workerRestarts: pool.faults,
      sessions: this.sessions.size,
      registry: registry.kind === 'memory' ? 'memory' : registry.connected ? 'connected' : 'disconnected',
    });
  }
}
