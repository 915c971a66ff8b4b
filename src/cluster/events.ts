/**
 * Definition changes shared across the cluster. A session worker that announces a change (a list
 * changed, a resource updated) tells its own front, which writes it to the node's listen streams at
 * once and publishes it on one Redis pub/sub channel; every other node delivers it to its own listen
 * streams. Pub/sub keeps nothing: a node that is not subscribed when a change is published (Redis
 * down, the node starting) never hears of it, and a client whose stream moved to another node hears
 * the changes published from then on.
 *
 * A message is authenticated with a key derived from the cluster secret, since Redis may be writable
 * by others and a forged change would reach every listening client:
 *
 *   "e1." <sender instance> "." <seq, base36> "." <unix ms, base36> "." <kind> "." <uri, base64url> "." <HMAC-SHA256, base64url>
 *
 * The sender instance is the node id (base64url) and a random part made when the node starts, so a
 * node restarted under the same id is a new sender. A message older than WINDOW_MS or more than
 * SKEW_MS ahead of the receiver's clock is refused, and so is one whose sequence number is not above
 * the last one accepted from its sender (a replay). Refusals are counted, and logged at most once per
 * LOG_EVERY_MS. A node ignores its own messages: it delivered them when they happened.
 *
 * Bounded everywhere: messages over MAX_MESSAGE_CHARS are refused unread; announcements wait in a
 * set (equal ones coalesce: one list_changed after two changes says the same) of at most MAX_PENDING,
 * published at most MAX_IN_FLIGHT at a time; while Redis is unreachable they are dropped and counted;
 * the replay guard remembers at most MAX_SENDERS senders.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { log } from '../log.js';
import { createRedisClient, isReady, type RedisClient } from '../registry/redis-client.js';
import { parseRedisUrl } from '../registry/redis-url.js';

/** The one channel of a cluster (every node sharing a Redis is one cluster). */
export const EVENTS_CHANNEL = 'mcp:events';
/** A message is accepted this long after it was sent ... */
export const WINDOW_MS = 30_000;
/** ... and this far ahead of the receiver's clock. */
export const SKEW_MS = 5_000;
/** Longest message read; a resource uri longer than fits is not published (counted). */
export const MAX_MESSAGE_CHARS = 4096;
/** Distinct announcements waiting to be published; beyond it new ones are dropped (counted). */
export const MAX_PENDING = 256;
/** PUBLISH commands in flight at once. */
export const MAX_IN_FLIGHT = 16;
/** Senders whose last sequence number the replay guard keeps (the oldest is forgotten first). */
export const MAX_SENDERS = 1024;
/** The subscriber pings this often, so a silent Redis cuts its connection (and it reconnects). */
const PING_MS = 5000;
const LOG_EVERY_MS = 10_000;

const PREFIX = 'e1.';
const MAC_BYTES = 32;
const MAC_CHARS = 43;
const FIELD = /^[A-Za-z0-9_-]+$/;
const NUM = /^[0-9a-z]{1,11}$/;
const B64URL = /^[A-Za-z0-9_-]*$/;

export type ChangeKind = 'tools' | 'prompts' | 'resources' | 'updated';
const KIND_CODE: Readonly<Record<ChangeKind, string>> = Object.freeze({ tools: 't', prompts: 'p', resources: 'r', updated: 'u' });
const CODE_KIND: ReadonlyMap<string, ChangeKind> = new Map(Object.entries(KIND_CODE).map(([k, c]) => [c, k as ChangeKind]));

/** Why a message was refused (label values of mcp_cluster_events_rejected_total). */
export const EVENT_REJECTIONS = ['malformed', 'too_large', 'invalid', 'stale', 'replayed'] as const;
export type EventRejection = (typeof EVENT_REJECTIONS)[number];
/** Why an announcement was not published (label values of mcp_cluster_events_dropped_total). */
export const EVENT_DROPS = ['redis_down', 'queue_full', 'publish_failed', 'too_large'] as const;
export type EventDrop = (typeof EVENT_DROPS)[number];

export interface OpenedEvent {
  ok: true;
  sender: string;
  seq: number;
  kind: ChangeKind;
  /** The resource's uri for `updated`, else ''. */
  uri: string;
}
export type Opened = OpenedEvent | { ok: false; reason: EventRejection };

