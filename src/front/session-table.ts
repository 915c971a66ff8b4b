/**
 * The session table: which worker holds each live session of this node, and at which protocol
 * revision (one small integer per session, route.ts). It is the only writer of the routes, of each
 * worker's session set and of the registry's register/unregister, and it counts session lifecycle
 * metrics, so the four never disagree. Every request for a local session reads it synchronously;
 * nothing here waits on the registry.
 */
import type { SessionTagger } from '../cluster/session-tag.js';
import type { Metrics } from '../metrics/metrics.js';
import type { SessionPool, Slot } from '../pool/pool.js';
import type { SessionRegistry } from '../registry/registry.js';
import { SUPPORTED_VERSIONS } from '../protocol/versions.js';
import { encodeRoute, routeRevision, routeSlot } from './route.js';
import { SessionIdSource } from './session-id.js';
import type { SessionQuota } from './session-quota.js';
import type { Principal } from '../auth/principal.js';

export class SessionTable {
  private readonly routes = new Map<string, number>();
  /** Authorization on: the caller each session's worker last heard of (its latest token). */
  private readonly principals = new Map<string, Principal>();
  private readonly ids = new SessionIdSource();

  constructor(
    private readonly pool: SessionPool,
    /** The registry of this node (memory or Redis); read by /readyz and misroute bookkeeping. */
    readonly registry: SessionRegistry,
    private readonly metrics: Metrics,
    /** Cluster mode: every id minted here carries this node's owner tag. */
    private readonly tagger: SessionTagger | null,
    /** MCP_MAX_SESSIONS_PER_PRINCIPAL: told of every session that opens with an identity and of every one that leaves. */
    private readonly quota: SessionQuota | null = null,
  ) {}

  /** The route of a local session (worker slot and revision, packed), or undefined. */
  route(sid: string): number | undefined {
    return this.routes.get(sid);
  }

  has(sid: string): boolean {
    return this.routes.has(sid);
  }

  /** The worker slot a route names. */
  slotOf(route: number): Slot {
    return this.pool.slots[routeSlot(route)];
  }

  /** The protocol revision a route names. */
  revisionOf(route: number): string {
    return SUPPORTED_VERSIONS[routeRevision(route)];
  }

  get size(): number {
    return this.routes.size;
  }

  /** Every live session id (re-asserted by the registry). */
  sessionIds(): IterableIterator<string> {
    return this.routes.keys();
  }

  /** A fresh session id, owner-tagged in a cluster. */
  mintId(): string {
    const id = this.ids.mint();
    return this.tagger ? this.tagger.tag(id) : id;
  }

  /** `client`: the identity that opened it, for the per-client session limit (null: not counted). */
  /**
   * The caller whose token the session's worker has (authorization on): set at initialize, replaced
   * when the same principal comes with another token. Its `key` is the session's binding: another
   * principal is answered as if the session did not exist (mcp.ts). Undefined for a session without one.
   */
  principalOf(sid: string): Principal | undefined {
    return this.principals.get(sid);
  }

  setPrincipal(sid: string, p: Principal): void {
    if (this.routes.has(sid)) this.principals.set(sid, p);
  }

  /** `client`: the identity that opened it, for the per-client session limit (null: not counted). */
  add(sid: string, slot: Slot, revisionIndex: number, client: string | null = null): void {
    this.routes.set(sid, encodeRoute(slot.index, revisionIndex));
    if (client !== null) this.quota?.opened(sid, client);
    slot.sessions.add(sid);
    this.registry.register(sid);
    this.metrics.sessionsCreated.inc();
  }

  /** Forgets a session everywhere; the registry is cleaned whether or not the local close succeeded. */
  drop(sid: string, reason: string): void {
    const route = this.routes.get(sid);
    if (route !== undefined) {
      this.routes.delete(sid);
      this.principals.delete(sid);
      this.pool.slots[routeSlot(route)]?.sessions.delete(sid);
      this.metrics.sessionClosed(reason);
      this.quota?.closed(sid);
    }
    this.registry.unregister(sid);
  }

  /**
   * Ends a local session: forgets it and tells its worker. Returns false when it was not local.
   * `reason` is both the worker's and the metric's.
   */
  end(sid: string, reason: string): boolean {
    const route = this.routes.get(sid);
    if (route === undefined) return false;
    const slot = this.pool.slots[routeSlot(route)];
    this.drop(sid, reason);
    if (slot) this.pool.send(slot, { type: 'delete', sessionId: sid, reason });
    return true;
  }

  /** A session this node does not have: its registry key goes (it may be another node's or an earlier process's). */
  forgetUnknown(sid: string): void {
    this.registry.unregister(sid);
  }

  /** A worker died: these sessions died with it. */
  lost(sessions: Iterable<string>): void {
    for (const sid of sessions) {
      this.routes.delete(sid);
      this.quota?.closed(sid);
      this.principals.delete(sid);
      this.registry.unregister(sid);
      this.metrics.sessionClosed('worker_died');
    }
  }

  /** Shutdown: forgets every route locally; the registry's close() removes them all from the store. */
  forgetAll(reason: string): void {
    for (let n = this.routes.size; n > 0; n--) this.metrics.sessionClosed(reason);
    this.routes.clear();
    this.quota?.clear();
    this.principals.clear();
    for (const slot of this.pool.slots) slot.sessions.clear();
  }
}
