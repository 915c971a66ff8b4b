/**
 * The Redis session registry of ARCHITECTURE.md, sticky sessions: batched, local-first, and calm when Redis is not.
 *
 * - Writes (a new session's `SET mcp:session:<id> … EX 30d`, a closed session's `DEL`) go into a
 *   bounded queue and leave in batches, by count (registryBatch) or after registryFlushMs; no request
 *   ever awaits them. While Redis is unreachable nothing is sent; the queue keeps the newest writes and
 *   drops (and counts) the oldest.
 * - Every (re)connect, including to a Redis that restarted empty, and every registryRefreshMs,
 *   re-asserts every live local session through the same batches: that is both recovery and TTL
 *   refresh, so a live session never loses its key. The node's own session set is reconciled at the
 *   same moments: keys of sessions no longer live here (DELs dropped during an outage, sessions of a
 *   crashed earlier process with the same NODE_ID) are deleted.
 * - lookup() is only asked on a local miss, after the 404 went out; it answers within
 *   LOOKUP_TIMEOUT_MS or rejects (local-only, counted as degraded).
 * - A batch is one round trip: one Lua call on a single server (batch-script.ts), pipelines split by
 *   the node set serving each key's slot on a Redis Cluster. Each batch also keeps
 *   `mcp:node:<nodeId>:sessions`, so a dead node's keys can be found without scanning.
 */
import { ErrorCodes, McpRuntimeError } from '../errors.js';
import { log } from '../log.js';
import { DEFAULTS, type NodeOptions } from '../config.js';
import {
  CLOSE_FLUSH_MS,
  CLOSE_QUIT_MS,
  FLUSH_MAX_IN_FLIGHT,
  FLUSH_RETRY_MS,
  FLUSH_WARN_EVERY_MS,
  LOOKUP_MAX_IN_FLIGHT,
  LOOKUP_TIMEOUT_MS,
  RECONCILE_PAGE,
  SESSION_PREFIX,
  SESSION_TTL_S,
  nodeSessionsKey,
  ownerValuePrefix,
} from './keys.js';
import { createRedisClient, isReady, slotGroup, type RedisClient } from './redis-client.js';
import { parseRedisUrl } from './redis-url.js';
import type { RegistryHooks, RegistryIdentity, RegistryObserver, SessionOwner, SessionRegistry } from './registry.js';
import { BATCH_COMMAND, BATCH_SCRIPT, batchScriptArgs } from './batch-script.js';
import { keySlot } from './slot.js';
import { OP_DEL, OP_SET, WriteQueue, type WriteBatch, type WriteOp } from './write-queue.js';

type ScriptedClient = Record<typeof BATCH_COMMAND, (...args: Array<string | number>) => Promise<unknown>>;
type RegistryConfig = Pick<NodeOptions, 'registryBatch' | 'registryFlushMs' | 'registryQueueMax' | 'registryRefreshMs'> &
  Partial<Pick<NodeOptions, 'registryQueueMaxBytes'>>;

/** Counters for tests, the benchmark and logs. */
export interface RedisRegistryStats {
  connected: boolean;
  cluster: boolean;
  queued: number;
  inFlight: number;
  /** Requests sent that each await one reply (a script call or a pipeline): one network round trip each. */
  roundTrips: number;
  /** Redis commands sent in them (a script call is one). */
  commands: number;
  /** Session writes (SET or DEL) Redis acknowledged. */
  written: number;
  dropped: number;
  degraded: number;
  failedFlushes: number;
  /** Completed re-assertions of all live sessions (reconnects and TTL refreshes). */
  resyncs: number;
}

