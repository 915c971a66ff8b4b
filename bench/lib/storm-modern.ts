/**
 * The pure parts of the storm's 2026-07-28 ("modern") fleet: request bodies and headers (no session,
 * no cookie: every request carries its own `_meta`), a streaming SSE parser for `subscriptions/listen`
 * streams, and the accounting of the change events the run announces.
 *
 * Change notifications carry no payload a server could number, so the run announces each event as an
 * update of one of TICK_SLOTS resources, `storm://tick/<seq mod TICK_SLOTS>`, and every listen stream
 * subscribes to all of them. The announcer keeps the time each event was sent; a notification for slot
 * k received at time t is the latest event of slot k sent before t (unambiguous while delivery takes
 * less than TICK_SLOTS / rate seconds; the options keep that above MIN_HORIZON_S).
 */

export const MODERN_VERSION = '2026-07-28';
export const META_PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion';
const META_CLIENT_INFO = 'io.modelcontextprotocol/clientInfo';
const META_CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';

/** Resources each listen stream subscribes to (the node accepts at most 256 per stream). */
export const TICK_SLOTS = 128;
export const TICK_PREFIX = 'storm://tick/';
/** The tool of the storm's tool module (bench/storm-tools.ts) that announces one event. */
export const TICK_TOOL = 'storm_tick';
/** Slots / announce rate must leave at least this many seconds before a slot is reused. */
export const MIN_HORIZON_S = 5;

export const LISTEN_ACK = 'notifications/subscriptions/acknowledged';
export const RESOURCE_UPDATED = 'notifications/resources/updated';

export function tickUri(slot: number): string {
  return `${TICK_PREFIX}${slot}`;
}

/** The slot of a tick uri, or -1 for any other uri. */
export function slotOfUri(uri: unknown): number {
  if (typeof uri !== 'string' || !uri.startsWith(TICK_PREFIX)) return -1;
  const rest = uri.slice(TICK_PREFIX.length);
  if (!/^\d{1,4}$/.test(rest)) return -1;
  const slot = Number(rest);
  return slot < TICK_SLOTS ? slot : -1;
}

/** The `_meta` envelope every modern request carries, serialised once per client name. */
function metaJson(clientName: string): string {
  return JSON.stringify({
    [META_PROTOCOL_VERSION]: MODERN_VERSION,
    [META_CLIENT_INFO]: { name: clientName, version: '1' },
    [META_CLIENT_CAPABILITIES]: {},
  });
}

/** POST headers of a modern request: the protocol version, and `Mcp-Method` / `Mcp-Name` mirroring the body. */
export function modernHeaders(method: string, name?: string): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': MODERN_VERSION,
    'mcp-method': method,
  };
  if (name !== undefined) h['mcp-name'] = name;
  return h;
}

/** tools/call bodies for one tool and fixed arguments, JSON built once; only the id varies. */
export function modernCallBodyFactory(clientName: string, tool: string, args: Record<string, unknown>): (id: number) => string {
  const head = '{"jsonrpc":"2.0","id":';
  const tail = `,"method":"tools/call","params":{"name":${JSON.stringify(tool)},"arguments":${JSON.stringify(args)},"_meta":${metaJson(clientName)}}}`;
  return (id) => head + id + tail;
}

/** The announcer's tools/call: event `seq` as an update of its slot's resource. */
export function tickCallBody(clientName: string, id: number, seq: number): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name: TICK_TOOL, arguments: { slot: seq % TICK_SLOTS }, _meta: JSON.parse(metaJson(clientName)) as unknown },
  });
}

/** A `subscriptions/listen` body: tools and prompts list changes, and every tick resource. */
export function listenBody(clientName: string, id: number): string {
  const uris = Array.from({ length: TICK_SLOTS }, (_, i) => tickUri(i));
  return JSON.stringify({
    jsonrpc: '2.0',
    id,
    method: 'subscriptions/listen',
    params: {
      notifications: { toolsListChanged: true, promptsListChanged: true, resourceSubscriptions: uris },
      _meta: JSON.parse(metaJson(clientName)) as unknown,
    },
  });
}

