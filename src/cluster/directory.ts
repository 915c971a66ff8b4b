/**
 * Which nodes are alive and where they listen. Every node heartbeats into one Redis hash
 * (`mcp:nodes`: node id → {"address","beat","seen"}) and reads it back into a local cache, so
 * forwarding a request never waits on Redis. Survivors remove the Redis keys of a dead node's sessions
 * (it could not, having been killed) instead of leaving them for 30 days.
 *
 * Liveness is judged without comparing clocks: a node is alive while its entry keeps changing (every
 * beat writes a new value), measured on the reader's own monotonic clock. Writers' clocks are never
 * compared with readers' (the `seen` field is for people reading Redis). And a node is judged only
 * from an unbroken series of observations: a reader whose own heartbeat did not land, or whose rounds
 * were more than GAP_MS apart (Redis stalled or unreachable, this process paused, Redis refusing
 * writes at maxmemory), could not have seen its peers beat either, so on its next good round every
 * peer gets a fresh grace period; meanwhile its view stays frozen as it was at the last good round
 * (forwarding goes on from it). So after a Redis stall of any length no live node is reaped, and a
 * node is reaped only after DEAD_AFTER_MS in which Redis took this reader's beats but not the dead one's.
 *
 * Addresses read from Redis are validated (peer-address.ts) before use; an invalid one makes its node
 * unreachable (the 404 path), logged once.
 */
import { log } from '../log.js';
import { createRedisClient, isReady, type RedisClient } from '../registry/redis-client.js';
import { nodeSessionsKey, sessionKey } from '../registry/keys.js';
import { parseRedisUrl } from '../registry/redis-url.js';
import { createPeerRule, type PeerRule } from './peer-address.js';

export const NODES_KEY = 'mcp:nodes';
/**
 * Every node id that ever joined and has not been cleaned up. A node missing from NODES_KEY but
 * still listed here (it died before its first heartbeat landed, or its entry was lost) is reaped too.
 */
export const KNOWN_KEY = 'mcp:nodes:known';
const HEARTBEAT_MS = 1000;
/** A node whose entry has not changed for this long (reader's clock) is not forwarded to. */
const ALIVE_FOR_MS = 4000;
/** A node whose entry has not changed for this long, over unbroken observation, is dead: its sessions' keys are removed. */
export const DEAD_AFTER_MS = 15_000;
/** Good rounds further apart than this break the observation (see the file comment). */
const GAP_MS = 3000;
/** Distinct invalid addresses remembered for log-once. */
const INVALID_LOGGED_MAX = 256;
const REAP_BATCH = 500;
/** Longest a request waits to learn where a newly joined node listens. */
const LOOKUP_MS = 250;

export interface NodeDirectory {
  /**
   * host:port of a live node other than this one, from the cache: null when known to be not alive (or
   * this node), undefined when the cache has never heard of it (then ask `lookup`).
   */
  address(nodeId: string): string | null | undefined;
  /** Asks Redis for a node the cache does not know yet (it joined since the last refresh); bounded wait. */
  lookup(nodeId: string): Promise<string | null>;
  /** Addresses of live peers (for handing new sessions to while this node drains). */
  livePeers(): string[];
  /** True once the node list was read from Redis at least once (or given up on, see isReady). */
  readonly warm: boolean;
  /** Stops announcing this node, at once (drain). */
  leave(): Promise<void>;
  close(leave?: boolean): Promise<void>;
  close(): Promise<void>;
}

/** One node as this reader sees it. */
interface Peer {
  /** The entry as read: every beat of a live node changes it. */
  raw: string;
  /** Validated host:port, or null when the entry's address failed validation. */
  address: string | null;
  /** performance.now() when this reader last saw `raw` change (or first saw the node, or a gap ended). */
  changedAt: number;
}

/** What the directory reports for metrics. */
export interface DirectoryObserver {
  reaped(nodes: number): void;
  invalidAddress(): void;
  /**
   * This node was missing from the known-node set when it beat (a peer reaped it while it was
   * paused or cut off, or Redis restarted empty): its session keys may be gone and should be written again.
   */
  rejoined?(): void;
}

export interface DirectoryOptions {
  /** MCP_PEER_ALLOW entries (see peer-address.ts). */
  peerAllow?: readonly string[];
  observer?: DirectoryObserver;
}

export class RedisDirectory implements NodeDirectory {
  private readonly client: RedisClient;
  private cache = new Map<string, Peer>();
  private readonly timer: NodeJS.Timeout;
  private leaving = false;
  private reaping = false;
  private ticking = false;
  private beat = 0;
  /** performance.now() of the last good round (reads answered and this node's beat landed); 0: none yet. */
  private lastOkAt = 0;
  private readonly rule: PeerRule;
  private readonly observer: DirectoryObserver | undefined;
  private readonly invalidLogged = new Set<string>();
  private writeFailLogged = false;

