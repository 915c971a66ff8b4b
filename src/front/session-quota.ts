/**
 * Live 2025 sessions per client identity (MCP_MAX_SESSIONS_PER_PRINCIPAL). The session table tells it
 * when a session opens and when it leaves the table, whatever the reason (DELETE, idle expiry, a
 * failed initialize, worker death, drain, shutdown), so a count never outlives its sessions. Both maps
 * hold entries only for live sessions: bounded by MCP_MAX_SESSIONS.
 */
export class SessionQuota {
  /** Session id → the identity that opened it. */
  private readonly owners = new Map<string, string>();
  /** Identity → its live sessions (absent at 0). */
  private readonly counts = new Map<string, number>();

  constructor(readonly max: number) {}

  /** True when `key` holds `max` live sessions already. */
  full(key: string): boolean {
    return (this.counts.get(key) ?? 0) >= this.max;
  }

  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  opened(sid: string, key: string): void {
    if (this.owners.has(sid)) return;
    this.owners.set(sid, key);
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** Idempotent: a session closed twice (the front, then its worker's report) counts once. */
  closed(sid: string): void {
    const key = this.owners.get(sid);
    if (key === undefined) return;
    this.owners.delete(sid);
    const n = (this.counts.get(key) ?? 1) - 1;
    if (n <= 0) this.counts.delete(key);
    else this.counts.set(key, n);
  }

  clear(): void {
    this.owners.clear();
    this.counts.clear();
  }
}
