/**
 * Open HTTP exchanges of this node waiting on a worker (a POST awaiting its answer, or an SSE
 * stream), and how worker messages become bytes on their sockets. Every write here happens outside
 * uWS's synchronous handler, so each one is corked; SSE writes go through sse-writer.ts (real
 * backpressure: nothing more goes to uWS until it is writable again, bounded per stream). Idle
 * streams get heartbeats.
 */
import { B_GET_EXPIRED } from '../auth/binding.js';
import type { HttpResponse } from 'uWebSockets.js';
import type { NodeOptions } from '../config.js';
import { log, sessionRef } from '../log.js';
import { M_GET, type Metrics } from '../metrics/metrics.js';
import type { SessionPool, Slot } from '../pool/pool.js';
import { Bodies } from '../protocol/jsonrpc.js';
import { HEARTBEAT, SESSION_HEADER, sseEvent, sseHeaders, writeJson } from './http.js';
import { SSE_OVER, SSE_SENT, sseEnd, sseHeld, sseStalled, sseWrite, type SseBacklog } from './sse-writer.js';

/** One HTTP exchange waiting on a worker: a POST awaiting its answer, or an SSE stream. */
export interface Conn {
  /** The key worker messages name it by (`exchange`). */
  id: number;
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
  /**
   * Authorization on, a GET stream: when (ms since the epoch) its token stops being trusted without a
   * new check. The stream ends then with `retry:`; the client resumes with a current token. Infinity: never.
   */
  until: number;
}

type ExchangeConfig = Pick<NodeOptions, 'heartbeatMs' | 'sseRetryMs' | 'sseMaxBuffered'>;

export class Exchanges {
  private readonly conns = new Map<number, Conn>();
  /** Exchanges that turned into SSE streams (heartbeats, drain). */
  readonly streams = new Set<Conn>();
  private nextId = 1;
  private readonly heartbeatTimer: NodeJS.Timeout;

  constructor(
    private readonly config: Readonly<ExchangeConfig>,
    private readonly pool: SessionPool,
    private readonly metrics: Metrics,
  ) {
    this.heartbeatTimer = setInterval(() => this.heartbeat(), Math.max(25, config.heartbeatMs >> 1));
  }

  stop(): void {
    clearInterval(this.heartbeatTimer);
  }

  open(res: HttpResponse, sid: string, slot: Slot, init: boolean, method: number, started: number): Conn {
    const conn: Conn = {
      id: this.nextId++,
      res,
      sid,
      slot,
      init,
      sse: false,
      done: false,
      lastWrite: 0,
      out: null,
      method,
      started,
      until: Infinity,
    };
    this.conns.set(conn.id, conn);
    return conn;
  }

  get(id: number): Conn | undefined {
    return this.conns.get(id);
  }

  /**
   * The client went away (onAborted). A session's stream keeps its events for resumption; a
   * 2026-07-28 request (no session) is cancelled: "Closing the SSE response stream MUST be treated by
   * the server as cancellation of that request."
   */
  aborted(conn: Conn): void {
    if (conn.done) return;
    this.finish(conn);
    if (conn.sid === '') this.pool.send(conn.slot, { type: 'cancel', exchange: conn.id });
    else this.pool.send(conn.slot, { type: 'detach', sessionId: conn.sid, exchange: conn.id });
  }

  finish(conn: Conn): void {
    conn.done = true;
    this.conns.delete(conn.id);
    if (conn.sse) this.streams.delete(conn);
  }

  /** A worker's whole reply to exchange `id`. */
  json(id: number, status: number, body: string): void {
    const conn = this.conns.get(id);
    if (!conn || conn.done) return;
    this.finish(conn);
    const res = conn.res;
    res.cork(() => writeJson(res, status, body, conn.init ? conn.sid : undefined));
    this.observe(conn, status);
  }

  /** What the metrics count exchange `id` as, once its worker has read a body the front passed unparsed. */
  setMethod(id: number, method: number): void {
    const conn = this.conns.get(id);
    if (conn) conn.method = method;
  }

  /** One SSE event for exchange `id` (the stream opens with the first). */
  event(id: number, eventId: string, body: string, end: boolean): void {
    const conn = this.conns.get(id);
    if (!conn || conn.done) return;
    conn.res.cork(() => this.writeEvent(conn, eventId, body, end));
  }