  private address_ = '';
  private joined = false;
  warm = false;
  /** When each node was first seen missing from the live hash while still in KNOWN_KEY (reader's clock). */
  private readonly missingSince = new Map<string, number>();

  /** host:port this node announces; set once it listens, and announced at once. */
  get selfAddress(): string {
    return this.address_;
  }

  set selfAddress(address: string) {
    this.address_ = address;
    if (this.rule.check(address) === null)
      log.warn("this node's advertised address fails the peer address rule: peers will not forward to it", { address });
    void this.tick();
  }

  constructor(
    url: string,
    private readonly nodeId: string,
    options: DirectoryOptions = {},
  ) {
    this.rule = createPeerRule(options.peerAllow ?? []);
    this.observer = options.observer;
    this.client = createRedisClient(parseRedisUrl(url));
    this.client.on('error', () => {});
    this.timer = setInterval(() => void this.tick(), HEARTBEAT_MS);
  }

  /**
   * Before this node takes sessions: a previous process with the same NODE_ID that was killed left
   * its session keys behind, and its heartbeat now continues under the new process, so nobody else
   * will ever reap them. Remove them now. Bounded: without Redis the node starts anyway.
   */
  async clearPreviousLife(maxWaitMs = 1500): Promise<number> {
    const ready = await new Promise<boolean>((resolve) => {
      if (isReady(this.client)) return resolve(true);
      const t = setTimeout(() => resolve(false), maxWaitMs);
      this.client.once('ready', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
    if (!ready) return 0;
    try {
      return await this.removeSessionsOf(this.nodeId);
    } catch {
      return 0;
    }
  }

  /**
   * Deletes a node's session keys, then forgets them in its set: a member leaves the set only after
   * its key is gone, so a failure half-way (or two survivors reaping at once) leaves nothing behind.
   */
  private async removeSessionsOf(nodeId: string): Promise<number> {
    const setKey = nodeSessionsKey(nodeId);
    let removed = 0;
    for (;;) {
      const ids = await this.client.srandmember(setKey, REAP_BATCH);
      if (!ids || ids.length === 0) break;
      await Promise.all(ids.map((sid) => this.client.del(sessionKey(sid))));
      await this.client.srem(setKey, ...ids);
      removed += ids.length;
    }
    return removed;
  }

  /** Is `p` alive? While rounds fail, the view is judged as it stood at the last good round. */
  private alive(p: Peer, now: number): boolean {
    const ref = now - this.lastOkAt > GAP_MS ? this.lastOkAt : now;
    return p.address !== null && ref - p.changedAt < ALIVE_FOR_MS;
  }

  address(nodeId: string): string | null | undefined {
    if (nodeId === this.nodeId) return null;
    const p = this.cache.get(nodeId);
    if (!p) return undefined;
    return this.alive(p, performance.now()) ? p.address : null;
  }

  async lookup(nodeId: string): Promise<string | null> {
    if (nodeId === this.nodeId || !isReady(this.client)) return null;
    let timer: NodeJS.Timeout | undefined;
    try {
      const raw = await Promise.race([
        this.client.hget(NODES_KEY, nodeId),
        new Promise<null>((r) => {
          timer = setTimeout(() => r(null), LOOKUP_MS);
        }),
      ]);
      if (!raw) return null;
      let p = this.cache.get(nodeId);
      if (!p) this.cache.set(nodeId, (p = { raw, address: this.validAddress(nodeId, raw), changedAt: performance.now() }));
      return this.alive(p, performance.now()) ? p.address : null;
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  livePeers(): string[] {
    const now = performance.now();
    const out: string[] = [];
    for (const [id, p] of this.cache) if (id !== this.nodeId && this.alive(p, now)) out.push(p.address!);
    return out;
  }

  /** The address of a raw entry when it passes the peer rule; else null, logged once per node and address. */
  private validAddress(nodeId: string, raw: string): string | null {
    let address: unknown;
    try {
      address = (JSON.parse(raw) as { address?: unknown }).address;
    } catch {
      address = undefined;
    }
    if (typeof address === 'string' && this.rule.check(address) !== null) return address;
    this.observer?.invalidAddress();
    const key = `${nodeId}\n${String(address)}`;
    if (!this.invalidLogged.has(key)) {
      if (this.invalidLogged.size >= INVALID_LOGGED_MAX) this.invalidLogged.clear();
      this.invalidLogged.add(key);
      log.warn('node directory entry has an invalid address: treating the node as unreachable', {
        peer: nodeId.slice(0, 64),
        address: String(address).slice(0, 128),
      });
    }
    return null;
  }

  /** Writes this node's beat; resolves whether it landed (HSET and SADD acknowledged). */
  private async beatOnce(): Promise<boolean> {
    try {
      const [, added] = await Promise.all([
        this.client.hset(NODES_KEY, this.nodeId, JSON.stringify({ address: this.selfAddress, beat: ++this.beat, seen: Date.now() })),
        this.client.sadd(KNOWN_KEY, this.nodeId),
      ]);
      if (!this.joined) {
        this.joined = true;
        log.info('joined the cluster directory', { address: this.selfAddress });
      } else if (added === 1) {
        log.warn(
          'this node was missing from the known-node set (reaped while it could not beat, or Redis lost its data): re-asserting its sessions',
        );
        this.observer?.rejoined?.();
      }
      this.writeFailLogged = false;
      return true;
    } catch (err) {
      if (!this.writeFailLogged) {
        this.writeFailLogged = true;
        log.warn('heartbeat refused by Redis: keeping the last view of the peers, judging none', { err: (err as Error).message });
      }
      return false;
    }
  }

  private async tick(): Promise<void> {
    // One round at a time: rounds stuck on a stalled Redis must not pile up behind each other.
    if (this.ticking || !isReady(this.client) || !this.selfAddress) return;
    this.ticking = true;
    try {
      const [landed, all, known] = await Promise.all([
        this.leaving ? true : this.beatOnce(),
        this.client.hgetall(NODES_KEY),
        this.client.smembers(KNOWN_KEY),
      ]);
      const now = performance.now();
      // Unbroken observation: this round and the previous good one both had this node's beat land, close together.
      const unbroken = landed && this.lastOkAt > 0 && now - this.lastOkAt <= GAP_MS;
      if (landed) this.lastOkAt = now;
      const next = new Map<string, Peer>();
      const dead: string[] = [];
      for (const [id, raw] of Object.entries(all)) {
        const prev = this.cache.get(id);
        const same = prev !== undefined && prev.raw === raw;
        const p: Peer = same ? prev : { raw, address: this.validAddress(id, raw), changedAt: now };
        if (!unbroken) p.changedAt = now;
        next.set(id, p);
        if (id !== this.nodeId && now - p.changedAt > DEAD_AFTER_MS) dead.push(id);
      }
      this.cache = next;
      this.warm = true;
      for (const id of known) {
        if (id === this.nodeId || next.has(id)) {
          this.missingSince.delete(id);
          continue;
        }
        const since = unbroken ? (this.missingSince.get(id) ?? now) : now;
        this.missingSince.set(id, since);
        if (now - since > DEAD_AFTER_MS && !dead.includes(id)) dead.push(id);
      }
      if (unbroken && dead.length && !this.reaping) void this.reap(dead, next);
    } catch {
      // Redis unreachable: keep the last view; forwarding goes on from it.
    } finally {
      this.ticking = false;
    }
  }

  /**
   * Removes the keys of dead nodes' sessions, then the nodes. Idempotent: any survivor may run it. A
   * node whose entry changed since it was judged (it beat again) is spared.
   */
  private async reap(dead: string[], judged: Map<string, Peer>): Promise<void> {
    this.reaping = true;
    try {
      for (const id of dead) {
        const current = await this.client.hget(NODES_KEY, id);
        if (current !== null && current !== judged.get(id)?.raw) continue;
        const removed = await this.removeSessionsOf(id);
        await this.client.hdel(NODES_KEY, id);
        await this.client.srem(KNOWN_KEY, id);
        this.missingSince.delete(id);
        this.observer?.reaped(1);
        log.warn('removed a dead node and its session keys', { deadNode: id, sessions: removed });
      }
    } catch (err) {
      log.warn('dead-node cleanup failed, will retry', { err: (err as Error).message });
    } finally {
      this.reaping = false;
    }
  }

  /** A clean exit: this node's sessions were deleted by the registry; it leaves both lists. */
  async leave(): Promise<void> {
    this.leaving = true;
    if (isReady(this.client)) {
      await this.client.hdel(NODES_KEY, this.nodeId).catch(() => {});
      await this.client.srem(KNOWN_KEY, this.nodeId).catch(() => {});
    }
  }

  /** Stops heart-beating; leaves the node lists only when `leave` (the registry removed every key). */
  async close(leave = true): Promise<void> {
    clearInterval(this.timer);
    if (leave) await this.leave();
    await this.client.quit().catch(() => this.client.disconnect());
  }
}
