/**
 * The front's state: routes (session → worker slot), open HTTP exchanges, and how worker messages
 * become bytes on sockets. Every write here happens outside uWS's synchronous handler, so each one is
 * corked; SSE writes respect backpressure.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { HttpResponse } from 'uWebSockets.js';
import type { NodeOptions } from '../config.js';
import { log, sessionRef } from '../log.js';
import { LAG_RESOLUTION_MS, lagSeconds } from '../metrics/hot.js';
import { M_GET, type Metrics } from '../metrics/metrics.js';
import { F_CLOSE, F_EVENT, F_GONE, F_JSON, F_STATS, W_DETACH, W_STATS, type ToFront, type WorkerStats } from '../pool/messages.js';
import type { RestartReason, SessionPool, Slot } from '../pool/pool.js';
import { Bodies } from '../protocol/jsonrpc.js';
import type { SessionRegistry } from '../registry/registry.js';
import type { Guard } from './guards.js';
import type { SessionTagger } from '../cluster/session-tag.js';
import type { NodeDirectory } from '../cluster/directory.js';
import type { Forwarder } from './forward.js';
import { encodeRoute, routeSlot } from './route.js';
import { HEARTBEAT, SESSION_HEADER, sseEvent, sseHeaders, writeJson } from './http.js';
import { SSE_OVER, SSE_SENT, sseEnd, sseHeld, sseStalled, sseWrite, type SseBacklog } from './sse-writer.js';

/** One HTTP exchange waiting on a worker: a POST awaiting its answer, or an SSE stream. */
export interface Conn {
  c: number;
  res: HttpResponse;
  sid: string;
  slot: Slot;
  /** Answer to an initialize: carries Mcp-Session-Id. */
  init: boolean;
  sse: boolean;
  done: boolean;
  lastWrite: number;
  /** SSE backpressure state (sse-writer.ts); null until a write first met backpressure. */
  out: SseBacklog | null;
  /** JSON-RPC method (metrics index) and start time (performance.now()), for metrics. */
  method: number;
  started: number;
}

/** A node waits this long at most for its registry connection and first view of the peers before it reports ready. */
const WARMUP_MS = 3000;

