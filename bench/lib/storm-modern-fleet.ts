/**
 * The storm's 2026-07-28 ("modern") fleet: N clients with no session and no cookie, each holding one
 * `subscriptions/listen` stream through the load balancer and making a stateless tools/call about
 * every interval, and an announcer that publishes change events at a fixed rate (storm-modern.ts says
 * how an event is numbered). What the clients see is kept here, per one-second bucket and per client.
 *
 * - A listen stream that ends or breaks is opened again at once (the balancer sends it to a node that
 *   is up); a refused or failed listen is retried after a short backoff. The revision keeps no replay:
 *   events published while a client was not listening are not owed to it.
 * - A call that fails with a transport error or 502/503/504 is retried after a short backoff (any
 *   node may serve it); one that has not succeeded within 30 s is lost.
 */
import { Agent, request, type ClientRequest, type IncomingMessage } from 'node:http';
import { IDLE_MS, keepAliveAgent, parseTarget, rpcMessage, send, type HttpAnswer, type Target } from './mcp-client.js';
import {
  Announcements,
  LISTEN_ACK,
  listenBody,
  ListenConn,
  listenMessage,
  modernCallBodyFactory,
  modernHeaders,
  nodeOfSetCookie,
  pendingFor,
  RESOURCE_UPDATED,
  slotOfUri,
  SseParser,
  tickCallBody,
  TICK_TOOL,
} from './storm-modern.js';

const CLIENT_NAME = 'mcp-storm-modern';
/** A tool call that has not succeeded after this long (retries included) is lost. */
export const CALL_DEADLINE_MS = 30_000;
const BACKOFF_MS = 100;
const BACKOFF_MAX_MS = 1000;
/** Announcements in flight at most; a tick due while this many wait is skipped (counted, not an event). */
const MAX_ANNOUNCING = 32;

export interface ModernSecond {
  callsOk: number;
  callAttempts: number;
  /** Failed call attempts (transport errors, 5xx, bad answers). */
  callErrors: number;
  callsLost: number;
  /** Successful tools/call requests (one HTTP exchange), ms. */
  requestMs: number[];
  /** Listen streams acknowledged (opened or opened again). */
  listenAcks: number;
  /** Acknowledged listen streams that ended (broken, ended, cut). */
  listenEnds: number;
  /** Listen requests that failed before an acknowledgement. */
  listenErrors: number;
  /** Events announced successfully (by the second their call was sent). */
  published: number;
  /** Event notifications received on listen streams (first copy on each stream). */
  delivered: number;
  /** From an event's tools/call being sent to its notification arriving on a stream, ms. */
  deliveryMs: number[];
}

function newSecond(): ModernSecond {
  return {
    callsOk: 0,
    callAttempts: 0,
    callErrors: 0,
    callsLost: 0,
    requestMs: [],
    listenAcks: 0,
    listenEnds: 0,
    listenErrors: 0,
    published: 0,
    delivered: 0,
    deliveryMs: [],
  };
}

/** A client whose listen stream was on the node the run killed, from the kill to listening again. */
export interface ListenIncident {
  client: number;
  node: string;
  eventAt: number;
  /** When the client saw its stream end (0: never). */
  cutAt: number;
  cutBy: string;
  /** Acknowledgement of its next listen stream (0: never). */
  reAckAt: number;
  newNode: string;
}

/** A client's calls failing, from its first failed attempt to its next successful call. */
export interface CallOutage {
  client: number;
  firstAt: number;
  firstError: string;
  failedAttempts: number;
  /** 0: not served again before the end. */
  servedAt: number;
}

export type ModernOp = 'call' | 'listen' | 'announce';

export class ModernRecorder {
  readonly t0 = performance.now();
  readonly seconds: ModernSecond[] = [];
  readonly ann = new Announcements();
  /** Every listen stream that was acknowledged, in order. */
  readonly conns: ListenConn[] = [];
  readonly listenIncidents: ListenIncident[] = [];
  readonly callOutages: CallOutage[] = [];
  /** "scope op what" → count; scope: set-up, affected (stream on the killed node) or bystander. */
  readonly errorKinds = new Map<string, number>();
  readonly errorFirst = new Map<string, { at: number; detail: string }>();
  /** Bystanders whose listen stream dropped or whose listen failed after the set-up. */
  readonly streamDisturbed = new Set<number>();
  setupDone = false;
  event: { label: string; node: string; at: number; affected: number } | null = null;
  readonly totals = {
    callsStarted: 0,
    callsOk: 0,
    callsLost: 0,
    callsRetried: 0,
    callsInFlightAtStop: 0,
    /** Notifications other than the acknowledgement and tick updates (a list change nobody announced). */
    otherNotifications: 0,
    /** SSE events over the parser's bound, and stream messages that were not JSON-RPC notifications. */
    badMessages: 0,
    announceSkipped: 0,
  };

