/**
 * The ioredis client the registry uses, configured so that nothing queues without bound and nothing
 * hangs: no offline queue (a command while disconnected fails at once), no
 * per-request retries (the registry re-queues its own writes, bounded), a connect timeout, a silent
 * connection cut after SOCKET_TIMEOUT_MS (so a stalled Redis fails what is in flight instead of holding
 * it), and reconnection forever at most RECONNECT_MAX_MS apart so a restarted Redis is found quickly.
 * Lookups carry their own, shorter timeout (LOOKUP_TIMEOUT_MS).
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { CONNECT_TIMEOUT_MS, SOCKET_TIMEOUT_MS, RECONNECT_MAX_MS } from './keys.js';
import type { RedisTarget } from './redis-url.js';

export type RedisClient = Redis | Cluster;

function reconnectDelay(times: number): number {
  return Math.min(50 * times, RECONNECT_MAX_MS);
}

const BOUNDED: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  connectTimeout: CONNECT_TIMEOUT_MS,
  socketTimeout: SOCKET_TIMEOUT_MS,
  retryStrategy: reconnectDelay,
  enableReadyCheck: true,
  connectionName: 'mcp-registry',
};

export function createRedisClient(target: RedisTarget): RedisClient {
  if (target.mode === 'single') return new Redis(target.url, BOUNDED);
  const { enableOfflineQueue: _q, retryStrategy: _r, ...nodeOptions } = BOUNDED;
  return new Cluster(target.seeds, {
    enableOfflineQueue: false,
    clusterRetryStrategy: reconnectDelay,
    // Lost nodes are found again through the slot map, as ioredis does by default, but reconnecting
    // a node that restarted in place is quicker than waiting for a MOVED.
    clusterNodeRetryStrategy: reconnectDelay,
    // Redirections and CLUSTERDOWN retries are bounded so a command cannot outlive its timeout.
    maxRedirections: 4,
    retryDelayOnClusterDown: 100,
    retryDelayOnFailover: 100,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: CONNECT_TIMEOUT_MS,
    redisOptions: {
      ...nodeOptions,
      username: target.username,
      password: target.password,
      tls: target.tls ? {} : undefined,
    },
  });
}

/** True when commands can be sent now (neither client queues them otherwise). */
export function isReady(client: RedisClient): boolean {
  return client.status === 'ready';
}

/**
 * The group a key's pipeline must belong to. ioredis sends a cluster pipeline to one node and refuses
 * one whose keys are served by different node sets ("slots allocation group"); keys are grouped by the
 * node set that serves their slot. A single server is one group.
 */
export function slotGroup(client: RedisClient, slot: number): string {
  const nodes = (client as Cluster).slots?.[slot];
  return nodes && nodes.length > 0 ? nodes.join(';') : `slot:${slot}`;
}
