/**
 * The embedded registry: one node, no services. It knows exactly the sessions this process created,
 * so every local miss is an unknown session.
 */
import type { RegistryIdentity, SessionOwner, SessionRegistry } from './registry.js';

export class MemoryRegistry implements SessionRegistry {
  readonly kind = 'memory' as const;
  readonly connected = true;
  private readonly created = new Map<string, number>();

  constructor(private readonly identity: RegistryIdentity) {}

  register(sessionId: string): void {
    this.created.set(sessionId, Date.now());
  }

  unregister(sessionId: string): void {
    this.created.delete(sessionId);
  }

  lookup(sessionId: string): Promise<SessionOwner | null> {
    const createdAt = this.created.get(sessionId);
    return Promise.resolve(createdAt === undefined ? null : { node: this.identity.nodeId, address: this.identity.address, createdAt });
  }

  get size(): number {
    return this.created.size;
  }

  close(): Promise<boolean> {
    this.created.clear();
    return Promise.resolve(true);
  }
}