  now(): number {
    return performance.now() - this.t0;
  }

  second(at = this.now()): ModernSecond {
    const i = Math.floor(at / 1000);
    while (this.seconds.length <= i) this.seconds.push(newSecond());
    return this.seconds[i];
  }

  error(scope: 'affected' | 'bystander' | 'announcer', op: ModernOp, what: string, detail: string): void {
    const key = `${!this.setupDone ? 'set-up' : scope} ${op} ${what}`;
    this.errorKinds.set(key, (this.errorKinds.get(key) ?? 0) + 1);
    if (!this.errorFirst.has(key)) this.errorFirst.set(key, { at: this.now(), detail: detail.slice(0, 200) });
  }
}

interface FleetContext {
  readonly target: Target;
  readonly streamAgent: Agent;
  readonly rec: ModernRecorder;
  readonly callBody: (id: number) => string;
  readonly callHeaders: Record<string, string>;
  readonly listenHead: string;
  readonly listenTail: string;
  readonly intervalMs: number;
  stopping: boolean;
}

export class ModernClient {
  /** Set while a listen request or stream is up. */
  listenReq: ClientRequest | null = null;
  /** The acknowledged stream (null until the acknowledgement). */
  conn: ListenConn | null = null;
  /** The node the current listen went to (from the balancer's cookie). */
  listenNode = '';
  parser = new SseParser();
  listenAttempts = 0;
  relistenTimer: NodeJS.Timeout | undefined;
  incident: ListenIncident | null = null;
  /** Its listen stream was on the node the run killed. */
  affected = false;
  outage: CallOutage | null = null;
  nextId = 1;
  callInFlight = false;
  nextDue = 0;
  callTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly index: number,
    readonly ctx: FleetContext,
    /** This client's own keep-alive connection for its calls. */
    readonly agent: Agent,
  ) {}
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function backoff(attempt: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_MS * Math.max(1, attempt));
}

function transportWhat(a: HttpAnswer): string {
  return a.error !== '' ? a.error : `HTTP ${a.status}`;
}

function retryable(a: HttpAnswer): boolean {
  return a.error !== '' || a.status === 502 || a.status === 503 || a.status === 504;
}

function scopeOf(c: ModernClient): 'affected' | 'bystander' {
  return c.affected ? 'affected' : 'bystander';
}

/** A successful tools/call answer: a result, not an error, not `isError`. */
function completed(a: HttpAnswer, id: number): boolean {
  if (a.error !== '' || a.status !== 200) return false;
  const msg = rpcMessage(a);
  return (
    msg !== null &&
    msg.id === id &&
    typeof msg.result === 'object' &&
    msg.result !== null &&
    (msg.result as { isError?: unknown }).isError !== true
  );
}

// --- calls ---------------------------------------------------------------------------------------

function callFailed(c: ModernClient, what: string, detail: string): void {
  const rec = c.ctx.rec;
  rec.second().callErrors++;
  rec.error(scopeOf(c), 'call', what, detail);
  if (!rec.setupDone) return;
  if (c.outage === null) {
    c.outage = { client: c.index, firstAt: rec.now(), firstError: what, failedAttempts: 0, servedAt: 0 };
    rec.callOutages.push(c.outage);
  }
  c.outage.failedAttempts++;
}

