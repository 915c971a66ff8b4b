/**
 * What the front does with what its workers report: replies and stream events go to their HTTP
 * exchange, ended sessions leave the session table, stats answer a scrape, and a lost worker ends
 * its sessions and exchanges. The pool calls these (through fault.ts's guard for messages).
 */
import { log, sessionRef } from '../log.js';
import type { ToFront } from '../pool/messages.js';
import type { RestartReason, Slot } from '../pool/pool.js';
import type { NodeContext } from './context.js';

export function onWorkerMessage(ctx: NodeContext, msg: ToFront): void {
  switch (msg.type) {
    case 'json':
      return ctx.exchanges.json(msg.exchange, msg.status, msg.body);
    case 'event':
      return ctx.exchanges.event(msg.exchange, msg.eventId, msg.body, msg.end);
    case 'method':
      return ctx.exchanges.setMethod(msg.exchange, msg.method);
    case 'close':
      return ctx.exchanges.close(msg.exchange, msg.retryMs);
    case 'gone':
      log.info('session closed by worker', { session: sessionRef(msg.sessionId), reason: msg.reason });
      return ctx.sessions.drop(msg.sessionId, msg.reason);
    case 'stats':
      return ctx.scrape.answered(msg.request, msg.stats);
    // Delivered here at once; the other nodes hear of it through the change channel.
    case 'changed':
      if (msg.toolHeaders) ctx.pool.noteToolHeaders(msg.toolHeaders);
      ctx.listeners.changed(msg.kind);
      ctx.events?.publish(msg.kind);
      return;
    case 'updated':
      ctx.listeners.updated(msg.uri);
      ctx.events?.publish('updated', msg.uri);
      return;
    case 'ready':
      // Handled by the pool itself.
      return;
  }
}

/** A worker died or was replaced: its sessions are gone, and so are their open exchanges. */
export function onSlotLost(ctx: NodeContext, slot: Slot, sessions: Iterable<string>, reason: RestartReason): void {
  ctx.metrics.workerRestarts.inc({ reason });
  ctx.sessions.lost(sessions);
  ctx.exchanges.slotLost(slot);
}
