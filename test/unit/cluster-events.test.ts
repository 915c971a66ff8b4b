/** In-process: the signed format of change events between nodes, and the replay guard. */
import { describe, expect, it } from 'vitest';
import { createEventCodec, MAX_MESSAGE_CHARS, ReplayGuard, SKEW_MS, WINDOW_MS } from '../../src/cluster/events.js';

const SECRET = 'cluster-events-unit-secret-0123456789';
const NOW = 1_800_000_000_000;

describe('change event codec', () => {
  const a = createEventCodec(SECRET, 'node-a');
  const b = createEventCodec(SECRET, 'node-b');

  it('opens on another node of the cluster what one node sealed: sender, sequence, kind and uri', () => {
    expect(b.open(a.seal('tools', '', 7, NOW), NOW + 10)).toEqual({ ok: true, sender: a.sender, seq: 7, kind: 'tools', uri: '' });
    expect(b.open(a.seal('updated', 'file:///a b/ü?x=1.2', 8, NOW), NOW)).toEqual({
      ok: true,
      sender: a.sender,
      seq: 8,
      kind: 'updated',
      uri: 'file:///a b/ü?x=1.2',
    });
    for (const kind of ['prompts', 'resources'] as const) expect(b.open(a.seal(kind, '', 1, NOW), NOW)).toMatchObject({ ok: true, kind });
  });

  it('gives each start of a node its own sender, so a restarted node is not taken for a replay', () => {
    expect(createEventCodec(SECRET, 'node-a').sender).not.toBe(a.sender);
    expect(a.sender.startsWith(Buffer.from('node-a').toString('base64url'))).toBe(true);
  });

  it('refuses a message signed with another secret, or changed in any field', () => {
    const other = createEventCodec(`${SECRET}-other`, 'node-a');
    expect(b.open(other.seal('tools', '', 1, NOW), NOW)).toEqual({ ok: false, reason: 'invalid' });
    const good = a.seal('updated', 'file:///x', 3, NOW);
    const parts = good.split('.');
    const swaps: Array<[number, string]> = [
      [2, '4'], // sequence
      [4, 'p'], // kind
      [5, Buffer.from('file:///y').toString('base64url')], // uri
      [1, b.sender], // sender
    ];
    for (const [i, v] of swaps) {
      const forged = [...parts];
      forged[i] = v;
      expect(b.open(forged.join('.'), NOW), `field ${i}`).toEqual({ ok: false, reason: 'invalid' });
    }
  });

  it('refuses a message older than the window or too far ahead, and only after its MAC checked', () => {
    expect(b.open(a.seal('tools', '', 1, NOW - WINDOW_MS - 1), NOW)).toEqual({ ok: false, reason: 'stale' });
    expect(b.open(a.seal('tools', '', 1, NOW + SKEW_MS + 1), NOW)).toEqual({ ok: false, reason: 'stale' });
    expect(b.open(a.seal('tools', '', 1, NOW - WINDOW_MS + 1), NOW)).toMatchObject({ ok: true });
  });

  it('refuses malformed and oversized messages without reading them', () => {
    for (const bad of ['', 'hello', 'e1.', 'e1.a.b.c.d.e', 'e1.a.1.1.x..AAAA', `e1.a.1.1.t..${'A'.repeat(43)}.extra`, 'e2.a.1.1.t..x']) {
      expect(b.open(bad, NOW), bad).toEqual({ ok: false, reason: 'malformed' });
    }
    expect(b.open('e1.'.padEnd(MAX_MESSAGE_CHARS + 1, 'a'), NOW)).toEqual({ ok: false, reason: 'too_large' });
  });
});

describe('replay guard', () => {
  it('accepts rising sequence numbers per sender and refuses a repeat or an older one', () => {
    const g = new ReplayGuard();
    expect(g.accept('a', 1)).toBe(true);
    expect(g.accept('a', 1)).toBe(false);
    expect(g.accept('b', 1)).toBe(true);
    expect(g.accept('a', 3)).toBe(true);
    expect(g.accept('a', 2)).toBe(false);
  });

  it('remembers a bounded number of senders, forgetting the least recently heard', () => {
    const g = new ReplayGuard(3);
    for (const s of ['a', 'b', 'c']) g.accept(s, 5);
    g.accept('a', 6); // a heard again: b is now the oldest
    g.accept('d', 1);
    expect(g.size).toBe(3);
    expect(g.accept('a', 6)).toBe(false);
    expect(g.accept('c', 5)).toBe(false);
    expect(g.accept('b', 5)).toBe(true); // forgotten
  });
});
