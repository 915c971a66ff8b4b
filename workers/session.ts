/**
 * One MCP session as the worker keeps it: small plain state. Streams and exchanges are created only
 * when a session has something in flight, so an idle session costs a few hundred bytes.
 *
 * Event ids are `<stream>_<seq>`: they encode their stream, so a GET with Last-Event-ID resumes exactly
 * that stream and replays only what belonged to it ("Each message goes on exactly one stream").
 */
import type { AuthInfo } from './api.js';
import type { ToFront } from '../src/pool/messages.js';
import type { MessageSink } from '../src/pool/channel.js';
import { wantsPriming } from '../src/protocol/versions.js';

/** Where a session's messages to the front go (the worker's batch channel). */
export type FrontSink = MessageSink<ToFront>;

/** Stream 0 is the session's standalone GET stream; POST streams count up from 1. */
export interface Stream {
  id: number;
  /** Front exchange currently attached; 0 when detached (events are only buffered). */
  conn: number;
  seq: number;
  /** Ring of [seq, eid, body], bounded by replayEvents. */
  buf: Array<[number, string, string]>;
  done: boolean;
}

/** One POST carrying requests. JSON until something needs a stream, then SSE. */
export interface Exchange {
  c: number;
  /** Requests of this POST still unanswered. */
  pending: number;
  batch: boolean;
  /** Responses collected while still JSON. */
  responses: string[] | null;
  stream: Stream | null;
  /** The client went away before the answer (JSON mode): results are dropped. */
  gone: boolean;
}

export interface Inflight {
  /** Made on first use of `extra.signal` (most handlers never read it): one allocation less per call. */
  controller: AbortController | null;
  exchange: Exchange | null;
  cancelled: boolean;
  /** Why the request was aborted, if it was before anyone asked for the signal. */
  abortReason: unknown;
  /** The handler timeout; cleared when the request is answered. */
  timer: NodeJS.Timeout | null;
  /** Answered (result, error, timeout or session end): a later outcome of the handler is ignored. */
  settled: boolean;
}

/** The request's AbortSignal, created on demand, already aborted if the abort came first. */
export function signalOf(f: Inflight): AbortSignal {
  if (!f.controller) {
    f.controller = new AbortController();
    if (f.abortReason !== undefined) f.controller.abort(f.abortReason);
  }
  return f.controller.signal;
}

export function abortFlight(f: Inflight, reason: unknown): void {
  if (f.abortReason !== undefined) return;
  f.abortReason = reason;
  f.controller?.abort(reason);
}

export interface PendingOut {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class Session {
  readonly id: string;
  readonly version: string;
  clientCapabilities: Record<string, unknown> = {};
  clientInfo: unknown = null;
  /** Minimum logging level index (RFC 5424 order) the client asked for; -1: not set. */
  logLevel = -1;
  lastSeen = Date.now();
  closed = false;
  nextStreamId = 1;
  nextOutId = 0;
  standalone: Stream | null = null;
  /** POST streams still attached or kept for resumption. */
  streams: Map<number, Stream> | null = null;
  /** front exchange key → exchange, for POSTs in flight. */
  exchanges: Map<number, Exchange> | null = null;
  inflight: Map<string | number, Inflight> | null = null;
  outbound: Map<number, PendingOut> | null = null;
  subscriptions: Set<string> | null = null;
  /** The verified caller's token as handlers see it (`extra.authInfo`); undefined with authorization off. */
  authInfo: AuthInfo | undefined = undefined;

  constructor(id: string, version: string) {
    this.id = id;
    this.version = version;
  }

  /** An idle session has no open stream and no work in flight. */
  busy(): boolean {
    if (this.standalone?.conn) return true;
    if (this.exchanges && this.exchanges.size > 0) return true;
    if (this.inflight && this.inflight.size > 0) return true;
    if (this.streams) for (const s of this.streams.values()) if (s.conn) return true;
    return false;
  }
}

export interface StreamLimits {
  replayEvents: number;
  /** Finished-but-detached POST streams kept per session for resumption. */
  keptStreams: number;
}

export function newStream(id: number, conn: number): Stream {
  return { id, conn, seq: 0, buf: [], done: false };
}

/** Opens the SSE response of `conn` with a priming event (SEP-1699) or, for older clients, headers only. */
export function openStream(out: FrontSink, s: Session, stream: Stream, conn: number): void {
  const eid = wantsPriming(s.version) ? `${stream.id}_${stream.seq}` : '';
  out.push({ type: 'event', exchange: conn, eventId: eid, body: '', end: false });
}

/** Appends an event to a stream: buffered for replay, written if a connection is attached. */
export function emit(out: FrontSink, s: Session, stream: Stream, body: string, end: boolean, limits: StreamLimits): void {
  const seq = ++stream.seq;
  const eid = `${stream.id}_${seq}`;
  if (limits.replayEvents > 0) {
    stream.buf.push([seq, eid, body]);
    if (stream.buf.length > limits.replayEvents) stream.buf.shift();
  }
  if (stream.conn) out.push({ type: 'event', exchange: stream.conn, eventId: eid, body, end });
  if (end) finishStream(s, stream, limits);
}

function finishStream(s: Session, stream: Stream, limits: StreamLimits): void {
  stream.done = true;
  if (stream.id === 0) return;
  if (stream.conn) {
    // Delivered in full on a live connection: nothing to resume.
    stream.conn = 0;
    s.streams?.delete(stream.id);
    return;
  }
  // Detached: keep it so the client can resume with Last-Event-ID, bounded per session.
  const streams = (s.streams ??= new Map<number, Stream>());
  streams.set(stream.id, stream);
  if (streams.size > limits.keptStreams) {
    for (const [id, st] of streams) {
      if (st.done && !st.conn) {
        streams.delete(id);
        break;
      }
    }
  }
}

/**
 * Resumes a stream on a new connection: replays what came after `afterSeq`, then keeps the stream
 * attached (or closes the connection at once when the stream already finished).
 */
export function resume(out: FrontSink, s: Session, stream: Stream, conn: number, afterSeq: number): void {
  if (stream.conn && stream.conn !== conn) out.push({ type: 'close', exchange: stream.conn, retryMs: 0 });
  const toSend = stream.buf.filter((e) => e[0] > afterSeq);
  if (toSend.length === 0) {
    out.push({ type: 'event', exchange: conn, eventId: '', body: '', end: stream.done });
    stream.conn = stream.done ? 0 : conn;
    if (stream.done && stream.id !== 0) s.streams?.delete(stream.id);
    return;
  }
  for (let i = 0; i < toSend.length; i++) {
    const last = i === toSend.length - 1;
    out.push({ type: 'event', exchange: conn, eventId: toSend[i][1], body: toSend[i][2], end: last && stream.done });
  }
  if (stream.done) {
    stream.conn = 0;
    if (stream.id !== 0) s.streams?.delete(stream.id);
  } else {
    stream.conn = conn;
  }
}

/** Sends a finished JSON exchange's reply. */
export function replyJson(out: FrontSink, ex: Exchange, status: number): void {
  if (ex.gone || !ex.responses) return;
  const body = ex.batch ? `[${ex.responses.join(',')}]` : ex.responses[0];
  out.push({ type: 'json', exchange: ex.c, status, body });
}
