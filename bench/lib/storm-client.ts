/**
 * One well-behaved MCP client of the storm: initializes through the load balancer (keeping the
 * sticky cookie, or not), holds the session's GET SSE stream, and calls a tool about once a second.
 *
 * - A 404 means the session is gone: the client re-initializes (the spec's rule) and calls at once.
 * - A transport error or a 502/503/504 is retried after a short backoff with the same session.
 * - A stream that ends is reopened after the server's `retry:` delay (SEP-1699), with Last-Event-ID.
 *
 * The wire format (bodies, headers, one request, reading an answer, cookie, owner tag) is the shared
 * MCP client's (mcp-client.ts); the behaviour is in top-level functions over the client's state (no
 * closures per request); the Recorder sees every outcome.
 */
import { request, type Agent, type ClientRequest, type IncomingMessage } from 'node:http';
import {
  cookieOf,
  initializeBody,
  INITIALIZED_BODY,
  ownerOf,
  PROTOCOL_VERSION,
  requestHeaders,
  rpcMessage,
  send,
  type HttpAnswer,
  type Target,
} from './mcp-client.js';
import type { Pools } from './storm-fleet.js';
import type { Recorder, Incident, StormEvent } from './storm-record.js';

const INITIALIZE_BODY = initializeBody('mcp-storm-bench');

/** A tool call that has not succeeded after this long (retries included) is lost. */
export const CALL_DEADLINE_MS = 30_000;
/** Pause before retrying after a transport error or 5xx (times the attempt, capped). */
const BACKOFF_MS = 100;
const BACKOFF_MAX_MS = 1000;
/** SSE reconnection delay until the server sends its own `retry:`. */
const DEFAULT_RETRY_MS = 1000;
const SSE_TAIL_MAX = 8192;

export interface FleetContext {
  readonly target: Target;
  readonly pools: Pools;
  readonly rec: Recorder;
  readonly callBody: (id: number) => string;
  readonly intervalMs: number;
  stopping: boolean;
}

export class StormClient {
  sid = '';
  /** Owner node named by the session id. */
  owner = '';
  /** When the current session was obtained (ms since the run's start). */
  obtainedAt = 0;
  cookie = '';
  incident: Incident | null = null;
  stream: ClientRequest | null = null;
  streamOpen = false;
  lastEventId = '';
  retryMs = DEFAULT_RETRY_MS;
  sseTail = '';
  reopenTimer: NodeJS.Timeout | undefined;
  nextId = 1;
  callInFlight = false;
  /** Call again as soon as the call in flight ends (recovery must end with a completed call). */
  callAgain = false;
  nextDue = 0;
  callTimer: NodeJS.Timeout | undefined;
  initializing: Promise<boolean> | null = null;

  /** `agent`: where this client's POSTs and DELETEs go (its own connection, or a pool shared by all). */
  constructor(
    readonly index: number,
    readonly keepCookies: boolean,
    readonly ctx: FleetContext,
    readonly agent: Agent,
  ) {}
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function backoff(attempt: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_MS * Math.max(1, attempt));
}

/** POST headers; `sid` '' for initialize. */
function headersOf(c: StormClient, sid: string): Record<string, string> {
  return requestHeaders(sid, c.keepCookies ? c.cookie : '');
}

function remember(c: StormClient, headers: IncomingMessage['headers']): void {
  if (!c.keepCookies) return;
  const cookie = cookieOf(headers);
  if (cookie) c.cookie = cookie;
}

/** Is this client's trouble explained by an event (its session is on a node an event took away)? */
function affected(c: StormClient): boolean {
  return c.incident !== null || (c.sid !== '' && c.ctx.rec.disruptedBy(c.owner, c.obtainedAt) >= 0);
}

/**
 * The client sees a sign of trouble. Returns whether an event explains it (then the incident records
 * the first sign); otherwise the caller counts it as an unexpected error.
 */
function notice(c: StormClient, how: string): boolean {
  const rec = c.ctx.rec;
  if (c.incident === null && c.sid !== '') {
    const ev = rec.disruptedBy(c.owner, c.obtainedAt);
    if (ev >= 0) c.incident = rec.openIncident(ev, c.index, c.sid);
  }
  if (c.incident === null) return false;
  if (c.incident.noticedAt === 0) {
    c.incident.noticedAt = rec.now();
    c.incident.noticedBy = how;
  }
  return true;
}