/** One logical tool call, retried through transport errors and 5xx up to CALL_DEADLINE_MS. */
async function runCall(c: ModernClient): Promise<void> {
  const ctx = c.ctx;
  const rec = ctx.rec;
  if (ctx.stopping) return;
  c.callInFlight = true;
  rec.totals.callsStarted++;
  const startedAt = rec.now();
  let attempt = 0;
  for (;;) {
    if (ctx.stopping) break;
    if (rec.now() - startedAt > CALL_DEADLINE_MS) {
      rec.error(scopeOf(c), 'call', 'deadline', `no success within ${CALL_DEADLINE_MS} ms`);
      rec.totals.callsLost++;
      rec.second().callsLost++;
      break;
    }
    const id = c.nextId++;
    const sentAt = rec.now();
    rec.second(sentAt).callAttempts++;
    const a = await send(c.agent, ctx.target, 'POST', ctx.callHeaders, ctx.callBody(id));
    if (ctx.stopping) break;
    if (completed(a, id)) {
      const now = rec.now();
      const s = rec.second(now);
      s.callsOk++;
      s.requestMs.push(now - sentAt);
      rec.totals.callsOk++;
      if (attempt > 0) rec.totals.callsRetried++;
      if (c.outage) {
        c.outage.servedAt = now;
        c.outage = null;
      }
      break;
    }
    if (retryable(a)) {
      callFailed(c, transportWhat(a), a.body);
      await sleep(backoff(++attempt));
      continue;
    }
    callFailed(c, a.status === 200 ? 'bad-body' : transportWhat(a), a.body);
    rec.totals.callsLost++;
    rec.second().callsLost++;
    break;
  }
  c.callInFlight = false;
  schedule(c);
}

function callFromTimer(c: ModernClient): void {
  void runCall(c);
}

function schedule(c: ModernClient): void {
  const ctx = c.ctx;
  if (ctx.stopping) return;
  const now = ctx.rec.now();
  let due = c.nextDue + ctx.intervalMs;
  if (due <= now) due = now + ctx.intervalMs;
  c.nextDue = due;
  c.callTimer = setTimeout(callFromTimer, due - now, c);
}

function startCalling(c: ModernClient): void {
  const now = c.ctx.rec.now();
  c.nextDue = now + Math.random() * c.ctx.intervalMs;
  c.callTimer = setTimeout(callFromTimer, c.nextDue - now, c);
}

// --- the listen stream ---------------------------------------------------------------------------

export function openListen(c: ModernClient): void {
  const ctx = c.ctx;
  if (ctx.stopping || c.listenReq !== null) return;
  const body = ctx.listenHead + c.nextId++ + ctx.listenTail;
  const req = request({
    host: ctx.target.host,
    port: ctx.target.port,
    path: ctx.target.path,
    method: 'POST',
    headers: { ...modernHeaders('subscriptions/listen'), 'content-length': String(Buffer.byteLength(body)) },
    agent: ctx.streamAgent,
  });
  c.listenReq = req;
  c.conn = null;
  c.listenNode = '';
  c.parser = new SseParser();
  req.on('response', (res) => onListenResponse(c, req, res));
  req.on('error', (err) => onListenGone(c, req, (err as NodeJS.ErrnoException).code ?? err.message));
  req.end(body);
}

function onListenResponse(c: ModernClient, req: ClientRequest, res: IncomingMessage): void {
  if (c.listenReq !== req) {
    res.destroy();
    return;
  }
  c.listenNode = nodeOfSetCookie(res.headers['set-cookie']);
  if (res.statusCode === 200 && String(res.headers['content-type']).includes('text/event-stream')) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => onListenData(c, req, chunk));
    res.on('close', () => onListenGone(c, req, res.complete ? 'end' : 'abort'));
    return;
  }
  let detail = '';
  res.setEncoding('utf8');
  res.on('data', (d: string) => {
    if (detail.length < 200) detail += d;
  });
  res.on('end', () => {
    if (c.listenReq !== req) return;
    c.listenReq = null;
    failedListen(c, `HTTP ${res.statusCode}`, detail);
  });
  res.on('error', () => {});
}

function failedListen(c: ModernClient, what: string, detail: string): void {
  const rec = c.ctx.rec;
  rec.second().listenErrors++;
  rec.error(scopeOf(c), 'listen', what, detail);
  if (rec.setupDone && !c.affected) rec.streamDisturbed.add(c.index);
  relistenLater(c, backoff(++c.listenAttempts));
}

