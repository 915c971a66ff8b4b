/**
 * Which sessions exist, across nodes (ARCHITECTURE.md, sticky sessions). Writes never block a request: implementations queue
 * them and flush off the hot path. The registry never holds transport state; it only tells a misroute
 * (the session lives on another node) from a genuinely unknown session.
 */
export interface SessionOwner {
  node: string;
  address: string;
  createdAt: number;
}

export interface SessionRegistry {
  readonly kind: 'memory' | 'redis';
  /** Whether the registry's own store is reachable now (always true in memory). */
  readonly connected: boolean;
  /** Records a new local session (queued). */
  register(sessionId: string): void;
  /** Forgets a session, whether or not its local close succeeded (queued). */
  unregister(sessionId: string): void;
  /** Who owns a session that is not local; null when unknown. Never awaited by a request's answer. */
  lookup(sessionId: string): Promise<SessionOwner | null>;
  /**
   * Shutdown: forgets every session this node registered (none lives on after it) and resolves true
   * when no key of this node is left in the store, false when some could not be removed in time (the
   * node must then stay listed so that its peers reap them once it stops heart-beating).
   */
  close(): Promise<boolean>;
  /** Writes every live local session's key again (their keys may have been removed by a peer). */
  reassert?(): void;
}

export interface RegistryIdentity {
  nodeId: string;
  address: string;
}

/** What the registry reports for metrics; the node binds it to prom-client. */
export interface RegistryObserver {
  /** One pipeline flushed: how many commands, how long it took. */
  flushed(batchSize: number, seconds: number): void;
  queueDepth(depth: number): void;
  /** Queued writes dropped because the queue was full. */
  dropped(count: number): void;
  /** A lookup could not reach the registry (answer degraded to local-only). */
  degraded(): void;
  /** Writes Redis refused or did not acknowledge (re-queued), e.g. SETs refused with OOM at maxmemory. */
  failed?(op: 'set' | 'del', count: number): void;
}

export interface RegistryHooks {
  /** Every live local session id; re-asserted on reconnect and on each TTL refresh. */
  liveSessions(): Iterable<string>;
  observer: RegistryObserver;
}