/** The node a response came from, read from the balancer's inserted cookie `_mcp_backend=<node>` ('' if none). */
export function nodeOfSetCookie(setCookie: readonly string[] | undefined, cookieName = '_mcp_backend'): string {
  for (const c of setCookie ?? []) {
    if (!c.startsWith(`${cookieName}=`)) continue;
    const semi = c.indexOf(';');
    return c.slice(cookieName.length + 1, semi < 0 ? c.length : semi);
  }
  return '';
}

// --- SSE -----------------------------------------------------------------------------------------

/** Longest event kept while it is incomplete; beyond it the event is dropped (counted by the caller). */
export const MAX_SSE_EVENT_CHARS = 64 * 1024;

/**
 * A streaming SSE parser: feed() takes chunks as they arrive and returns the `data` of each event
 * completed by them (multi-line data joined with "\n"; comments, `id:`, `event:` and `retry:` skipped,
 * events without data skipped).
 */
export class SseParser {
  private tail = '';
  private data: string[] = [];
  private size = 0;
  /** Events dropped for being over MAX_SSE_EVENT_CHARS. */
  oversized = 0;

  feed(chunk: string): string[] {
    const out: string[] = [];
    const s = this.tail + chunk;
    let start = 0;
    for (;;) {
      const nl = s.indexOf('\n', start);
      if (nl < 0) break;
      const end = nl > start && s.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      if (end === start) {
        if (this.data.length > 0) out.push(this.data.join('\n'));
        this.data = [];
        this.size = 0;
      } else if (s.startsWith('data:', start)) {
        const v = s.slice(start + (s.charCodeAt(start + 5) === 32 ? 6 : 5), end);
        this.size += v.length;
        if (this.size > MAX_SSE_EVENT_CHARS) {
          this.oversized++;
          this.data = [];
          this.size = 0;
        } else this.data.push(v);
      }
      start = nl + 1;
    }
    this.tail = s.slice(start);
    if (this.tail.length > MAX_SSE_EVENT_CHARS) {
      this.oversized++;
      this.tail = '';
    }
    return out;
  }
}

export interface ListenMessage {
  method: string;
  /** The resource uri of a `notifications/resources/updated`, else ''. */
  uri: string;
}

const FAST_HEAD = '{"jsonrpc":"2.0","method":"';
const URI_KEY = '"uri":"';

/**
 * The method (and updated uri) of one listen stream message; null when it is not a notification.
 * Thousands of streams each get every event, so the node's own layout (`{"jsonrpc":"2.0","method":...`
 * with a plain uri) is read without JSON.parse; anything else is parsed.
 */
export function listenMessage(data: string): ListenMessage | null {
  if (data.startsWith(FAST_HEAD)) {
    const end = data.indexOf('"', FAST_HEAD.length);
    const method = data.slice(FAST_HEAD.length, end);
    if (end > 0 && !method.includes('\\')) {
      const at = data.indexOf(URI_KEY, end);
      if (at < 0) return { method, uri: '' };
      const close = data.indexOf('"', at + URI_KEY.length);
      const uri = data.slice(at + URI_KEY.length, close);
      if (close > 0 && !uri.includes('\\')) return { method, uri };
    }
  }
  let m: unknown;
  try {
    m = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof m !== 'object' || m === null) return null;
  const { method, params } = m as { method?: unknown; params?: { uri?: unknown } };
  if (typeof method !== 'string') return null;
  return { method, uri: typeof params?.uri === 'string' ? params.uri : '' };
}

// --- events announced and delivered --------------------------------------------------------------

/** One announced event: when its tools/call was sent and answered (ms since the run's start). */
export interface Announcement {
  sentAt: number;
  /** 0 until answered; stays 0 when the call failed. */
  answeredAt: number;
  /** The call completed: the node announced the change (a failed call may or may not have). */
  ok: boolean;
}

