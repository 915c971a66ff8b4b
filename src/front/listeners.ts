/**
 * The node's open 2026-07-28 `subscriptions/listen` streams. Workers report definition changes
 * (`changed`, `updated`); the front writes each to every listen stream that opted in to it, whichever
 * worker the change came from, tagged with that stream's subscription id. In a cluster the same
 * changes arrive from the other nodes too (src/cluster/events.ts), through `changed` and `updated`.
 * A stream ends when its client closes it (its exchange is done: dropped on the next pass) or the
 * node drains.
 */
import type { ChangeSink } from '../cluster/events.js';
import { listenNotificationBody, type ListenFilter } from '../protocol/modern.js';
import type { Conn, Exchanges } from './exchanges.js';

/** Listen streams one node keeps open at most; beyond it a new listen gets 503. */
export const MAX_LISTENERS = 10_000;

interface Listener {
  conn: Conn;
  id: string | number;
  filter: ListenFilter;
}

export type ListChange = 'tools' | 'prompts' | 'resources';

export class Listeners implements ChangeSink {
  private readonly open = new Map<number, Listener>();

  constructor(private readonly exchanges: Exchanges) {}

  get size(): number {
    return this.open.size;
  }

  /** Streams still open (for the gauge; drops the ended ones first). */
  openCount(): number {
    this.prune();
    return this.open.size;
  }

  /** False when the node holds its maximum of listen streams. */
  add(conn: Conn, id: string | number, filter: ListenFilter): boolean {
    this.prune();
    if (this.open.size >= MAX_LISTENERS) return false;
    this.open.set(conn.id, { conn, id, filter });
    return true;
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
    return n;
  }

  private prune(): void {
    for (const [id, l] of this.open) if (l.conn.done) this.open.delete(id);
  }
}