function onListenData(c: ModernClient, req: ClientRequest, chunk: string): void {
  if (c.listenReq !== req) return;
  const rec = c.ctx.rec;
  const before = c.parser.oversized;
  for (const data of c.parser.feed(chunk)) {
    const m = listenMessage(data);
    if (m === null) {
      rec.totals.badMessages++;
      continue;
    }
    const now = rec.now();
    if (c.conn === null) {
      if (m.method !== LISTEN_ACK) {
        rec.totals.badMessages++;
        continue;
      }
      const conn = new ListenConn(c.index, c.listenNode, now, rec.ann.next);
      rec.conns.push(conn);
      c.conn = conn;
      c.listenAttempts = 0;
      rec.second(now).listenAcks++;
      const inc = c.incident;
      if (inc !== null && inc.cutAt > 0) {
        inc.reAckAt = now;
        inc.newNode = c.listenNode;
        c.incident = null;
      }
      continue;
    }
    if (m.method !== RESOURCE_UPDATED) {
      rec.totals.otherNotifications++;
      continue;
    }
    const seq = rec.ann.resolve(slotOfUri(m.uri), now);
    if (c.conn.got(seq) && seq >= 0) {
      const s = rec.second(now);
      s.delivered++;
      s.deliveryMs.push(now - rec.ann.list[seq].sentAt);
    }
  }
  rec.totals.badMessages += c.parser.oversized - before;
}

function onListenGone(c: ModernClient, req: ClientRequest, how: string): void {
  if (c.listenReq !== req) return;
  c.listenReq = null;
  const conn = c.conn;
  c.conn = null;
  const ctx = c.ctx;
  if (ctx.stopping) return;
  const rec = ctx.rec;
  if (conn === null) return failedListen(c, how, '');
  const now = rec.now();
  conn.closedAt = now;
  conn.endedBy = how;
  rec.second(now).listenEnds++;
  const inc = c.incident;
  if (inc !== null && inc.cutAt === 0 && inc.node === conn.node) {
    conn.cut = true;
    inc.cutAt = now;
    inc.cutBy = `stream ${how}`;
  } else {
    rec.error(scopeOf(c), 'listen', `stream ${how}`, '');
    if (rec.setupDone && !c.affected) rec.streamDisturbed.add(c.index);
  }
  // No replay in this revision and nothing to resume: listen again at once.
  relistenLater(c, 0);
}

function relistenLater(c: ModernClient, ms: number): void {
  clearTimeout(c.relistenTimer);
  c.relistenTimer = setTimeout(openListen, ms, c);
}

function stopClient(c: ModernClient, at: number): void {
  clearTimeout(c.callTimer);
  clearTimeout(c.relistenTimer);
  if (c.conn !== null) {
    c.conn.closedAt = at;
    c.conn.endedBy = 'stop';
    c.conn = null;
  }
  const r = c.listenReq;
  c.listenReq = null;
  r?.destroy();
  c.agent.destroy();
}

// --- the announcer -------------------------------------------------------------------------------

/** Announces one change event every 1000 / rate ms through the balancer (so on any node), numbered in order. */
export class Announcer {
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private nextId = 1;
  private startedAt = 0;
  private ticks = 0;
  private running = false;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: MAX_ANNOUNCING, timeout: IDLE_MS });
  private readonly headers = modernHeaders('tools/call', TICK_TOOL);

  constructor(
    private readonly target: Target,
    private readonly rec: ModernRecorder,
    private readonly rate: number,
  ) {}

  start(): void {
    this.running = true;
    this.startedAt = this.rec.now();
    this.ticks = 0;
    this.plan();
  }

  /** Stops announcing and waits (bounded) for the announcements in flight to be answered. */
  async stop(timeoutMs: number): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight > 0 && Date.now() < deadline) await sleep(20);
  }

  destroy(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.agent.destroy();
  }

  /** Ticks on a fixed schedule (start + k / rate), not drifting with the time each takes. */
  private plan(): void {
    if (!this.running) return;
    const due = this.startedAt + (this.ticks * 1000) / this.rate;
    this.timer = setTimeout(() => this.tick(), Math.max(0, due - this.rec.now()));
  }

  private tick(): void {
    if (!this.running) return;
    this.ticks++;
    this.plan();
    if (this.inFlight >= MAX_ANNOUNCING) {
      this.rec.totals.announceSkipped++;
      return;
    }
    const rec = this.rec;
    const id = this.nextId++;
    const seq = rec.ann.sent(rec.now());
    this.inFlight++;
    void send(this.agent, this.target, 'POST', this.headers, tickCallBody(CLIENT_NAME, id, seq)).then((a) => {
      this.inFlight--;
      const ok = completed(a, id);
      rec.ann.answered(seq, rec.now(), ok);
      if (ok) rec.second(rec.ann.list[seq].sentAt).published++;
      else rec.error('announcer', 'announce', a.status === 200 ? 'bad-body' : transportWhat(a), a.body);
    });
  }
}