/** Every event the run announced, by sequence number (0, 1, ...). */
export class Announcements {
  readonly list: Announcement[] = [];

  /** The sequence number of the next event. */
  get next(): number {
    return this.list.length;
  }

  sent(at: number): number {
    this.list.push({ sentAt: at, answeredAt: 0, ok: false });
    return this.list.length - 1;
  }

  answered(seq: number, at: number, ok: boolean): void {
    const a = this.list[seq];
    a.answeredAt = at;
    a.ok = ok;
  }

  /** The event a notification for `slot` received at `at` stands for: the latest of that slot sent by then; -1 if none. */
  resolve(slot: number, at: number): number {
    const last = this.list.length - 1;
    if (slot < 0 || slot >= TICK_SLOTS || last < 0) return -1;
    let s = last - ((((last - slot) % TICK_SLOTS) + TICK_SLOTS) % TICK_SLOTS);
    while (s >= 0 && this.list[s].sentAt > at) s -= TICK_SLOTS;
    return s >= 0 ? s : -1;
  }
}

/**
 * One listen stream from its acknowledgement to its end. The events it is owed are those sent after
 * its acknowledgement arrived (the node registered the stream before writing it), announced
 * successfully, and answered before the stream ended; a stream cut by a node's death is owed only
 * those answered more than `cutGraceMs` before the cut (later ones may have been on their way).
 */
export class ListenConn {
  /** Events received at or after `base`, one bit each. */
  private bits = new Uint8Array(64);
  /** Events received (owed or not), duplicates apart. */
  received = 0;
  /** The same event received twice on this stream. */
  duplicates = 0;
  /** Events sent before the acknowledgement that still arrived (not owed, welcome). */
  early = 0;
  /** Notifications that named no known event (an unknown uri, or a slot with no event sent yet). */
  unknown = 0;
  /** ms since the run's start; null while open. */
  closedAt: number | null = null;
  /** The stream ended because a node the run killed took it away. */
  cut = false;
  /** How it ended: 'abort', 'end', an error code, or 'stop' (the run ended). */
  endedBy = '';

  constructor(
    readonly client: number,
    readonly node: string,
    readonly ackAt: number,
    /** The first event sent after the acknowledgement. */
    readonly base: number,
  ) {}

  /** Records event `seq` received; false for a duplicate. */
  got(seq: number): boolean {
    if (seq < 0) {
      this.unknown++;
      return false;
    }
    if (seq < this.base) {
      this.early++;
      this.received++;
      return true;
    }
    const i = seq - this.base;
    if (i >> 3 >= this.bits.length) {
      const grown = new Uint8Array(Math.max(this.bits.length * 2, (i >> 3) + 1));
      grown.set(this.bits);
      this.bits = grown;
    }
    const mask = 1 << (i & 7);
    if (this.bits[i >> 3] & mask) {
      this.duplicates++;
      return false;
    }
    this.bits[i >> 3] |= mask;
    this.received++;
    return true;
  }

  has(seq: number): boolean {
    if (seq < this.base) return false;
    const i = seq - this.base;
    return i >> 3 < this.bits.length && (this.bits[i >> 3] & (1 << (i & 7))) !== 0;
  }
}

export interface ConnAccount {
  owed: number;
  /** Owed events received. */
  got: number;
  /** Owed events never received. */
  lost: number;
  /** The first few lost sequence numbers. */
  lostSeqs: number[];
}

const LOST_SEQS_KEPT = 20;

/** What one stream was owed and got; `endAt` closes a stream still open at the end of the run. */
export function accountConn(c: ListenConn, ann: Announcements, endAt: number, cutGraceMs: number): ConnAccount {
  const until = c.closedAt === null ? endAt : c.cut ? c.closedAt - cutGraceMs : c.closedAt;
  const out: ConnAccount = { owed: 0, got: 0, lost: 0, lostSeqs: [] };
  for (let s = c.base; s < ann.list.length; s++) {
    const a = ann.list[s];
    if (!a.ok || a.answeredAt > until) continue;
    out.owed++;
    if (c.has(s)) out.got++;
    else {
      out.lost++;
      if (out.lostSeqs.length < LOST_SEQS_KEPT) out.lostSeqs.push(s);
    }
  }
  return out;
}

