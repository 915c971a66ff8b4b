/** Placeholder until the Redis registry lands (issue 3): refuse clearly rather than pretend. */
import { ErrorCodes, McpRuntimeError } from '../errors.js';
import type { RegistryIdentity, SessionOwner, SessionRegistry } from './registry.js';

export class RedisRegistry implements SessionRegistry {
  readonly kind = 'redis' as const;
  constructor(_url: string, _identity: RegistryIdentity, _config: unknown, _hooks: unknown) {
    throw new McpRuntimeError(ErrorCodes.MCP_ERR_INVALID_CONFIG, 'REDIS_URL is not supported yet; unset it to use the in-memory registry');
  }
  register(): void {}
  unregister(): void {}
  lookup(): Promise<SessionOwner | null> {
    return Promise.resolve(null);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