export interface EventCodec {
  /** This node's sender instance. */
  readonly sender: string;
  seal(kind: ChangeKind, uri: string, seq: number, nowMs: number): string;
  /** Checks format, size, MAC and age; replays are the caller's (ReplayGuard). */
  open(message: string, nowMs: number): Opened;
}

/** `secret` is the cluster secret; `nonce` tells this start of the node from earlier ones. */
export function createEventCodec(secret: string, nodeId: string, nonce = randomBytes(6).toString('base64url')): EventCodec {
  // A key of its own, so an event MAC can never stand in for a session tag, a forward header or a requestState.
  const key = createHmac('sha256', secret).update('mcp-cluster-events-v1').digest();
  const sender = `${Buffer.from(nodeId, 'utf8').toString('base64url')}_${nonce}`;
  const mac = (signed: string): Buffer => createHmac('sha256', key).update(signed).digest();
  return {
    sender,
    seal(kind, uri, seq, nowMs) {
      const signed = `${PREFIX}${sender}.${seq.toString(36)}.${Math.floor(nowMs).toString(36)}.${KIND_CODE[kind]}.${Buffer.from(uri, 'utf8').toString('base64url')}`;
      return `${signed}.${mac(signed).toString('base64url')}`;
    },
    open(message, nowMs) {
      if (message.length > MAX_MESSAGE_CHARS) return { ok: false, reason: 'too_large' };
      if (!message.startsWith(PREFIX)) return { ok: false, reason: 'malformed' };
      const parts = message.slice(PREFIX.length).split('.', 7);
      if (parts.length !== 6) return { ok: false, reason: 'malformed' };
      const [from, seq, ts, code, uri, tag] = parts;
      const kind = CODE_KIND.get(code);
      if (!FIELD.test(from) || !NUM.test(seq) || !NUM.test(ts) || kind === undefined || !B64URL.test(uri))
        return { ok: false, reason: 'malformed' };
      if (tag.length !== MAC_CHARS || !B64URL.test(tag)) return { ok: false, reason: 'malformed' };
      const given = Buffer.from(tag, 'base64url');
      if (given.length !== MAC_BYTES || !timingSafeEqual(given, mac(message.slice(0, message.length - tag.length - 1))))
        return { ok: false, reason: 'invalid' };
      // Read only from a message a node of this cluster signed.
      const age = nowMs - parseInt(ts, 36);
      if (age > WINDOW_MS || age < -SKEW_MS) return { ok: false, reason: 'stale' };
      return {
        ok: true,
        sender: from,
        seq: parseInt(seq, 36),
        kind,
        uri: kind === 'updated' ? Buffer.from(uri, 'base64url').toString('utf8') : '',
      };
    },
  };
}

/**
 * The last sequence number accepted from each sender, for at most `max` senders (the least recently
 * heard is forgotten first; a message from a forgotten sender is accepted once within its window).
 */
export class ReplayGuard {
  private readonly last = new Map<string, number>();

  constructor(private readonly max = MAX_SENDERS) {}

  accept(sender: string, seq: number): boolean {
    const prev = this.last.get(sender);
    if (prev !== undefined && seq <= prev) return false;
    this.last.delete(sender);
    if (this.last.size >= this.max) this.last.delete(this.last.keys().next().value!);
    this.last.set(sender, seq);
    return true;
  }

  get size(): number {
    return this.last.size;
  }
}

/** Where changes from other nodes go (the node's listen streams). */
export interface ChangeSink {
  changed(kind: 'tools' | 'prompts' | 'resources'): void;
  updated(uri: string): void;
}

/** What the channel reports for metrics. */
export interface EventsObserver {
  published(): void;
  received(): void;
  rejected(reason: EventRejection): void;
  dropped(reason: EventDrop, count: number): void;
}

/** The pending key of an announcement: its kind code, then the uri for `updated`. */
function pendingKey(kind: ChangeKind, uri: string): string {
  return kind === 'updated' ? `u${uri}` : KIND_CODE[kind];
}

export class ClusterEvents {
  private readonly codec: EventCodec;
  private readonly replay = new ReplayGuard();
  private readonly pub: RedisClient;
  private readonly sub: RedisClient;
  private readonly pending = new Set<string>();
  private readonly ping: NodeJS.Timeout;
  private seq = 0;
  private inFlight = 0;
  private scheduled = false;
  private closed = false;
  private lastRejectLog = -Infinity;
  private subscribedLogged = false;
  /** The longest uri that still fits a message. */
  private readonly maxUriBytes: number;