const UNAVAILABLE = new McpRuntimeError(ErrorCodes.MCP_ERR_REGISTRY_UNAVAILABLE, 'session registry unreachable: answering local-only');
const TIMED_OUT = new McpRuntimeError(ErrorCodes.MCP_ERR_REGISTRY_UNAVAILABLE, 'session registry lookup timed out: answering local-only');
/** EVAL renamed away or denied by an ACL; other errors (OOM, BUSY, NOSCRIPT) are not about scripting. */
const SCRIPT_REFUSED = /unknown command|NOPERM/i;
const RESYNC_NONE = 0;
const RESYNC_CONNECT = 1;
const RESYNC_REFRESH = 2;

export class RedisRegistry implements SessionRegistry {
  readonly kind = 'redis' as const;
  private readonly client: RedisClient;
  private readonly cluster: boolean;
  /** One Lua call per batch (single server) rather than a pipeline of one command per write. */
  private scripted: boolean;
  private readonly queue: WriteQueue;
  /** Creation time of each session this node registered, so re-assertions write the same value. */
  private readonly created = new Map<string, number>();
  private readonly valuePrefix: string;
  private readonly nodeKey: string;
  private readonly observer: RegistryObserver;
  private readonly batchMax: number;
  private readonly queueMax: number;
  private readonly flushMs: number;

  private flushTimer: NodeJS.Timeout | null = null;
  private flushImmediate: NodeJS.Immediate | null = null;
  private readonly refreshTimer: NodeJS.Timeout;
  private inFlight = 0;
  private retryAt = 0;
  private lookups = 0;
  /** Cursor over the live sessions being re-asserted, or null. */
  private resync: Iterator<string> | null = null;
  private resyncReason = RESYNC_NONE;
  private resyncCount = 0;
  private resyncStarted = 0;
  private up = false;
  private outageLogged = false;
  private flushWarnedAt = 0;
  private closing = false;
  private reconciling = false;
  private readonly counts = { roundTrips: 0, commands: 0, written: 0, dropped: 0, degraded: 0, failedFlushes: 0, resyncs: 0 };

  /** The value written for a session: who owns it, where, since when. */
  private readonly valueOf = (id: string): string => this.valuePrefix + (this.created.get(id) ?? Date.now()) + '}';

  private readonly runFlush = (): void => {
    this.flushTimer = null;
    this.flushImmediate = null;
    this.flush();
  };

  constructor(
    url: string,
    identity: RegistryIdentity,
    config: Readonly<RegistryConfig>,
    private readonly hooks: RegistryHooks,
  ) {
    const target = parseRedisUrl(url);
    this.cluster = target.mode === 'cluster';
    this.observer = hooks.observer;
    this.batchMax = config.registryBatch;
    this.flushMs = config.registryFlushMs;
    this.valuePrefix = ownerValuePrefix(identity.nodeId, identity.address);
    this.nodeKey = nodeSessionsKey(identity.nodeId);
    this.queueMax = config.registryQueueMax;
    this.queue = new WriteQueue(
      config.registryQueueMax,
      (n) => {
        this.counts.dropped += n;
        this.observer.dropped(n);
      },
      config.registryQueueMaxBytes ?? DEFAULTS.registryQueueMaxBytes,
    );
    this.client = createRedisClient(target);
    this.scripted = !this.cluster;
    if (this.scripted) this.client.defineCommand(BATCH_COMMAND, { lua: BATCH_SCRIPT });
    this.client.on('ready', () => this.onReady());
    this.client.on('error', (err: Error) => this.onDown(err));
    this.client.on('close', () => this.onDown(null));
    // TTL refresh: re-assert every live session through the same batches.
    this.refreshTimer = setInterval(() => this.startResync(RESYNC_REFRESH), config.registryRefreshMs);
    this.refreshTimer.unref();
  }

  register(sessionId: string): void {
    if (this.closing) return;
    this.created.set(sessionId, Date.now());
    this.queue.push(sessionId, OP_SET);
    this.schedule();
  }

  /** Cleaned whether or not the local close succeeded (the session may be another node's), so always queued. */
  unregister(sessionId: string): void {
    this.created.delete(sessionId);
    this.queue.push(sessionId, OP_DEL);
    if (!this.closing) this.schedule();
  }