// --- the fleet -----------------------------------------------------------------------------------

export interface ModernFleetOptions {
  url: string;
  clients: number;
  callIntervalMs: number;
  announceRate: number;
}

export class ModernFleet {
  readonly rec = new ModernRecorder();
  readonly clients: ModernClient[] = [];
  readonly announcer: Announcer;
  private readonly ctx: FleetContext;

  constructor(readonly o: ModernFleetOptions) {
    const target = parseTarget(o.url);
    // The listen body is a few kilobytes (every tick uri): built once, only the id varies.
    const marker = 987654321;
    const [listenHead, listenTail] = listenBody(CLIENT_NAME, marker).split(String(marker));
    this.ctx = {
      target,
      streamAgent: new Agent({ keepAlive: false, maxSockets: Infinity }),
      rec: this.rec,
      callBody: modernCallBodyFactory(CLIENT_NAME, 'echo', { text: 'storm' }),
      callHeaders: modernHeaders('tools/call', 'echo'),
      listenHead,
      listenTail,
      intervalMs: o.callIntervalMs,
      stopping: false,
    };
    for (let i = 0; i < o.clients; i++) this.clients.push(new ModernClient(i, this.ctx, keepAliveAgent(1)));
    this.announcer = new Announcer(target, this.rec, o.announceRate);
  }

  /** Opens every listen stream at `rate` per second and starts each client's calls; resolves when all are acknowledged. */
  async ramp(rate: number, timeoutMs: number): Promise<void> {
    const step = Math.max(1, Math.round(rate / 20));
    for (let i = 0; i < this.clients.length; i += step) {
      for (const c of this.clients.slice(i, i + step)) {
        openListen(c);
        startCalling(c);
      }
      await sleep(50);
    }
    const deadline = Date.now() + timeoutMs;
    while (this.listening < this.clients.length) {
      if (Date.now() > deadline)
        throw new Error(`set-up: ${this.clients.length - this.listening} clients not listening after ${timeoutMs} ms`);
      await sleep(100);
    }
    this.rec.setupDone = true;
  }

  /** Clients whose listen stream is acknowledged and open. */
  get listening(): number {
    let n = 0;
    for (const c of this.clients) if (c.conn !== null) n++;
    return n;
  }

  /** Clients still to listen again after the kill, or whose calls still fail. */
  get recovering(): number {
    let n = 0;
    for (const c of this.clients) if (c.incident !== null || c.outage !== null) n++;
    return n;
  }

  /** Announces that `node` dies now: every client whose listen stream is there is affected. */
  kill(label: string, node: string): number {
    const rec = this.rec;
    const at = rec.now();
    let affected = 0;
    for (const c of this.clients) {
      if (c.conn === null || c.conn.node !== node) continue;
      c.affected = true;
      c.incident = { client: c.index, node, eventAt: at, cutAt: 0, cutBy: '', reAckAt: 0, newNode: '' };
      rec.listenIncidents.push(c.incident);
      affected++;
    }
    rec.event = { label, node, at, affected };
    return affected;
  }

  async waitRecovered(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.recovering > 0) {
      if (Date.now() > deadline) return false;
      await sleep(50);
    }
    return true;
  }

  /** Stops the announcer, then waits (bounded) until every open stream has every event announced. */
  async drain(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    await this.announcer.stop(timeoutMs);
    for (;;) {
      let pending = 0;
      for (const c of this.clients) if (c.conn !== null) pending += pendingFor(c.conn, this.rec.ann);
      if (pending === 0 || Date.now() > deadline) return pending;
      await sleep(50);
    }
  }

  /** Stops everything; returns when the clients stopped (ms since the run's start). */
  async stop(): Promise<number> {
    if (this.ctx.stopping) return this.rec.now();
    this.ctx.stopping = true;
    this.announcer.destroy();
    const at = this.rec.now();
    for (const c of this.clients) {
      if (c.callInFlight) this.rec.totals.callsInFlightAtStop++;
      stopClient(c, at);
    }
    await sleep(200);
    this.ctx.streamAgent.destroy();
    return at;
  }
}