  /** The worker closes the stream of exchange `id` with `retry:`. */
  close(id: number, retryMs: number): void {
    const conn = this.conns.get(id);
    if (!conn || conn.done) return;
    conn.res.cork(() => this.closeStream(conn, retryMs));
  }

  private openSse(conn: Conn): void {
    const res = conn.res;
    sseHeaders(res);
    if (conn.init) res.writeHeader(SESSION_HEADER, conn.sid);
    conn.sse = true;
    this.streams.add(conn);
  }

  private writeEvent(conn: Conn, eventId: string, body: string, end: boolean): void {
    if (!conn.sse) this.openSse(conn);
    if (body !== '') this.write(conn, sseEvent(eventId, body));
    // A priming event: an id and empty data, with the reconnection delay (SEP-1699).
    else if (eventId !== '') this.write(conn, `id: ${eventId}\nretry: ${this.config.sseRetryMs}\ndata: \n\n`);
    // Older revisions get no priming event; a comment flushes the headers.
    else if (!end) this.write(conn, ': stream open\n\n');
    if (end && !conn.done) {
      this.finish(conn);
      sseEnd(conn);
      this.observe(conn, 200);
    }
  }

  /** SEP-1699: "the server MAY close the connection ... after sending retry"; the client resumes. Call inside a cork. */
  closeStream(conn: Conn, retryMs: number): void {
    if (!conn.sse) this.openSse(conn);
    this.write(conn, `retry: ${retryMs}\n\n`);
    if (!conn.done) {
      this.finish(conn);
      sseEnd(conn);
    }
  }

  /**
   * Writes to an SSE stream (inside a cork). A reader too slow to keep up loses the stream once the
   * bytes held for it pass MCP_SSE_MAX_BUFFERED; the worker keeps its events, so it can resume.
   */
  private write(conn: Conn, text: string): void {
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
      if (conn.until <= now) {
        conn.res.cork(() => this.closeStream(conn, this.config.sseRetryMs));
        // The session's worker keeps the stream's events for the client's resume, as when a client leaves.
        this.pool.send(conn.slot, { type: 'detach', sessionId: conn.sid, exchange: conn.id });
        this.metrics.bindingRefusals.inc(B_GET_EXPIRED);
        continue;
      }
      // A stalled stream has data waiting: a comment would only queue behind it.
      if (conn.lastWrite <= due && !sseStalled(conn)) conn.res.cork(() => this.write(conn, HEARTBEAT));
    }
  }

  private observe(conn: Conn, status: number): void {
    this.metrics.request(conn.method, status, conn.started);
  }

  /** A worker died or was replaced: its exchanges end now (404 for waiting POSTs, end of stream for SSE). */
  slotLost(slot: Slot): void {
    for (const conn of [...this.conns.values()]) {
      if (conn.slot !== slot) continue;
      this.finish(conn);
      const res = conn.res;
      res.cork(() => {
        if (conn.sse) sseEnd(conn);
        // A stateless request lost its worker, not a session: the client may retry it as it is.
        else if (conn.sid === '') writeJson(res, 503, Bodies.overloaded);
        else writeJson(res, 404, Bodies.sessionNotFound);
      });
    }
  }

  /** POSTs waiting for their answer (JSON, or their own SSE stream); GET streams are not requests. */
  requestsInFlight(): number {
    let n = 0;
    for (const conn of this.conns.values()) if (conn.method !== M_GET) n++;
    return n;
  }

  /** A request of `sid` still waiting for its answer (a JSON POST or a POST's SSE stream). */
  hasRequestInFlight(sid: string): boolean {
    for (const conn of this.conns.values()) if (conn.sid === sid && conn.method !== M_GET) return true;
    return false;
  }

  /** The GET streams open now (a copy: the drain closes them one by one). */
  getStreams(): Conn[] {
    const out: Conn[] = [];
    for (const conn of this.streams) if (conn.method === M_GET) out.push(conn);
    return out;
  }

  /**
   * Shutdown, end of the drain window: every stream still open ends with `retry` (clients reconnect
   * elsewhere), every POST still waiting for its answer gets 503. Returns how many POSTs that was.
   */
  endAll(): number {
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
}