function transportWhat(a: HttpAnswer): string {
  return a.error !== '' ? a.error : `HTTP ${a.status}`;
}

function retryable(a: HttpAnswer): boolean {
  return a.error !== '' || a.status === 502 || a.status === 503 || a.status === 504;
}

/** The session `sid` is gone (404, or dropped by the client): forget it and re-initialize now. */
function sessionGone(c: StormClient, sid: string, how: string): void {
  if (c.sid !== sid) return;
  notice(c, how);
  if (c.incident && c.incident.lostAt === 0) {
    c.incident.lostAt = c.ctx.rec.now();
    c.incident.lostBy = how;
  }
  dropSession(c);
  kick(c);
}

function dropSession(c: StormClient): void {
  c.sid = '';
  c.owner = '';
  c.lastEventId = '';
  closeStream(c);
}

/** Start a tool call now (or right after the one in flight). */
export function kick(c: StormClient): void {
  if (c.ctx.stopping) return;
  if (c.callInFlight) {
    c.callAgain = true;
    return;
  }
  clearTimeout(c.callTimer);
  void runCall(c);
}

export function ensureSession(c: StormClient): Promise<boolean> {
  if (c.sid !== '') return Promise.resolve(true);
  c.initializing ??= initialize(c).finally(() => {
    c.initializing = null;
  });
  return c.initializing;
}

async function initialize(c: StormClient): Promise<boolean> {
  const { rec, target } = c.ctx;
  const sentAt = rec.now();
  const a = await send(c.agent, target, 'POST', headersOf(c, ''), INITIALIZE_BODY);
  if (c.ctx.stopping) return false;
  remember(c, a.headers);
  const sid = a.headers['mcp-session-id'];
  if (a.error !== '' || a.status !== 200 || typeof sid !== 'string') {
    rec.error(affected(c), 'init', transportWhat(a), a.body, c.index);
    return false;
  }
  const msg = rpcMessage(a);
  if (!msg || msg.result === undefined) {
    rec.error(affected(c), 'init', 'bad-body', a.body, c.index);
    return false;
  }
  const now = rec.now();
  rec.totals.inits++;
  const sec = rec.second(now);
  sec.inits++;
  sec.initMs.push(now - sentAt);
  if (c.incident && c.incident.reinitAt === 0 && sid !== c.incident.sid) c.incident.reinitAt = now;
  // "After successful initialization, the client MUST send an initialized notification." The session
  // is used (c.sid set) only once it has been sent.
  const n = await send(c.agent, target, 'POST', headersOf(c, sid), INITIALIZED_BODY);
  if (c.ctx.stopping) return false;
  c.sid = sid;
  c.owner = ownerOf(sid);
  c.obtainedAt = now;
  c.lastEventId = '';
  if (n.error !== '' || n.status !== 202) {
    if (n.status === 404) {
      rec.notFound(notice(c, 'notify 404'), 'notify', c.index);
      sessionGone(c, sid, 'notify 404');
      return false;
    }
    rec.error(affected(c), 'notify', transportWhat(n), n.body, c.index);
  }
  openStream(c);
  return true;
}

function success(c: StormClient, sid: string, sentAt: number, startedAt: number): void {
  const rec = c.ctx.rec;
  const now = rec.now();
  const s = rec.second(now);
  s.callsOk++;
  s.requestMs.push(now - sentAt);
  s.callMs.push(now - startedAt);
  rec.totals.callsOk++;
  const inc = c.incident;
  if (inc && inc.reinitAt > 0 && sid !== inc.sid) {
    rec.closeIncident(inc);
    c.incident = null;
  }
}

function lost(c: StormClient): void {
  const rec = c.ctx.rec;
  rec.totals.callsLost++;
  rec.second().callsLost++;
}

