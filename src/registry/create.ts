/** Picks the registry: Redis when REDIS_URL is set, otherwise the embedded in-memory one. */
import type { NodeOptions } from '../config.js';
import { MemoryRegistry } from './memory.js';
import type { RegistryHooks, SessionRegistry } from './registry.js';

export async function createRegistry(config: Readonly<NodeOptions>, port: number, hooks: RegistryHooks): Promise<SessionRegistry> {
  const identity = { nodeId: config.nodeId, address: config.advertiseAddress || `${config.host}:${port}` };
  if (config.redisUrl) {
    const { RedisRegistry } = await import('./redis.js');
    return new RedisRegistry(config.redisUrl, identity, config, hooks);
  }
  return new MemoryRegistry(identity);
}