  constructor(
    url: string,
    secret: string,
    nodeId: string,
    private readonly sink: ChangeSink,
    private readonly observer: EventsObserver,
  ) {
    this.codec = createEventCodec(secret, nodeId);
    const overhead = this.codec.seal('updated', '', Number.MAX_SAFE_INTEGER, 1e13).length;
    this.maxUriBytes = Math.floor(((MAX_MESSAGE_CHARS - overhead) * 3) / 4);
    const target = parseRedisUrl(url);
    this.pub = createRedisClient(target);
    this.sub = createRedisClient(target);
    this.pub.on('error', () => {});
    this.sub.on('error', () => {});
    this.pub.on('ready', () => this.schedule());
    // ioredis subscribes again by itself after a reconnect; asking once more on every ready also
    // covers the first connection and is harmless.
    this.sub.on('ready', () => this.subscribe());
    this.sub.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    this.ping = setInterval(() => {
      if (isReady(this.sub)) this.sub.ping().catch(() => {});
    }, PING_MS);
    this.ping.unref();
  }

  /** Publishes a change this node's workers announced (the node delivered it locally already). */
  publish(kind: ChangeKind, uri = ''): void {
    if (this.closed) return;
    if (kind === 'updated' && Buffer.byteLength(uri, 'utf8') > this.maxUriBytes) return this.observer.dropped('too_large', 1);
    const key = pendingKey(kind, uri);
    // One announcement of the same change still waiting covers this one too.
    if (this.pending.has(key)) return;
    if (this.pending.size >= MAX_PENDING) return this.observer.dropped('queue_full', 1);
    this.pending.add(key);
    this.schedule();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.ping);
    this.pending.clear();
    await Promise.all([this.pub, this.sub].map((c) => c.quit().catch(() => c.disconnect())));
  }

  private subscribe(): void {
    if (this.closed) return;
    this.sub.subscribe(EVENTS_CHANNEL).then(
      () => {
        if (this.subscribedLogged) return;
        this.subscribedLogged = true;
        log.info('subscribed to cluster change events', { channel: EVENTS_CHANNEL });
      },
      () => {},
    );
  }

  /** Publishes what is pending, after the current turn so that a burst of announcements coalesces. */
  private schedule(): void {
    if (this.scheduled || this.closed || this.pending.size === 0) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.closed) return;
    if (!isReady(this.pub)) {
      // Without Redis other nodes cannot hear of changes now, and a late list_changed is worth little.
      if (this.pending.size > 0) this.observer.dropped('redis_down', this.pending.size);
      this.pending.clear();
      return;
    }
    for (const key of this.pending) {
      if (this.inFlight >= MAX_IN_FLIGHT) return;
      this.pending.delete(key);
      const kind = CODE_KIND.get(key[0])!;
      const message = this.codec.seal(kind, kind === 'updated' ? key.slice(1) : '', ++this.seq, Date.now());
      this.inFlight++;
      void this.pub
        .publish(EVENTS_CHANNEL, message)
        .then(
          () => this.observer.published(),
          () => this.observer.dropped('publish_failed', 1),
        )
        .finally(() => {
          this.inFlight--;
          this.schedule();
        });
    }
  }

  private onMessage(channel: string, message: string): void {
    if (channel !== EVENTS_CHANNEL || this.closed) return;
    const ev = this.codec.open(message, Date.now());
    if (!ev.ok) return this.refuse(ev.reason);
    if (ev.sender === this.codec.sender) return;
    if (!this.replay.accept(ev.sender, ev.seq)) return this.refuse('replayed');
    this.observer.received();
    if (ev.kind === 'updated') this.sink.updated(ev.uri);
    else this.sink.changed(ev.kind);
  }

  private refuse(reason: EventRejection): void {
    this.observer.rejected(reason);
    const now = performance.now();
    if (now - this.lastRejectLog < LOG_EVERY_MS) return;
    this.lastRejectLog = now;
    log.warn('refused a cluster change event (not signed with this cluster secret, too old, replayed or malformed)', { reason });
  }
}
