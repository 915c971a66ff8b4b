/** In-process: sealed requestState — opens on any node of the cluster for the same request, nowhere else. */
import { describe, expect, it } from 'vitest';
import { createRequestStateSealer } from '../../src/cluster/request-state.js';

const SECRET = 'a-cluster-secret-of-32-characters';
const NOW = 1_800_000_000_000;

describe('request state', () => {
  it('round-trips a payload across nodes sharing the secret', () => {
    const a = createRequestStateSealer(SECRET);
    const b = createRequestStateSealer(SECRET);
    const s = a.seal('tools/call', 'deploy', '{"step":2,"name":"Ålice"}', NOW);
    expect(s).toMatch(/^[\x21-\x7e]+$/);
    expect(b.open(s, 'tools/call', 'deploy', NOW + 1000)).toEqual({ ok: true, payload: '{"step":2,"name":"Ålice"}' });
    expect(b.open(a.seal('prompts/get', 'p', '', NOW), 'prompts/get', 'p', NOW)).toEqual({ ok: true, payload: '' });
  });

  it('refuses another method, another name, another secret', () => {
    const a = createRequestStateSealer(SECRET);
    const s = a.seal('tools/call', 'deploy', 'x', NOW);
    expect(a.open(s, 'prompts/get', 'deploy', NOW)).toEqual({ ok: false, reason: 'invalid' });
    expect(a.open(s, 'tools/call', 'deploy2', NOW)).toEqual({ ok: false, reason: 'invalid' });
    expect(createRequestStateSealer('another-secret-of-32-characters!').open(s, 'tools/call', 'deploy', NOW)).toEqual({
      ok: false,
      reason: 'invalid',
    });
  });

  it('refuses every altered form of a state', () => {
    const a = createRequestStateSealer(SECRET);
    const s = a.seal('tools/call', 't', 'payload', NOW);
    const [, expiry, body, mac] = s.split('.');
    const flip = (str: string, i: number): string => str.slice(0, i) + (str[i] === 'A' ? 'B' : 'A') + str.slice(i + 1);
    for (const bad of [
      `${s}-TAMPERED`,
      flip(s, s.length - 5),
      s.slice(0, -1) + String.fromCharCode(s.charCodeAt(s.length - 1) ^ 1),
      `s1.${(parseInt(expiry, 36) + 1).toString(36)}.${body}.${mac}`,
      `s1.${expiry}.${flip(body, 0)}.${mac}`,
      `s1.${expiry}.${body}`,
      `s2.${expiry}.${body}.${mac}`,
      '',
      'garbage',
      's1...',
    ]) {
      expect(a.open(bad, 'tools/call', 't', NOW).ok, bad).toBe(false);
    }
  });

  it('expires', () => {
    const a = createRequestStateSealer(SECRET, { ttlMs: 1000 });
    const s = a.seal('tools/call', 't', 'x', NOW);
    expect(a.open(s, 'tools/call', 't', NOW + 999).ok).toBe(true);
    expect(a.open(s, 'tools/call', 't', NOW + 1000)).toEqual({ ok: false, reason: 'expired' });
  });

  it('bounds the payload and the token', () => {
    const a = createRequestStateSealer(SECRET, { maxPayloadBytes: 64 });
    expect(() => a.seal('tools/call', 't', 'x'.repeat(65), NOW)).toThrow(RangeError);
    const s = a.seal('tools/call', 't', 'x'.repeat(64), NOW);
    expect(s.length).toBeLessThanOrEqual(a.maxStateChars);
    expect(a.open('s1.' + 'A'.repeat(a.maxStateChars), 'tools/call', 't', NOW)).toEqual({ ok: false, reason: 'too_large' });
    expect(() => createRequestStateSealer(SECRET, { ttlMs: 0 })).toThrow(RangeError);
  });
});
