/**
 * Which nodes are alive and where they listen. Every node heartbeats into one Redis hash
 * (`mcp:nodes`: node id → {"address","seen"}) and reads it back into a local cache, so forwarding a
 * request never waits on Redis. A node not seen for DEAD_AFTER_MS is dead; survivors then remove the
 * Redis keys of its sessions (it could not, having been killed) instead of leaving them for 30 days.
 */
import { log } from '../log.js';
import { createRedisClient, isReady, type RedisClient } from '../registry/redis-client.js';
import { nodeSessionsKey, sessionKey } from '../registry/keys.js';
import { parseRedisUrl } from '../registry/redis-url.js';

export const NODES_KEY = 'mcp:nodes';
/**
 * Every node id that ever joined and has not been cleaned up. A node missing from NODES_KEY but
 * still listed here (it died before its first heartbeat landed, or its entry was lost) is reaped too.
 */
export const KNOWN_KEY = 'mcp:nodes:known';
const HEARTBEAT_MS = 1000;
/** A node whose heartbeat is older than this is not forwarded to. */
const ALIVE_FOR_MS = 4000;
/** A node silent this long is dead: its sessions' keys are removed. */
export const DEAD_AFTER_MS = 15_000;
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

interface Entry {
  address: string;
  seen: number;
}

export class RedisDirectory implements NodeDirectory {
  private readonly client: RedisClient;
  private cache = new Map<string, Entry>();
  private readonly timer: NodeJS.Timeout;
  private leaving = false;
  private reaping = false;

  private address_ = '';
  private joined = false;
  warm = false;
  /** When each node was first seen missing from the live hash while still in KNOWN_KEY. */
  private readonly missingSince = new Map<string, number>();

  /** host:port this node announces; set once it listens, and announced at once. */
  get selfAddress(): string {
    return this.address_;
  }

  set selfAddress(address: string) {
    this.address_ = address;
    void this.tick();
  }

  constructor(url: string, private readonly nodeId: string) {
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
      const ids = (await this.client.srandmember(setKey, REAP_BATCH)) as string[];
      if (!ids || ids.length === 0) break;
      await Promise.all(ids.map((sid) => this.client.del(sessionKey(sid))));
      await this.client.srem(setKey, ...ids);
      removed += ids.length;
    }
    return removed;
  }

  address(nodeId: string): string | null | undefined {
    if (nodeId === this.nodeId) return null;
    const e = this.cache.get(nodeId);
    if (!e) return undefined;
    return Date.now() - e.seen < ALIVE_FOR_MS ? e.address : null;
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
      const e = JSON.parse(raw) as Entry;
      this.cache.set(nodeId, e);
      return Date.now() - e.seen < ALIVE_FOR_MS ? e.address : null;
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  livePeers(): string[] {
    const now = Date.now();
    const out: string[] = [];
    for (const [id, e] of this.cache) if (id !== this.nodeId && now - e.seen < ALIVE_FOR_MS) out.push(e.address);
    return out;
  }

  private async tick(): Promise<void> {
    if (!isReady(this.client) || !this.selfAddress) return;
    try {
      const now = Date.now();
      if (!this.leaving) {
        await this.client.hset(NODES_KEY, this.nodeId, JSON.stringify({ address: this.selfAddress, seen: now }));
        if (!this.joined) {
          await this.client.sadd(KNOWN_KEY, this.nodeId);
          this.joined = true;
          log.info('joined the cluster directory', { address: this.selfAddress });
        }
      }
      const all = await this.client.hgetall(NODES_KEY);
      const known = await this.client.smembers(KNOWN_KEY);
      const next = new Map<string, Entry>();
      const dead: string[] = [];
      for (const [id, raw] of Object.entries(all)) {
        try {
          const e = JSON.parse(raw) as Entry;
          next.set(id, e);
          if (id !== this.nodeId && now - e.seen > DEAD_AFTER_MS) dead.push(id);
        } catch {
          dead.push(id);
        }
      }
      this.cache = next;
      this.warm = true;
      for (const id of known) {
        if (id === this.nodeId || next.has(id)) {
          this.missingSince.delete(id);
          continue;
        }
        const since = this.missingSince.get(id) ?? now;
        this.missingSince.set(id, since);
        if (now - since > DEAD_AFTER_MS && !dead.includes(id)) dead.push(id);
      }
      if (dead.length && !this.reaping) void this.reap(dead);
    } catch {
      // Redis unreachable: keep the last view; forwarding degrades to the plain 404.
    }
  }

  /** Removes the keys of dead nodes' sessions, then the nodes. Idempotent: any survivor may run it. */
  private async reap(dead: string[]): Promise<void> {
    this.reaping = true;
    try {
      for (const id of dead) {
        const removed = await this.removeSessionsOf(id);
        await this.client.hdel(NODES_KEY, id);
        await this.client.srem(KNOWN_KEY, id);
        this.missingSince.delete(id);
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
