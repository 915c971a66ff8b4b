/**
 * The node's open 2026-07-28 `subscriptions/listen` streams. Workers report definition changes
 * (`changed`, `updated`); the front writes each to every listen stream that opted in to it, whichever
 * worker the change came from, tagged with that stream's subscription id. In a cluster the same
 * changes arrive from the other nodes too (src/cluster/events.ts), through `changed` and `updated`.
 * A stream ends when its client closes it (its exchange is done: dropped on the next pass) or the
 * node drains.
 *
 * With authorization on, each stream is bound to the principal that opened it: it lives as long as
 * the node trusts that principal's token without checking it again (a JWT until its `exp`; an
 * introspected token until its `exp` or the introspection cache bound), then ends with `retry:` and
 * is counted (binding kind `listen`), so a principal whose token expired or was revoked stops
 * receiving; its client listens again with a current token. One sweep a second ends them, running
 * only while some bound stream is open. The changes a listen stream carries (list changes, resource
 * updates) are the same for every caller: no event is scoped to a principal, so none is filtered by one.
 */
import type { ChangeSink } from '../cluster/events.js';
import { listenNotificationBody, type ListenFilter } from '../protocol/modern.js';
import type { Conn, Exchanges } from './exchanges.js';
import type { Principal } from '../auth/principal.js';

/** Listen streams one node keeps open at most; beyond it a new listen gets 503. */
export const MAX_LISTENERS = 10_000;
/** How often streams past their token's trust are looked for, ms. */
const SWEEP_MS = 1000;

interface Listener {
  conn: Conn;
  id: string | number;
  filter: ListenFilter;
  /** Date.now() ms at which the stream ends (its principal's token is no longer trusted); Infinity when unbound. */
  until: number;
}

/** Authorization on: how long a principal's token is trusted, and what to do when a stream outlives it. */
export interface ListenBinding {
  trustedUntil(p: Principal): number;
  /** A stream was ended at its token's expiry. */
  expired(): void;
  retryMs: number;
}

export type ListChange = 'tools' | 'prompts' | 'resources';

export class Listeners implements ChangeSink {
  private readonly open = new Map<number, Listener>();
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    private readonly exchanges: Exchanges,
    private readonly binding: ListenBinding | null = null,
  ) {}

  get size(): number {
    return this.open.size;
  }

  /** Streams still open (for the gauge; drops the ended ones first). */
  openCount(): number {
    this.prune();
    return this.open.size;
  }

  /** False when the node holds its maximum of listen streams. `principal`: its caller (null: authorization off). */
  add(conn: Conn, id: string | number, filter: ListenFilter, principal: Principal | null = null): boolean {
    this.prune();
    if (this.open.size >= MAX_LISTENERS) return false;
    const until = principal === null || this.binding === null ? Infinity : this.binding.trustedUntil(principal);
    this.open.set(conn.id, { conn, id, filter, until });
    if (until !== Infinity && this.sweeper === null) this.sweeper = setInterval(sweep, SWEEP_MS, this).unref();
    return true;
  }

  /** Ends the streams whose token is no longer trusted; stops sweeping when no bound stream is left. */
  sweepExpired(now: number): void {
    let bound = 0;
    for (const [id, l] of this.open) {
      if (l.conn.done) {
        this.open.delete(id);
        continue;
      }
      if (l.until === Infinity) continue;
      if (l.until > now) {
        bound++;
        continue;
      }
      this.open.delete(id);
      l.conn.res.cork(() => this.exchanges.closeStream(l.conn, this.binding!.retryMs));
      this.binding!.expired();
    }
    if (bound === 0) this.stop();
  }

  /** Stops the sweep (the node closes; drained streams are gone). */
  stop(): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  /** `notifications/<kind>/list_changed` to every stream that asked for it. */
  changed(kind: ListChange): void {
    const method = `notifications/${kind}/list_changed`;
    for (const l of this.open.values()) {
      if (l.conn.done) {
        this.open.delete(l.conn.id);
        continue;
      }
      const wanted = kind === 'tools' ? l.filter.tools : kind === 'prompts' ? l.filter.prompts : l.filter.resources;
      if (wanted) this.exchanges.event(l.conn.id, '', listenNotificationBody(method, l.id), false);
    }
  }

  /** `notifications/resources/updated` to every stream subscribed to `uri`. */
  updated(uri: string): void {
    for (const l of this.open.values()) {
      if (l.conn.done) {
        this.open.delete(l.conn.id);
        continue;
      }
      if (l.filter.uris.has(uri))
        this.exchanges.event(l.conn.id, '', listenNotificationBody('notifications/resources/updated', l.id, { uri }), false);
    }
  }

  /**
   * The node drains: every listen stream ends now, with `retry:`, so its client listens again on a
   * node that stays (its notifications come from every node) instead of holding the drain open.
   */
  endAll(retryMs: number): number {
    let n = 0;
    for (const l of this.open.values()) {
      if (l.conn.done) continue;
      n++;
      l.conn.res.cork(() => this.exchanges.closeStream(l.conn, retryMs));
    }
    this.open.clear();
    this.stop();
    return n;
  }

  private prune(): void {
    for (const [id, l] of this.open) if (l.conn.done) this.open.delete(id);
  }
}

function sweep(l: Listeners): void {
  l.sweepExpired(Date.now());
}
