/**
 * In-process: what session binding rests on. A sealed requestState opens only for the principal it
 * was minted for (another principal's replay is told apart from tampering, so it can be counted); the
 * forward HMAC covers the carried principal and the Authorization header it goes with; the principal
 * header round-trips what tools see.
 */
import { describe, expect, it } from 'vitest';
import { createRequestStateSealer } from '../../src/cluster/request-state.js';
import { createForwardAuth } from '../../src/cluster/forward-auth.js';
import { decodePrincipal, encodePrincipal } from '../../src/cluster/forward-principal.js';
import { principalKey, type Principal } from '../../src/auth/principal.js';

const SECRET = 'a-cluster-secret-of-32-characters';
const NOW = 1_800_000_000_000;
const KEY_A = principalKey('https://as.example', 'alice', 'app');
const KEY_B = principalKey('https://as.example', 'bob', 'app');

describe('a requestState bound to its principal', () => {
  const sealer = createRequestStateSealer(SECRET);

  it('opens for the principal it was minted for, on any node with the secret', () => {
    const s = sealer.seal('tools/call', 'deploy', '{"step":1}', NOW, KEY_A);
    expect(s.split('.')).toHaveLength(5);
    expect(createRequestStateSealer(SECRET).open(s, 'tools/call', 'deploy', NOW, KEY_A)).toEqual({ ok: true, payload: '{"step":1}' });
  });

  it("is another principal's for anyone else, or for a caller with none; an unbound state is nobody's with a principal", () => {
    const s = sealer.seal('tools/call', 'deploy', 'x', NOW, KEY_A);
    expect(sealer.open(s, 'tools/call', 'deploy', NOW, KEY_B)).toEqual({ ok: false, reason: 'wrong_principal' });
    expect(sealer.open(s, 'tools/call', 'deploy', NOW)).toEqual({ ok: false, reason: 'wrong_principal' });
    const unbound = sealer.seal('tools/call', 'deploy', 'x', NOW);
    expect(unbound.split('.')).toHaveLength(4);
    expect(sealer.open(unbound, 'tools/call', 'deploy', NOW, KEY_A)).toEqual({ ok: false, reason: 'wrong_principal' });
  });

  it('is invalid when its principal tag is changed or moved, as any tampering', () => {
    const s = sealer.seal('tools/call', 'deploy', 'x', NOW, KEY_A);
    const b = sealer.seal('tools/call', 'deploy', 'x', NOW, KEY_B);
    const parts = s.split('.');
    const swapped = [...parts.slice(0, 2), b.split('.')[2], ...parts.slice(3)].join('.');
    expect(sealer.open(swapped, 'tools/call', 'deploy', NOW, KEY_B)).toEqual({ ok: false, reason: 'invalid' });
    const dropped = [...parts.slice(0, 2), ...parts.slice(3)].join('.');
    expect(sealer.open(dropped, 'tools/call', 'deploy', NOW, KEY_A)).toEqual({ ok: false, reason: 'invalid' });
    expect(sealer.open(`${s}.x`, 'tools/call', 'deploy', NOW, KEY_A)).toEqual({ ok: false, reason: 'malformed' });
  });
});

describe('the principal a forwarded request carries', () => {
  const a = createForwardAuth(SECRET, 'node-a');
  const b = createForwardAuth(SECRET, 'node-b');
  const principal = 'cHJpbmNpcGFs';
  const authz = 'Bearer abc.def.ghi';

  it('is bound into the forward HMAC with its Authorization header', () => {
    const h = a.sign('POST', '/mcp', 'sid', NOW, 'Y2xpZW50', principal, authz);
    expect(b.verify(h, 'POST', '/mcp', 'sid', NOW, 'Y2xpZW50', principal, authz)).toBe(true);
    expect(b.verify(h, 'POST', '/mcp', 'sid', NOW, 'Y2xpZW50', 'b3RoZXI', authz)).toBe(false);
    expect(b.verify(h, 'POST', '/mcp', 'sid', NOW, 'Y2xpZW50', principal, 'Bearer other.def.ghi')).toBe(false);
    expect(b.verify(h, 'POST', '/mcp', 'sid', NOW, 'Y2xpZW50')).toBe(false);
    // A forward signed without one does not verify with one a client added.
    const bare = a.sign('POST', '/mcp', 'sid', NOW, 'Y2xpZW50');
    expect(b.verify(bare, 'POST', '/mcp', 'sid', NOW, 'Y2xpZW50', principal, authz)).toBe(false);
    const none = a.sign('GET', '/mcp', 'sid', NOW);
    expect(b.verify(none, 'GET', '/mcp', 'sid', NOW, '', principal, authz)).toBe(false);
  });

  it('round-trips what tools see; a JWT brings its claims back from the token', () => {
    const payload = { iss: 'https://as.example', sub: 'alice', client_id: 'app', scope: 'a b', exp: 1_900_000_000, tenant: 't1' };
    const jwt = `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.c2ln`;
    const p: Principal = {
      issuer: 'https://as.example',
      subject: 'alice',
      clientId: 'app',
      scopes: ['a', 'b'],
      expiresAt: 1_900_000_000,
      token: jwt,
      claims: payload,
      key: KEY_A,
    };
    const value = encodePrincipal(p);
    expect(Buffer.from(value, 'base64url').toString()).not.toContain('tenant');
    expect(decodePrincipal(value, jwt)).toEqual(p);

    const opaque = { ...p, token: 'opaque-token', claims: { active: true, sub: 'alice', tenant: 't1' }, expiresAt: undefined };
    expect(decodePrincipal(encodePrincipal(opaque), 'opaque-token')).toEqual(opaque);
  });

  it('is refused when it is not one', () => {
    for (const bad of [
      '',
      '!!!',
      Buffer.from('[1,2]').toString('base64url'),
      Buffer.from('["i","s","c",[1],null,null]').toString('base64url'),
    ])
      expect(decodePrincipal(bad, 'opaque')).toBeNull();
    expect(decodePrincipal('x'.repeat(9000), 'opaque')).toBeNull();
  });
});