/** One logical tool call: retried through 404 (re-initialize), transport errors and 5xx, up to CALL_DEADLINE_MS. */
export async function runCall(c: StormClient): Promise<void> {
  const ctx = c.ctx;
  const rec = ctx.rec;
  if (ctx.stopping) return;
  c.callInFlight = true;
  c.callAgain = false;
  rec.totals.callsStarted++;
  const startedAt = rec.now();
  let attempt = 0;
  let retried = false;
  for (;;) {
    if (ctx.stopping) break;
    if (rec.now() - startedAt > CALL_DEADLINE_MS) {
      rec.error(affected(c), 'call', 'deadline', `no success within ${CALL_DEADLINE_MS} ms`, c.index);
      lost(c);
      break;
    }
    if (c.sid === '') {
      if (!(await ensureSession(c))) {
        retried = true;
        await sleep(backoff(++attempt));
      }
      continue;
    }
    const sid = c.sid;
    const id = c.nextId++;
    const sentAt = rec.now();
    rec.second(sentAt).callAttempts++;
    const a = await send(c.agent, ctx.target, 'POST', headersOf(c, sid), ctx.callBody(id));
    if (ctx.stopping) break;
    remember(c, a.headers);
    if (a.error === '' && a.status === 200) {
      const msg = rpcMessage(a);
      if (msg && msg.id === id && msg.result !== undefined) {
        success(c, sid, sentAt, startedAt);
        break;
      }
      rec.error(affected(c), 'call', 'bad-body', a.body, c.index);
      lost(c);
      break;
    }
    if (a.status === 404) {
      rec.notFound(notice(c, 'call 404'), 'call', c.index);
      sessionGone(c, sid, 'call 404');
      // The re-initialization happens at the top of the loop (this call is the one in flight).
      c.callAgain = false;
      retried = true;
      continue;
    }
    if (retryable(a)) {
      rec.error(notice(c, `call ${transportWhat(a)}`), 'call', transportWhat(a), a.body, c.index);
      retried = true;
      await sleep(backoff(++attempt));
      continue;
    }
    rec.error(affected(c), 'call', transportWhat(a), a.body, c.index);
    lost(c);
    break;
  }
  if (retried) rec.totals.callsRetried++;
  c.callInFlight = false;
  schedule(c);
}

/** A timer's callback: runCall settles every outcome itself (counted as an error or a lost call). */
function callFromTimer(c: StormClient): void {
  void runCall(c);
}

function schedule(c: StormClient): void {
  const ctx = c.ctx;
  if (ctx.stopping) return;
  if (c.callAgain) {
    c.callAgain = false;
    setImmediate(callFromTimer, c);
    return;
  }
  const now = ctx.rec.now();
  let due = c.nextDue + ctx.intervalMs;
  if (due <= now) due = now + ctx.intervalMs;
  c.nextDue = due;
  c.callTimer = setTimeout(callFromTimer, due - now, c);
}

/** First call at a random phase within one interval, so calls spread evenly over each second. */
export function startCalling(c: StormClient): void {
  const now = c.ctx.rec.now();
  c.nextDue = now + Math.random() * c.ctx.intervalMs;
  c.callTimer = setTimeout(callFromTimer, c.nextDue - now, c);
}

// --- the GET stream ----------------------------------------------------------------------------

export function openStream(c: StormClient): void {
  const ctx = c.ctx;
  if (ctx.stopping || c.stream !== null || c.sid === '') return;
  const sid = c.sid;
  const headers: Record<string, string> = { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION };
  if (c.keepCookies && c.cookie) headers.cookie = c.cookie;
  // "the client MAY include a Last-Event-ID header to resume the stream"
  if (c.lastEventId) headers['last-event-id'] = c.lastEventId;
  const req = request({
    host: ctx.target.host,
    port: ctx.target.port,
    path: ctx.target.path,
    method: 'GET',
    headers,
    agent: ctx.pools.stream,
  });
  c.stream = req;
  c.streamOpen = false;
  c.sseTail = '';
  req.on('response', (res) => onStreamResponse(c, req, sid, res));
  req.on('error', (err) => onStreamGone(c, req, sid, (err as NodeJS.ErrnoException).code ?? err.message));
  req.end();
}

