/** Picks the registry: Redis when REDIS_URL is set, otherwise the embedded in-memory one. */
import type { NodeOptions } from '../config.js';
import { MemoryRegistry } from './memory.js';
import type { RegistryHooks, SessionRegistry } from './registry.js';

export type RegistryFactory = (port: number, hooks: RegistryHooks) => SessionRegistry;

/**
 * Loads the chosen implementation and returns its constructor bound to the config: a node makes its
 * registry synchronously once its listen port (part of its address) is known.
 */
export async function registryFactory(config: Readonly<NodeOptions>): Promise<RegistryFactory> {
  const identity = (port: number) => ({ nodeId: config.nodeId, address: config.advertiseAddress || `${config.host}:${port}` });
  if (config.redisUrl) {
    const url = config.redisUrl;
    const { RedisRegistry } = await import('./redis.js');
    return (port, hooks) => new RedisRegistry(url, identity(port), config, hooks);
  }
  return (port) => new MemoryRegistry(identity(port));
}
