/** In-process: owner tags in session ids — authentic ids name their node, anything else names none. */
import { describe, expect, it } from 'vitest';
import { createTagger } from '../../src/cluster/session-tag.js';
import { SessionIdSource } from '../../src/front/session-id.js';

const SECRET = 'a-cluster-secret-of-32-characters';

describe('session tag', () => {
  it('round-trips the owner, across nodes sharing the secret', () => {
    const a = createTagger(SECRET, 'node-a');
    const b = createTagger(SECRET, 'node-b');
    const sid = a.tag(new SessionIdSource().mint());
    expect(sid).toMatch(/^[\x21-\x7e]+$/);
    expect(a.owner(sid)).toBe('node-a');
    expect(b.owner(sid)).toBe('node-a');
  });

  it('refuses forged, altered, foreign and untagged ids', () => {
    const a = createTagger(SECRET, 'node-a');
    const other = createTagger('another-secret-of-32-characters!', 'node-a');
    const sid = a.tag(new SessionIdSource().mint());
    const [rand, owner, mac] = sid.split('.');
    const forgedOwner = `${rand}.${Buffer.from('node-b').toString('base64url')}.${mac}`;
    for (const bad of [
      forgedOwner,
      `${rand}x.${owner}.${mac}`,
      `${rand}.${owner}.${mac.slice(0, -1)}`,
      other.tag(rand),
      rand,
      '',
      '..',
      `.${owner}.${mac}`,
      'a.b.c.d',
    ]) {
      expect(a.owner(bad), bad).toBeNull();
    }
  });
});