export class FrontState {
  readonly conns = new Map<number, Conn>();
  readonly streams = new Set<Conn>();
  readonly routes = new Map<string, number>();
  nextConn = 1;
  draining = false;
  private readonly createdAt = Date.now();
  /** Cluster mode: owner tags in session ids, and where the other nodes are. */
  tagger: SessionTagger | null = null;
  directory: NodeDirectory | null = null;
  /** Set when this node forwards (cluster secret, directory and MCP_FORWARD): agents, limits, relays. */
  forwarder: Forwarder | null = null;
  private readonly statsWaiters = new Map<number, (s: WorkerStats | null) => void>();
  private heartbeatTimer: NodeJS.Timeout;
  private readonly lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });

  constructor(
    readonly config: Readonly<NodeOptions>,
    readonly pool: SessionPool,
    public registry: SessionRegistry,
    readonly metrics: Metrics,
    readonly guard: Guard,
  ) {
    this.heartbeatTimer = setInterval(() => this.heartbeat(), Math.max(25, config.heartbeatMs >> 1));
    this.lag.enable();
  }

  /**
   * What /readyz answers: a worker taking new sessions, not draining, and with Redis configured, the
   * registry's connection up and (in a cluster) the peers known, so that a cookie-less request for a
   * peer's session is forwarded, not answered 404. Both waits end after WARMUP_MS: a node must come
   * up even when Redis does not, and a Redis outage later on does not fail readiness (the registry is
   * off the request path; failing every node of a fleet that shares one Redis would be an outage of
   * its own). /readyz reports the registry's connection in its body either way.
   *
   * One stalled or restarting worker does not fail readiness while another takes new sessions (its
   * body names it): a load balancer that took the node out would move every session of the node to
   * another node (404, re-initialize), where one worker's fault should cost only that worker's
   * sessions. All workers are up when the node starts listening (pool.start()).
   */
  ready(): boolean {
    if (this.draining || this.pool.servingCount === 0) return false;
    if (Date.now() - this.createdAt > WARMUP_MS) return true;
    // Until the node listens, sessions are recorded in memory even when Redis is configured.
    if (this.config.redisUrl && (this.registry.kind === 'memory' || !this.registry.connected)) return false;
    return !this.directory || this.directory.warm;
  }

  stop(): void {
    clearInterval(this.heartbeatTimer);
    this.lag.disable();
  }

  newConn(res: HttpResponse, sid: string, slot: Slot, init: boolean, method: number, started: number): Conn {
    const conn: Conn = { c: this.nextConn++, res, sid, slot, init, sse: false, done: false, lastWrite: 0, out: null, method, started };
    this.conns.set(conn.c, conn);
    return conn;
  }

  /** The client went away (onAborted): the worker keeps the stream's events for resumption. */
  aborted(conn: Conn): void {
    if (conn.done) return;
    this.finish(conn);
    this.pool.send(conn.slot, { k: W_DETACH, sid: conn.sid, c: conn.c });
  }

  finish(conn: Conn): void {
    conn.done = true;
    this.conns.delete(conn.c);
    if (conn.sse) this.streams.delete(conn);
  }

  addRoute(sid: string, slot: Slot, versionIdx: number): void {
    this.routes.set(sid, encodeRoute(slot.index, versionIdx));
    slot.sessions.add(sid);
    this.registry.register(sid);
    this.metrics.sessionsCreated.inc();
  }

  /** Forgets a session everywhere; Redis is cleaned whether or not the local close succeeded. */
  dropRoute(sid: string, reason: string): void {
    const route = this.routes.get(sid);
    if (route !== undefined) {
      this.routes.delete(sid);
      this.pool.slots[routeSlot(route)]?.sessions.delete(sid);
      this.metrics.sessionClosed(reason);
    }
    this.registry.unregister(sid);
  }

  onWorkerMessage(slot: Slot, msg: ToFront): void {
    switch (msg.k) {
      case F_JSON: {
        if (msg.drop) this.dropRoute(msg.drop, 'init_failed');
        const conn = this.conns.get(msg.c);
        if (!conn || conn.done) return;
        this.finish(conn);
        const res = conn.res;
        res.cork(() => writeJson(res, msg.status, msg.body, conn.init ? conn.sid : undefined));
        this.observe(conn, msg.status);
        return;
      }
      case F_EVENT: {
        const conn = this.conns.get(msg.c);
        if (!conn || conn.done) return;
        conn.res.cork(() => this.writeEvent(conn, msg.eid, msg.body, msg.end));
        return;
      }
      case F_CLOSE: {
        const conn = this.conns.get(msg.c);
        if (!conn || conn.done) return;
        conn.res.cork(() => this.closeStream(conn, msg.retry));
        return;
      }
      case F_GONE:
        log.info('session closed by worker', { session: sessionRef(msg.sid), reason: msg.reason });
        this.dropRoute(msg.sid, msg.reason);
        return;
      case F_STATS: {
        const w = this.statsWaiters.get(msg.c);
        if (w) {
          this.statsWaiters.delete(msg.c);
          w(msg.stats);
        }
        return;
      }
    }
  }

  private openSse(conn: Conn): void {
    const res = conn.res;
    sseHeaders(res);
    if (conn.init) res.writeHeader(SESSION_HEADER, conn.sid);
    conn.sse = true;
    this.streams.add(conn);
  }

  private writeEvent(conn: Conn, eid: string, body: string, end: boolean): void {
    if (!conn.sse) this.openSse(conn);
    if (body !== '') this.write(conn, sseEvent(eid, body));
    // A priming event: an id and empty data, with the reconnection delay (SEP-1699).
    else if (eid !== '') this.write(conn, `id: ${eid}\nretry: ${this.config.sseRetryMs}\ndata: \n\n`);
    // Older revisions get no priming event; a comment flushes the headers.
    else if (!end) this.write(conn, ': stream open\n\n');
    if (end && !conn.done) {
      this.finish(conn);
      sseEnd(conn);
      this.observe(conn, 200);
    }
  }

  /** SEP-1699: "the server MAY close the connection ... after sending retry"; the client resumes. */
  closeStream(conn: Conn, retry: number): void {
    if (!conn.sse) this.openSse(conn);
    this.write(conn, `retry: ${retry}\n\n`);
    if (!conn.done) {
      this.finish(conn);
      sseEnd(conn);
    }
  }

  /**
   * Writes to an SSE stream (inside a cork). A reader too slow to keep up loses the stream once the
   * bytes held for it pass MCP_SSE_MAX_BUFFERED; the worker keeps its events, so it can resume.
   */
  write(conn: Conn, text: string): void {
    if (conn.done) return;
    conn.lastWrite = Date.now();
    const r = sseWrite(conn, text, this.config.sseMaxBuffered);
    if (r === SSE_SENT) return;
    this.metrics.sseBackpressure.inc();
    if (r !== SSE_OVER) return;
    this.metrics.sseDropped.inc();
    log.warn('dropping slow SSE reader', { session: sessionRef(conn.sid), heldBytes: sseHeld(conn), limit: this.config.sseMaxBuffered });
    this.aborted(conn);
    conn.res.close();
  }

  private heartbeat(): void {
    const now = Date.now();
    const due = now - this.config.heartbeatMs;
    for (const conn of this.streams) {
      // A stalled stream has data waiting: a comment would only queue behind it.
      if (conn.lastWrite <= due && !sseStalled(conn)) conn.res.cork(() => this.write(conn, HEARTBEAT));
    }
  }

  observe(conn: Conn, status: number): void {
    this.metrics.request(conn.method, status, conn.started);
  }

  /** A worker left the placement (watchdog): counted; pool.ts logs it. */
  slotStalled(_slot: Slot): void {
    this.metrics.workerStalls.inc();
  }

  /** A worker died or was replaced: its exchanges end now (404 for waiting POSTs, end of stream for SSE). */
  slotLost(slot: Slot, sessions: Set<string>, reason: RestartReason = 'died'): void {
    this.metrics.workerRestarts.inc({ reason });
    for (const sid of sessions) {
      this.routes.delete(sid);
      this.registry.unregister(sid);
      this.metrics.sessionClosed('worker_died');
    }
    for (const conn of [...this.conns.values()]) {
      if (conn.slot !== slot) continue;
      this.finish(conn);
      const res = conn.res;
      res.cork(() => {
        if (conn.sse) sseEnd(conn);
        else writeJson(res, 404, Bodies.sessionNotFound);
      });
    }
  }

  /** Asks every worker for its counters. */
  workerStats(timeoutMs = 1000): Promise<Array<WorkerStats | null>> {
    return Promise.all(
      this.pool.slots.map((slot) => {
        // A stalled worker would only make the scrape wait for the timeout.
        if (!slot.ready || slot.stalled) return Promise.resolve(null);
        const c = this.nextConn++;
        return new Promise<WorkerStats | null>((resolve) => {
          const timer = setTimeout(() => {
            this.statsWaiters.delete(c);
            resolve(null);
          }, timeoutMs);
          this.statsWaiters.set(c, (s) => {
            clearTimeout(timer);
            resolve(s);
          });
          this.pool.send(slot, { k: W_STATS, c });
        });
      }),
    );
  }

  /** Worker counters folded into the front's registry, then the text exposition. */
  async metricsText(): Promise<string> {
    const stats = await this.workerStats();
    const workerMetrics: unknown[][] = [];
    let busy = 0;
    let live = 0;
    stats.forEach((s, i) => {
      if (!s) return;
      this.metrics.sessionsActive.set({ worker: String(i) }, s.sessions);
      this.metrics.eventLoopLag.set({ thread: `worker-${i}` }, s.eventLoopLagSeconds);
      busy += s.utilization;
      live++;
      if (s.metrics.length) workerMetrics.push(s.metrics);
    });
    this.metrics.eventLoopLag.set({ thread: 'front' }, lagSeconds(this.lag));
    this.metrics.requestsInFlight.set(this.requestsInFlight());
    this.lag.reset();
    this.metrics.poolUtilization.set(live ? busy / live : 0);
    return this.metrics.text(workerMetrics);
  }

  /** POSTs waiting for their answer (JSON, or their own SSE stream); GET streams are not requests. */
  requestsInFlight(): number {
    let n = 0;
    for (const conn of this.conns.values()) if (conn.method !== M_GET) n++;
    return n;
  }

  /**
   * Shutdown, end of the drain window: every stream still open ends with `retry` (clients reconnect
   * elsewhere), every POST still waiting for its answer gets 503. Returns how many POSTs that was.
   */
  endAllExchanges(): number {
    let unanswered = 0;
    for (const conn of [...this.conns.values()]) {
      if (conn.done) continue;
      const res = conn.res;
      if (conn.sse) {
        res.cork(() => this.closeStream(conn, this.config.sseRetryMs));
        continue;
      }
      unanswered++;
      this.finish(conn);
      res.cork(() => writeJson(res, 503, Bodies.shuttingDown));
      this.observe(conn, 503);
    }
    return unanswered;
  }

  /** Shutdown: forgets every route locally; the registry's close() removes them all from the store. */
  forgetAllRoutes(reason: string): void {
    for (const sid of this.routes.keys()) this.metrics.sessionClosed(reason);
    this.routes.clear();
    for (const slot of this.pool.slots) slot.sessions.clear();
  }
}
