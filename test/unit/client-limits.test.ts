/**
 * In-process: the per-identity token buckets (src/front/token-bucket.ts) on a clock the test moves,
 * the per-identity session counts (src/front/session-quota.ts), the session table telling them of
 * every way a session leaves it, and the node-to-node HMAC binding the identity a forward carries.
 */
import { describe, expect, it } from 'vitest';
import { TokenBuckets } from '../../src/front/token-bucket.js';
import { SessionQuota } from '../../src/front/session-quota.js';
import { SessionTable } from '../../src/front/session-table.js';
import { Metrics } from '../../src/metrics/metrics.js';
import type { SessionPool, Slot } from '../../src/pool/pool.js';
import type { SessionRegistry } from '../../src/registry/registry.js';
import { createForwardAuth } from '../../src/cluster/forward-auth.js';

function clocked(rate: number, burst: number, max?: number): { b: TokenBuckets; advance: (ms: number) => void } {
  let t = 1_000;
  return { b: new TokenBuckets(rate, burst, max, () => t), advance: (ms) => (t += ms) };
}

describe('TokenBuckets', () => {
  it('lets a burst through, then refuses with the seconds until the next token', () => {
    const { b } = clocked(2, 4);
    for (let i = 0; i < 4; i++) expect(b.take('a')).toBe(0);
    // One token comes back every 500 ms: Retry-After rounds up to a whole second.
    expect(b.take('a')).toBe(1);
    const { b: slow } = clocked(1, 1);
    expect(slow.take('x')).toBe(0);
    expect(slow.take('x')).toBe(1);
    const { b: slower } = clocked(0.25, 1);
    expect(slower.take('x')).toBe(0);
    expect(slower.take('x')).toBe(4);
  });

  it('refills lazily at the rate, never above the burst', () => {
    const { b, advance } = clocked(10, 5);
    for (let i = 0; i < 5; i++) expect(b.take('a')).toBe(0);
    expect(b.take('a')).toBeGreaterThan(0);
    advance(100);
    expect(b.take('a')).toBe(0);
    expect(b.take('a')).toBeGreaterThan(0);
    advance(60_000);
    for (let i = 0; i < 5; i++) expect(b.take('a')).toBe(0);
    expect(b.take('a')).toBeGreaterThan(0);
  });

  it('keeps identities apart', () => {
    const { b } = clocked(1, 2);
    expect(b.take('a')).toBe(0);
    expect(b.take('a')).toBe(0);
    expect(b.take('a')).toBeGreaterThan(0);
    expect(b.take('b')).toBe(0);
    expect(b.take('b')).toBe(0);
  });

  it('tracks at most maxIdentities; identities idle longest go first, active ones keep their buckets', () => {
    const { b } = clocked(1, 2, 4);
    // a drains its bucket and stays active; b, c, d, e, f come and go once each.
    b.take('a');
    b.take('a');
    b.take('b');
    for (const k of ['c', 'd', 'e', 'f']) {
      b.take(k);
      expect(b.take('a')).toBeGreaterThan(0);
      expect(b.size).toBeLessThanOrEqual(4);
    }
    // b was idle longest: dropped, it starts again from a full bucket. a never lost its state.
    expect(b.take('b')).toBe(0);
    expect(b.take('b')).toBe(0);
    expect(b.take('a')).toBeGreaterThan(0);
  });

  it('stays bounded under a flood of distinct identities', () => {
    const { b, advance } = clocked(1, 1, 1000);
    for (let i = 0; i < 50_000; i++) {
      b.take(`k${i}`);
      expect(b.size).toBeLessThanOrEqual(1000);
      if (i % 100 === 0) advance(1);
    }
  });

  it('rejects nonsense parameters', () => {
    expect(() => new TokenBuckets(0, 1)).toThrow(RangeError);
    expect(() => new TokenBuckets(1, 0)).toThrow(RangeError);
    expect(() => new TokenBuckets(1, 1, 1)).toThrow(RangeError);
  });
});

describe('SessionQuota', () => {
  it('counts live sessions per identity; a close frees a slot once', () => {
    const q = new SessionQuota(2);
    q.opened('s1', 'a');
    expect(q.full('a')).toBe(false);
    q.opened('s2', 'a');
    expect(q.full('a')).toBe(true);
    expect(q.full('b')).toBe(false);
    q.closed('s1');
    q.closed('s1');
    expect(q.count('a')).toBe(1);
    expect(q.full('a')).toBe(false);
    q.closed('unknown');
    q.closed('s2');
    expect(q.count('a')).toBe(0);
  });

  it('clear forgets everything', () => {
    const q = new SessionQuota(1);
    q.opened('s1', 'a');
    q.clear();
    expect(q.full('a')).toBe(false);
  });
});

describe('SessionQuota fed by the session table', () => {
  function table(quota: SessionQuota): { t: SessionTable; slot: Slot } {
    const slots = [{ index: 0, sessions: new Set<string>() } as unknown as Slot];
    const pool = { slots, send: () => {} } as unknown as SessionPool;
    const registry = { register: () => {}, unregister: () => {} } as unknown as SessionRegistry;
    const metrics = new Metrics(
      false,
      () => 0,
      () => true,
    );
    return { t: new SessionTable(pool, registry, metrics, null, quota), slot: slots[0] };
  }

  it('every way out of the table frees the slot: DELETE, a worker report (idle, init failed), worker death, shutdown', () => {
    const q = new SessionQuota(10);
    const { t, slot } = table(q);
    for (const sid of ['a1', 'a2', 'a3', 'a4', 'a5']) t.add(sid, slot, 0, 'client-a');
    t.add('anon', slot, 0);
    expect(q.count('client-a')).toBe(5);
    t.end('a1', 'delete');
    t.drop('a2', 'idle');
    // The worker's own report of a session the front ended already counts nothing more.
    t.drop('a1', 'delete');
    expect(q.count('client-a')).toBe(3);
    t.lost(['a3']);
    expect(q.count('client-a')).toBe(2);
    t.forgetAll('shutdown');
    expect(q.count('client-a')).toBe(0);
    expect(q.full('client-a')).toBe(false);
  });
});

describe('the identity a forwarded request carries', () => {
  const secret = 'a-cluster-secret-of-enough-length';
  const a = createForwardAuth(secret, 'node-a');
  const b = createForwardAuth(secret, 'node-b');
  const now = 1_800_000_000_000;

  it('is bound into the forward HMAC: another identity, or none, does not verify', () => {
    const header = a.sign('POST', '/mcp', 'sid', now, 'MTI3LjAuMC4y');
    expect(b.verify(header, 'POST', '/mcp', 'sid', now, 'MTI3LjAuMC4y')).toBe(true);
    expect(b.verify(header, 'POST', '/mcp', 'sid', now, 'MTI3LjAuMC4z')).toBe(false);
    expect(b.verify(header, 'POST', '/mcp', 'sid', now, '')).toBe(false);
  });

  it('leaves a forward without one signed as before', () => {
    const header = a.sign('GET', '/mcp', 'sid', now);
    expect(b.verify(header, 'GET', '/mcp', 'sid', now)).toBe(true);
    expect(b.verify(header, 'GET', '/mcp', 'sid', now, '')).toBe(true);
    expect(b.verify(header, 'GET', '/mcp', 'sid', now, 'MTI3LjAuMC4y')).toBe(false);
  });
});
