/** Picks the registry: Redis when REDIS_URL is set, otherwise the embedded in-memory one. */
import type { NodeOptions } from '../config.js';
import { MemoryRegistry } from './memory.js';
import type { SessionRegistry } from './registry.js';

export async function createRegistry(config: Readonly<NodeOptions>): Promise<SessionRegistry> {
  const identity = { nodeId: config.nodeId, address: `${config.host}:${config.port}` };
  if (config.redisUrl) {
    const { RedisRegistry } = await import('./redis.js');
    return new RedisRegistry(config.redisUrl, identity);
  }
  return new MemoryRegistry(identity);
}