function onStreamResponse(c: StormClient, req: ClientRequest, sid: string, res: IncomingMessage): void {
  if (c.stream !== req) {
    res.destroy();
    return;
  }
  remember(c, res.headers);
  const rec = c.ctx.rec;
  if (res.statusCode === 200) {
    c.streamOpen = true;
    rec.second().streamOpens++;
    res.on('data', (chunk: Buffer) => parseSse(c, chunk));
    res.on('close', () => onStreamGone(c, req, sid, res.complete ? 'end' : 'abort'));
    return;
  }
  res.resume();
  c.stream = null;
  if (c.sid !== sid || c.ctx.stopping) return;
  if (res.statusCode === 404) {
    rec.notFound(notice(c, 'get 404'), 'get', c.index);
    sessionGone(c, sid, 'get 404');
    return;
  }
  const what = `HTTP ${res.statusCode}`;
  rec.error(notice(c, `get ${what}`), 'get', what, '', c.index);
  reopenLater(c, sid, backoff(1));
}

function onStreamGone(c: StormClient, req: ClientRequest, sid: string, how: string): void {
  if (c.stream !== req) return;
  const wasOpen = c.streamOpen;
  c.stream = null;
  c.streamOpen = false;
  if (c.sid !== sid || c.ctx.stopping) return;
  const rec = c.ctx.rec;
  const aff = notice(c, wasOpen ? `stream ${how}` : `get ${how}`);
  if (!wasOpen) rec.error(aff, 'get', how, '', c.index);
  else if (!aff) {
    rec.totals.streamDropsUnaffected++;
    rec.error(false, 'get', `stream ${how}`, '', c.index);
  }
  // SEP-1699: the client reconnects after the server's `retry:` delay.
  reopenLater(c, sid, wasOpen ? c.retryMs : backoff(1));
}

function reopenLater(c: StormClient, sid: string, ms: number): void {
  clearTimeout(c.reopenTimer);
  c.reopenTimer = setTimeout(reopenIfCurrent, ms, c, sid);
}

function reopenIfCurrent(c: StormClient, sid: string): void {
  if (c.sid === sid && c.stream === null) openStream(c);
}

export function closeStream(c: StormClient): void {
  clearTimeout(c.reopenTimer);
  const r = c.stream;
  c.stream = null;
  c.streamOpen = false;
  r?.destroy();
}

/** Only `id:` and `retry:` matter here (resumption and reconnection delay); comments and data are skipped. */
function parseSse(c: StormClient, chunk: Buffer): void {
  const s = c.sseTail + chunk.toString('utf8');
  let start = 0;
  for (;;) {
    const nl = s.indexOf('\n', start);
    if (nl < 0) break;
    const end = nl > start && s.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    if (s.startsWith('id:', start)) c.lastEventId = s.slice(start + (s.charCodeAt(start + 3) === 32 ? 4 : 3), end);
    else if (s.startsWith('retry:', start)) {
      const ms = Number(s.slice(start + 6, end).trim());
      if (Number.isInteger(ms) && ms >= 0) c.retryMs = ms;
    }
    start = nl + 1;
  }
  c.sseTail = s.length - start > SSE_TAIL_MAX ? '' : s.slice(start);
}

// --- client-side storm -------------------------------------------------------------------------

/** Deploy storm: drop the session at once, re-initialize, call; end the old session (DELETE) once the new one is up. */
export function reinitNow(c: StormClient, e: StormEvent): void {
  const rec = c.ctx.rec;
  const old = c.sid;
  const inc = c.incident ?? rec.openIncident(e, c.index, old);
  c.incident = inc;
  inc.noticedAt = inc.lostAt = rec.now();
  inc.noticedBy = inc.lostBy = 'storm';
  dropSession(c);
  kick(c);
  if (old !== '') void ensureSession(c).then((ok) => (ok ? deleteSession(c, old) : undefined));
}

async function deleteSession(c: StormClient, sid: string): Promise<void> {
  const ctx = c.ctx;
  const h: Record<string, string> = { 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION };
  if (c.keepCookies && c.cookie) h.cookie = c.cookie;
  const a = await send(c.agent, ctx.target, 'DELETE', h, null);
  if (ctx.stopping) return;
  if (a.error === '' && a.status === 200) ctx.rec.totals.deletes++;
  else if (a.status === 404) ctx.rec.notFound(true, 'delete', -1);
  else ctx.rec.error(true, 'delete', transportWhat(a), a.body, -1);
}

export function stopClient(c: StormClient): void {
  clearTimeout(c.callTimer);
  closeStream(c);
  if (c.agent !== c.ctx.pools.shared) c.agent.destroy();
}