/** Events announced successfully that an open stream has not received yet (the final wait before stopping). */
export function pendingFor(c: ListenConn, ann: Announcements): number {
  let n = 0;
  for (let s = c.base; s < ann.list.length; s++) if (ann.list[s].ok && !c.has(s)) n++;
  return n;
}

/**
 * Streams by what happened to them: `cut` ended with the node the run killed (owed events up to the
 * grace before the cut), `reopened` were acknowledged after the kill (a cut client listening again,
 * or any stream opened later), `kept` were open before the kill and not cut by it.
 */
export type ConnClass = 'cut' | 'reopened' | 'kept';
export const CONN_CLASSES: readonly ConnClass[] = ['cut', 'reopened', 'kept'];

export interface ClassAccount {
  streams: number;
  owed: number;
  lost: number;
  /** Streams that lost at least one owed event. */
  streamsWithLoss: number;
}

export interface ListenAccount {
  streams: number;
  owed: number;
  got: number;
  lost: number;
  duplicates: number;
  early: number;
  unknown: number;
  byClass: Record<ConnClass, ClassAccount>;
  /** Clients that lost at least one owed event. */
  clientsWithLoss: number[];
  /** Lost (stream, event) pairs by the second the event was sent (index: whole seconds since the start). */
  lostBySecond: number[];
  /** The first few losses: client, node, event, class. */
  examples: Array<{ client: number; node: string; seq: number; class: ConnClass }>;
}

const EXAMPLES_KEPT = 50;

export function classOf(c: ListenConn, eventAt: number | null): ConnClass {
  if (c.cut) return 'cut';
  return eventAt !== null && c.ackAt >= eventAt ? 'reopened' : 'kept';
}

/** Every stream's owed, received and lost events, together and by class. */
export function accountListen(
  conns: readonly ListenConn[],
  ann: Announcements,
  endAt: number,
  eventAt: number | null,
  cutGraceMs: number,
): ListenAccount {
  const empty = (): ClassAccount => ({ streams: 0, owed: 0, lost: 0, streamsWithLoss: 0 });
  const out: ListenAccount = {
    streams: conns.length,
    owed: 0,
    got: 0,
    lost: 0,
    duplicates: 0,
    early: 0,
    unknown: 0,
    byClass: { cut: empty(), reopened: empty(), kept: empty() },
    clientsWithLoss: [],
    lostBySecond: [],
    examples: [],
  };
  const clients = new Set<number>();
  for (const c of conns) {
    const a = accountConn(c, ann, endAt, cutGraceMs);
    const k = classOf(c, eventAt);
    const b = out.byClass[k];
    b.streams++;
    b.owed += a.owed;
    b.lost += a.lost;
    out.owed += a.owed;
    out.got += a.got;
    out.lost += a.lost;
    out.duplicates += c.duplicates;
    out.early += c.early;
    out.unknown += c.unknown;
    if (a.lost === 0) continue;
    b.streamsWithLoss++;
    clients.add(c.client);
    // The counts by second need every lost event, not only the kept few.
    const until = c.closedAt === null ? endAt : c.cut ? c.closedAt - cutGraceMs : c.closedAt;
    for (let s = c.base; s < ann.list.length; s++) {
      const e = ann.list[s];
      if (!e.ok || e.answeredAt > until || c.has(s)) continue;
      const i = Math.floor(e.sentAt / 1000);
      while (out.lostBySecond.length <= i) out.lostBySecond.push(0);
      out.lostBySecond[i]++;
      if (out.examples.length < EXAMPLES_KEPT) out.examples.push({ client: c.client, node: c.node, seq: s, class: k });
    }
  }
  out.clientsWithLoss = [...clients].sort((x, y) => x - y);
  return out;
}