  lookup(sessionId: string): Promise<SessionOwner | null> {
    if (this.closing || !isReady(this.client) || this.lookups >= LOOKUP_MAX_IN_FLIGHT) {
      this.degrade();
      return Promise.reject(UNAVAILABLE);
    }
    this.lookups++;
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        this.degrade();
        reject(TIMED_OUT);
      }, LOOKUP_TIMEOUT_MS);
      this.client.get(SESSION_PREFIX + sessionId).then(
        (value) => {
          this.lookups--;
          if (settled) return;
          clearTimeout(timer);
          resolve(parseOwner(value));
        },
        () => {
          this.lookups--;
          if (settled) return;
          clearTimeout(timer);
          this.degrade();
          reject(UNAVAILABLE);
        },
      );
    });
  }

  get connected(): boolean {
    return this.up;
  }

  /** Writes every live session's key again (a peer reaped this node while it could not beat). */
  reassert(): void {
    this.startResync(RESYNC_CONNECT);
  }

  stats(): RedisRegistryStats {
    return { connected: this.up, cluster: this.cluster, queued: this.queue.size, inFlight: this.inFlight, ...this.counts };
  }

  /**
   * Shutdown: no session of this node lives on, so queued SETs are dropped and the queued DELs are
   * flushed; then every member still listed in this node's session set is deleted too (DELs the
   * bounded queue dropped, or that an outage kept from Redis), a page at a time so the queue never
   * overflows. All within CLOSE_FLUSH_MS; resolves true when the set ended empty.
   */
  async close(): Promise<boolean> {
    if (this.closing) return false;
    this.closing = true;
    clearInterval(this.refreshTimer);
    this.resync = null;
    this.cancelSchedule();
    const deadline = Date.now() + CLOSE_FLUSH_MS;
    this.retryAt = 0;
    this.created.clear();
    this.queue.dropSets();
    let clean = await this.drainQueue(deadline);
    if (clean) clean = await this.purgeNodeSet(deadline);
    const lost = this.queue.clear();
    if (lost > 0) {
      this.counts.dropped += lost;
      this.observer.dropped(lost);
      log.warn('registry writes not flushed before shutdown', { count: lost });
    }
    this.cancelSchedule();
    this.observer.queueDepth(0);
    this.client.removeAllListeners('ready');
    // An 'error' without a listener would throw; keep one for the rest of the client's life.
    this.client.removeAllListeners('error');
    this.client.on('error', () => {});
    if (isReady(this.client)) {
      const quit = this.client.quit().catch(() => 'failed');
      const t = await Promise.race([quit, sleep(CLOSE_QUIT_MS).then(() => 'timeout')]);
      if (t !== 'OK') this.client.disconnect();
    } else this.client.disconnect();
    return clean && lost === 0;
  }

  /** Flushes until nothing is queued or in flight; false if Redis went away or time ran out first. */
  private async drainQueue(deadline: number): Promise<boolean> {
    while (this.queue.size > 0 || this.inFlight > 0) {
      if (!isReady(this.client) || Date.now() >= deadline) return false;
      this.flush();
      await sleep(2);
    }
    return true;
  }

  /** Deletes the keys of every member of this node's session set, one SSCAN page at a time. */
  private async purgeNodeSet(deadline: number): Promise<boolean> {
    const page = Math.max(1, Math.min(RECONCILE_PAGE, this.queueMax));
    let cursor = '0';
    try {
      do {
        if (!isReady(this.client) || Date.now() >= deadline) return false;
        const [next, members] = await this.client.sscan(this.nodeKey, cursor, 'COUNT', page);
        cursor = next;
        for (let i = 0; i < members.length; i += page) {
          for (const id of members.slice(i, i + page)) this.queue.push(id, OP_DEL);
          if (!(await this.drainQueue(deadline))) return false;
        }
      } while (cursor !== '0');
      return (await this.client.scard(this.nodeKey)) === 0;
    } catch {
      return false;
    }
  }

  private degrade(): void {
    this.counts.degraded++;
    this.observer.degraded();
  }

  private onReady(): void {
    if (this.closing) return;
    this.up = true;
    this.outageLogged = false;
    this.retryAt = 0;
    log.info('registry connected', { cluster: this.cluster, queued: this.queue.size });
    // Redis may have restarted empty: every live local session is written again.
    this.startResync(RESYNC_CONNECT);
  }

  private onDown(err: Error | null): void {
    if (this.closing) return;
    const wasUp = this.up;
    this.up = false;
    this.resync = null;
    this.resyncReason = RESYNC_NONE;
    if (wasUp || !this.outageLogged) {
      this.outageLogged = true;
      log.warn('registry unreachable: serving local-only, writes queued', {
        err: err?.message ?? 'connection closed',
        queued: this.queue.size,
      });
    }
  }

  private startResync(reason: number): void {
    if (this.closing || !isReady(this.client)) return;
    this.resync = this.hooks.liveSessions()[Symbol.iterator]();
    this.resyncReason = reason;
    this.resyncCount = 0;
    this.resyncStarted = Date.now();
    this.schedule();
    if (!this.reconciling) {
      this.reconciling = true;
      this.reconcile().then(
        (stale) => {
          this.reconciling = false;
          if (stale > 0) log.info('registry removed stale sessions of this node', { sessions: stale });
        },
        (err: unknown) => {
          this.reconciling = false;
          log.debug('registry reconcile interrupted', { err: (err as Error)?.message });
        },
      );
    }
  }

  /**
   * Deletes the keys this node's session set names but no live local session owns: DELs dropped while
   * Redis was unreachable, and sessions of an earlier process with the same NODE_ID that died without
   * cleaning up. Every session this process registered is in `created` until it is unregistered, so a
   * member missing from it is not live here. The DELs go through the queue, one scan page at a time,
   * never filling it.
   */
  private async reconcile(): Promise<number> {
    let cursor = '0';
    let stale = 0;
    do {
      if (this.closing || !isReady(this.client)) return stale;
      const [next, members] = await this.client.sscan(this.nodeKey, cursor, 'COUNT', RECONCILE_PAGE);
      cursor = next;
      for (const id of members) {
        if (this.created.has(id) || this.queue.has(id)) continue;
        this.queue.push(id, OP_DEL);
        stale++;
      }
      this.schedule();
      while (this.queue.size > RECONCILE_PAGE && !this.closing && this.up) await sleep(FLUSH_RETRY_MS / 10);
    } while (cursor !== '0');
    return stale;
  }

  /** Called on every write: a flush now when a batch is full, else after registryFlushMs. */
  private schedule(): void {
    if (this.flushImmediate !== null) return;
    if (!this.up) {
      // Nothing is sent while Redis is unreachable; the depth gauge still shows the queue filling.
      this.observer.queueDepth(this.queue.size);
      return;
    }
    if (this.queue.size >= this.batchMax || this.resync !== null || this.flushMs === 0) {
      if (this.flushTimer !== null) {
        clearTimeout(this.flushTimer);
        this.flushTimer = null;
      }
      this.flushImmediate = setImmediate(this.runFlush);
    } else if (this.flushTimer === null) {
      this.flushTimer = setTimeout(this.runFlush, this.flushMs);
    }
  }

  private cancelSchedule(): void {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    if (this.flushImmediate !== null) clearImmediate(this.flushImmediate);
    this.flushTimer = null;
    this.flushImmediate = null;
  }

  private flush(): void {
    if (!isReady(this.client)) return;
    const wait = this.retryAt - Date.now();
    if (wait > 0) {
      if (this.flushTimer === null && this.flushImmediate === null) this.flushTimer = setTimeout(this.runFlush, wait);
      return;
    }
    while (this.inFlight < FLUSH_MAX_IN_FLIGHT) {
      const batch = this.takeBatch();
      if (batch.ids.length === 0) break;
      this.send(batch);
    }
    this.observer.queueDepth(this.queue.size);
  }

  private takeBatch(): WriteBatch {
    const batch: WriteBatch = { ids: [], ops: [] };
    this.queue.take(this.batchMax, batch);
    const cursor = this.resync;
    if (cursor === null || this.closing) return batch;
    while (batch.ids.length < this.batchMax) {
      const next = cursor.next();
      if (next.done) {
        this.finishResync();
        break;
      }
      const id = next.value;
      // A queued write for the id is newer and goes out anyway.
      if (this.queue.has(id)) continue;
      if (!this.created.has(id)) this.created.set(id, Date.now());
      batch.ids.push(id);
      batch.ops.push(OP_SET);
      this.resyncCount++;
    }
    return batch;
  }

  private finishResync(): void {
    this.counts.resyncs++;
    const fields = { sessions: this.resyncCount, ms: Date.now() - this.resyncStarted };
    if (this.resyncReason === RESYNC_CONNECT) log.info('registry re-asserted live sessions', fields);
    else log.debug('registry refreshed live sessions', fields);
    this.resync = null;
    this.resyncReason = RESYNC_NONE;
  }

  /**
   * One batch → one round trip: its DELs and its SETs leave as two requests (DELs first) written back
   * to back on the connection, each a script call on a single server or one pipeline per node set in
   * a cluster. Apart, because a Redis at maxmemory with noeviction refuses SETs ("OOM command not
   * allowed") and takes the rest of a script down with them: the DELs queued beside refused SETs
   * must still happen (they free memory, and a closed session's key must go).
   */
  private send(batch: WriteBatch): void {
    let nset = 0;
    for (let i = 0; i < batch.ops.length; i++) if (batch.ops[i] === OP_SET) nset++;
    if (nset === 0 || nset === batch.ids.length) return this.sendPart(batch);
    const dels: WriteBatch = { ids: [], ops: [] };
    const sets: WriteBatch = { ids: [], ops: [] };
    for (let i = 0; i < batch.ids.length; i++) {
      const part = batch.ops[i] === OP_SET ? sets : dels;
      part.ids.push(batch.ids[i]);
      part.ops.push(batch.ops[i]);
    }
    this.sendPart(dels);
    this.sendPart(sets);
  }

  /** Sends writes of one kind (all SETs or all DELs). Settles once every request has. */
  private sendPart(batch: WriteBatch): void {
    this.inFlight++;
    const started = performance.now();
    if (this.scripted) {
      this.counts.roundTrips++;
      this.counts.commands++;
      const args = batchScriptArgs(batch, this.nodeKey, this.valueOf);
      (this.client as unknown as ScriptedClient)[BATCH_COMMAND](...args).then(
        () => {
          this.observer.flushed(batch.ids.length, (performance.now() - started) / 1000);
          this.settle(batch, null);
        },
        (err: unknown) => {
          // Redis answered with an error (scripting disabled or not permitted, say), not a lost
          // connection: fall back to plain pipelines for good.
          if ((err as { name?: string })?.name === 'ReplyError' && SCRIPT_REFUSED.test((err as Error).message)) {
            this.scripted = false;
            log.warn('registry script refused, using pipelines from now on', { err: (err as Error).message });
          }
          this.settle(batch, err);
        },
      );
      return;
    }
    const groups = this.buildPipelines(batch);
    let pending = groups.size;
    let failure: unknown = null;
    for (const commands of groups.values()) {
      this.counts.roundTrips++;
      this.counts.commands += commands.length;
      this.client
        .pipeline(commands)
        .exec()
        .then(
          (results) => {
            const err = results === null ? UNAVAILABLE : results.find((r) => r[0] !== null)?.[0];
            if (err) failure ??= err;
            else this.observer.flushed(commands.length, (performance.now() - started) / 1000);
          },
          (err: unknown) => {
            failure ??= err;
          },
        )
        .finally(() => {
          if (--pending === 0) this.settle(batch, failure);
        });
    }
  }

  private buildPipelines(batch: WriteBatch): Map<string, unknown[][]> {
    const groups = new Map<string, unknown[][]>();
    const setIds: string[] = [];
    const delIds: string[] = [];
    const delKeys: string[] = [];
    let group: unknown[][] | undefined = this.cluster ? undefined : [];
    if (group) groups.set('', group);
    for (let i = 0; i < batch.ids.length; i++) {
      const id = batch.ids[i];
      const key = SESSION_PREFIX + id;
      if (this.cluster) group = this.groupFor(groups, key);
      if (batch.ops[i] === OP_SET) {
        group!.push(['set', key, this.valueOf(id), 'EX', SESSION_TTL_S]);
        setIds.push(id);
      } else {
        // A cluster DEL must not span slots; one server takes them all in one command.
        if (this.cluster) group!.push(['del', key]);
        else delKeys.push(key);
        delIds.push(id);
      }
    }
    const own = this.cluster ? this.groupFor(groups, this.nodeKey) : group!;
    if (delKeys.length > 0) own.push(['del', ...delKeys]);
    if (setIds.length > 0) own.push(['sadd', this.nodeKey, ...setIds], ['expire', this.nodeKey, SESSION_TTL_S]);
    if (delIds.length > 0) own.push(['srem', this.nodeKey, ...delIds]);
    return groups;
  }

  private groupFor(groups: Map<string, unknown[][]>, key: string): unknown[][] {
    const name = slotGroup(this.client, keySlot(key));
    let group = groups.get(name);
    if (!group) groups.set(name, (group = []));
    return group;
  }

  private settle(batch: WriteBatch, failure: unknown): void {
    this.inFlight--;
    if (failure === null) {
      this.counts.written += batch.ids.length;
    } else {
      this.counts.failedFlushes++;
      this.observer.failed?.(batch.ops[0] === OP_SET ? 'set' : 'del', batch.ids.length);
      this.retryAt = Date.now() + FLUSH_RETRY_MS;
      this.requeue(batch);
      const now = Date.now();
      if (this.up && now - this.flushWarnedAt > FLUSH_WARN_EVERY_MS) {
        this.flushWarnedAt = now;
        log.warn('registry flush failed, writes re-queued', {
          err: (failure as Error)?.message,
          writes: batch.ids.length,
          queued: this.queue.size,
        });
      }
    }
    this.observer.queueDepth(this.queue.size);
    if (this.queue.size > 0 || this.resync !== null) {
      if (this.closing) return;
      if (failure !== null) this.flush();
      else this.schedule();
    }
  }

  /**
   * Writes of a failed request go back, unless overtaken: a SET only for a session still live here,
   * a DEL only for one not registered again; a newer queued write for the id always wins. DELs go back
   * to the front; SETs to the back, so that SETs Redis keeps refusing (maxmemory) never stand in front
   * of the DELs queued after them.
   */
  private requeue(batch: WriteBatch): void {
    if (batch.ops[0] === OP_SET) {
      for (const id of batch.ids) if (this.created.has(id) && !this.queue.has(id)) this.queue.push(id, OP_SET);
      return;
    }
    const ids: string[] = [];
    const ops: WriteOp[] = [];
    for (const id of batch.ids) {
      if (!this.created.has(id)) {
        ids.push(id);
        ops.push(OP_DEL);
      }
    }
    this.queue.requeue(ids, ops);
  }
}

function parseOwner(value: string | null): SessionOwner | null {
  if (value === null) return null;
  try {
    const v = JSON.parse(value) as Partial<SessionOwner>;
    return { node: String(v.node ?? 'unknown'), address: String(v.address ?? ''), createdAt: Number(v.createdAt ?? 0) };
  } catch {
    // The key exists, so the session is known somewhere, even if its value is not ours to read.
    return { node: 'unknown', address: '', createdAt: 0 };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
