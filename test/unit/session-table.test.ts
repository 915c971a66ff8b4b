/**
 * In-process: the session table (src/front/session-table.ts) keeps routes, each worker's session
 * set, the registry and the session metrics in step, and tags the ids it mints in a cluster.
 */
import { describe, expect, it } from 'vitest';
import { createTagger } from '../../src/cluster/session-tag.js';
import { SessionTable } from '../../src/front/session-table.js';
import { Metrics } from '../../src/metrics/metrics.js';
import type { ToWorker } from '../../src/pool/messages.js';
import type { SessionPool, Slot } from '../../src/pool/pool.js';
import { SUPPORTED_VERSIONS } from '../../src/protocol/versions.js';
import type { SessionOwner, SessionRegistry } from '../../src/registry/registry.js';

/** A registry that records its writes. */
class RecordingRegistry implements SessionRegistry {
  readonly kind = 'memory' as const;
  readonly connected = true;
  readonly writes: string[] = [];
  register(sid: string): void {
    this.writes.push(`+${sid}`);
  }
  unregister(sid: string): void {
    this.writes.push(`-${sid}`);
  }
  lookup(): Promise<SessionOwner | null> {
    return Promise.resolve(null);
  }
  close(): Promise<boolean> {
    return Promise.resolve(true);
  }
}

function setup(tagged = false): {
  table: SessionTable;
  slots: Slot[];
  sent: Array<[number, ToWorker]>;
  registry: RecordingRegistry;
  metrics: Metrics;
} {
  const slots = [0, 1].map((index) => ({ index, sessions: new Set<string>() }) as unknown as Slot);
  const sent: Array<[number, ToWorker]> = [];
  const pool = { slots, send: (slot: Slot, msg: ToWorker) => sent.push([slot.index, msg]) } as unknown as SessionPool;
  const registry = new RecordingRegistry();
  const metrics = new Metrics(
    false,
    () => 0,
    () => true,
    'unit',
    '0',
  );
  const tagger = tagged ? createTagger('a-cluster-secret-of-16+', 'node-u') : null;
  return { table: new SessionTable(pool, registry, metrics, tagger), slots, sent, registry, metrics };
}

async function closed(metrics: Metrics, reason: string): Promise<number> {
  const m = await metrics.sessionsClosed.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe('SessionTable', () => {
  it('routes a session to its slot and revision, and records it once in the registry and its slot', () => {
    const { table, slots, registry } = setup();
    const last = SUPPORTED_VERSIONS.length - 1;
    table.add('s1', slots[1], last);
    const route = table.route('s1')!;
    expect(table.slotOf(route)).toBe(slots[1]);
    expect(table.revisionOf(route)).toBe(SUPPORTED_VERSIONS[last]);
    expect(slots[1].sessions.has('s1')).toBe(true);
    expect(registry.writes).toEqual(['+s1']);
    expect(table.size).toBe(1);
  });

  it('end() forgets the session everywhere, tells its worker, and counts the reason', async () => {
    const { table, slots, sent, registry, metrics } = setup();
    table.add('s1', slots[0], 0);
    expect(table.end('s1', 'delete')).toBe(true);
    expect(table.has('s1')).toBe(false);
    expect(slots[0].sessions.size).toBe(0);
    expect(sent).toEqual([[0, { type: 'delete', sessionId: 's1', reason: 'delete' }]]);
    expect(registry.writes).toEqual(['+s1', '-s1']);
    expect(await closed(metrics, 'delete')).toBe(1);
    // Not local: nothing to end, nothing sent.
    expect(table.end('s1', 'delete')).toBe(false);
    expect(sent.length).toBe(1);
  });

  it('a lost worker takes its sessions; shutdown forgets the rest locally only', async () => {
    const { table, slots, registry, metrics } = setup();
    table.add('a', slots[0], 0);
    table.add('b', slots[1], 0);
    table.add('c', slots[1], 0);
    table.lost(['a']);
    expect(table.has('a')).toBe(false);
    expect(registry.writes).toContain('-a');
    expect(await closed(metrics, 'worker_died')).toBe(1);
    table.forgetAll('shutdown');
    expect(table.size).toBe(0);
    expect(slots[1].sessions.size).toBe(0);
    // The registry's close() removes the node's keys at once; no per-session writes.
    expect(registry.writes.filter((w) => w.startsWith('-'))).toEqual(['-a']);
    expect(await closed(metrics, 'shutdown')).toBe(2);
  });

  it('mints distinct ids, owner-tagged in a cluster', () => {
    const plain = setup().table;
    const a = plain.mintId();
    expect(a).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(plain.mintId()).not.toBe(a);
    const tagged = setup(true).table.mintId();
    expect(createTagger('a-cluster-secret-of-16+', 'node-x').owner(tagged)).toBe('node-u');
  });
});
