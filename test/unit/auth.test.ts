/**
 * In-process: the pure parts of authorization. Bearer header parsing, metadata URLs (RFC 8414 path
 * insertion), principal keys, the token cache's bounds, challenges, introspection answers, and the
 * verifier against a JWKS served from this process (cached path synchronous, refetch on an unknown
 * `kid` at most once per cooldown, leeway, algorithms, an unreachable JWKS).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { loadConfig } from '../../src/config.js';
import { metadataUrls } from '../../src/auth/discovery.js';
import { isFailure, type AuthFailure } from '../../src/auth/failures.js';
import { Introspector } from '../../src/auth/introspection.js';
import { principalKey, type Principal } from '../../src/auth/principal.js';
import { ResourceServer } from '../../src/auth/resource-server.js';
import { KEY_CHARS, TokenCache } from '../../src/auth/token-cache.js';
import { bearerToken, LEEWAY_S, MAX_TOKEN_LENGTH, TokenVerifier } from '../../src/auth/verifier.js';

const AUD = 'https://mcp.example/mcp';

describe('bearerToken', () => {
  it('takes the token of a Bearer header (scheme case-insensitive) and refuses the rest', () => {
    expect(bearerToken('Bearer abc.def-_~+/==')).toBe('abc.def-_~+/==');
    expect(bearerToken('bearer   xyz')).toBe('xyz');
    expect((bearerToken('') as AuthFailure).reason).toBe('missing');
    expect((bearerToken('Basic dXNlcg==') as AuthFailure).reason).toBe('missing');
    expect((bearerToken('Bearer a b') as AuthFailure).reason).toBe('malformed');
    expect((bearerToken('Bearer "x"') as AuthFailure).reason).toBe('malformed');
    expect((bearerToken(`Bearer ${'a'.repeat(MAX_TOKEN_LENGTH + 1)}`) as AuthFailure).reason).toBe('malformed');
  });
});

describe('metadataUrls', () => {
  it('tries RFC 8414 then OpenID Connect; an issuer with a path gets the well-known segment inserted', () => {
    expect(metadataUrls('https://as.example')).toEqual([
      'https://as.example/.well-known/oauth-authorization-server',
      'https://as.example/.well-known/openid-configuration',
    ]);
    expect(metadataUrls('https://as.example/tenant/1/')).toEqual([
      'https://as.example/.well-known/oauth-authorization-server/tenant/1',
      'https://as.example/.well-known/openid-configuration/tenant/1',
      'https://as.example/tenant/1/.well-known/openid-configuration',
    ]);
  });
});

describe('principalKey', () => {
  it('is short, stable, and tells apart triples that concatenate alike', () => {
    const k = principalKey('https://as', 'alice', 'app');
    expect(k).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(principalKey('https://as', 'alice', 'app')).toBe(k);
    expect(principalKey('https://as', 'alic', 'eapp')).not.toBe(k);
    expect(principalKey('https://as2', 'alice', 'app')).not.toBe(k);
  });
});

describe('TokenCache', () => {
  const p = { key: 'k', token: 'a' } as Principal;
  const at = (token: string): Principal => ({ ...p, token });
  it('answers until the entry expires, and drops the oldest beyond its bound', () => {
    const c = new TokenCache(2);
    c.set('a', p, 1000, 0);
    expect(c.get('a', 999)).toBe(p);
    expect(c.get('a', 1000)).toBeUndefined();
    expect(c.size).toBe(0);
    for (const t of ['b', 'c', 'd']) c.set(t, at(t), 1000, 0);
    expect(c.size).toBe(2);
    expect(c.get('b', 0)).toBeUndefined();
    expect(c.get('d', 0)?.token).toBe('d');
    // An entry already expired when verified is not kept.
    c.set('e', at('e'), 5, 10);
    expect(c.get('e', 10)).toBeUndefined();
  });
  it('keys long tokens on their tail but answers only the same whole token', () => {
    const c = new TokenCache(10);
    const tail = 's'.repeat(KEY_CHARS);
    const mine = `header.payload-one.${tail}`;
    c.set(mine, at(mine), 1000, 0);
    expect(c.get(mine, 0)?.token).toBe(mine);
    expect(c.get(`header.payload-two.${tail}`, 0)).toBeUndefined();
  });
});

describe('ResourceServer', () => {
  const rs = new ResourceServer(
    {
      resource: AUD,
      metadataUrl: 'https://mcp.example/.well-known/oauth-protected-resource/mcp',
      authorizationServers: ['https://as'],
      requiredScopes: ['mcp:read'],
    },
    null as unknown as TokenVerifier,
  );
  it('builds challenges: none for a missing token, invalid_token otherwise, 503 without challenge when the server cannot check', () => {
    const missing = rs.refusal({ reason: 'missing', message: '' });
    expect(missing.status).toBe(401);
    expect(missing.challenge).toBe(
      'Bearer resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp", scope="mcp:read"',
    );
    const expired = rs.refusal({ reason: 'expired', message: '' });
    expect(expired.challenge).toMatch(
      /^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="[^"]+", scope="mcp:read"$/,
    );
    expect(JSON.parse(expired.body)).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32000 } });
    const down = rs.refusal({ reason: 'key_fetch_error', message: '' });
    expect(down.status).toBe(503);
    expect(down.challenge).toBe('');
  });
  it('names the required and the tool scopes in a 403', () => {
    const r = rs.toolRefusal(['mcp:admin']);
    expect(r.status).toBe(403);
    expect(r.challenge).toMatch(/^Bearer error="insufficient_scope", scope="mcp:read mcp:admin", /);
    expect(JSON.parse(r.body).error.data).toEqual({ requiredScopes: ['mcp:read', 'mcp:admin'] });
    expect(rs.toolRefusal(['mcp:admin'])).toBe(r);
  });
  it('lists required and tool scopes in the metadata', () => {
    const doc = JSON.parse(rs.metadata(new Map([['t', ['mcp:admin']]]))) as Record<string, unknown>;
    expect(doc).toMatchObject({ resource: AUD, authorization_servers: ['https://as'], bearer_methods_supported: ['header'] });
    expect(doc.scopes_supported).toEqual(['mcp:read', 'mcp:admin']);
  });
});

describe('Introspector.check', () => {
  const intro = new Introspector({
    url: 'http://unused',
    clientId: 'rs',
    clientSecret: 's',
    audience: AUD,
    issuers: ['https://as'],
    leewaySec: LEEWAY_S,
    now: () => 1_000_000_000,
  });
  const reason = (a: Record<string, unknown>): string => {
    const r = intro.check('tok', a);
    return isFailure(r) ? r.reason : 'ok';
  };
  it('accepts an active token for this resource, and names each refusal', () => {
    const good = { active: true, aud: AUD, client_id: 'c', scope: 'a b', exp: 1_000_000 + 60 };
    expect(reason(good)).toBe('ok');
    const p = intro.check('tok', good) as Principal;
    expect(p).toMatchObject({ issuer: 'https://as', subject: 'c', clientId: 'c', scopes: ['a', 'b'] });
    expect(reason({ ...good, active: false })).toBe('introspection_inactive');
    expect(reason({ ...good, aud: 'https://other/mcp' })).toBe('wrong_audience');
    expect(reason({ ...good, aud: undefined })).toBe('wrong_audience');
    expect(reason({ ...good, aud: ['x', AUD] })).toBe('ok');
    expect(reason({ ...good, iss: 'https://evil' })).toBe('wrong_issuer');
    expect(reason({ ...good, exp: 1_000_000 - LEEWAY_S - 1 })).toBe('expired');
    expect(reason({ ...good, nbf: 1_000_000 + LEEWAY_S + 60 })).toBe('not_yet_valid');
    expect(reason({ active: true, aud: AUD })).toBe('malformed');
  });
});

describe('TokenVerifier against a local JWKS', () => {
  const ISS = 'https://as.example';
  let server: Server;
  let jwksUrl: string;
  let fetches = 0;
  let served: unknown = { keys: [] };
  let k1: CryptoKey;
  let k2: CryptoKey;
  const clock = Date.now();
  const claims = (over: JWTPayload = {}): JWTPayload => ({
    iss: ISS,
    sub: 'alice',
    client_id: 'app',
    aud: AUD,
    scope: 'mcp:read',
    exp: Math.floor(clock / 1000) + 600,
    ...over,
  });
  const sign = (key: CryptoKey, kid: string, c: JWTPayload, alg = 'ES256'): Promise<string> =>
    new SignJWT(c).setProtectedHeader({ alg, kid }).sign(key);

  beforeAll(async () => {
    const a = await generateKeyPair('ES256', { extractable: true });
    const b = await generateKeyPair('ES256', { extractable: true });
    k1 = a.privateKey;
    k2 = b.privateKey;
    const pub1 = { ...(await exportJWK(a.publicKey)), kid: 'k1', alg: 'ES256' };
    const pub2 = { ...(await exportJWK(b.publicKey)), kid: 'k2', alg: 'ES256' };
    served = { keys: [pub1] };
    server = createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(served));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
    // Rotation, published later in the test.
    (globalThis as { __pub2?: unknown }).__pub2 = pub2;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  const verifier = (): TokenVerifier =>
    new TokenVerifier({
      issuers: [{ issuer: ISS, jwksUri: jwksUrl }],
      audience: AUD,
      introspector: null,
      introspectionCacheMs: 0,
      now: () => clock,
    });

  it('verifies once; the same token then answers synchronously from the cache', async () => {
    const v = verifier();
    const token = await sign(k1, 'k1', claims());
    const first = v.verify(`Bearer ${token}`);
    expect(first).toBeInstanceOf(Promise);
    const p = (await first) as Principal;
    expect(p).toMatchObject({
      issuer: ISS,
      subject: 'alice',
      clientId: 'app',
      scopes: ['mcp:read'],
      key: principalKey(ISS, 'alice', 'app'),
    });
    const again = v.verify(`Bearer ${token}`);
    expect(again).toBe(p);
    expect(v.cached).toBe(1);
  });

  it(`allows ${LEEWAY_S} s of clock skew on exp, not more`, async () => {
    const v = verifier();
    const nowS = Math.floor(clock / 1000);
    expect(isFailure(await v.verify(`Bearer ${await sign(k1, 'k1', claims({ exp: nowS - LEEWAY_S + 5 }))}`))).toBe(false);
    expect(((await v.verify(`Bearer ${await sign(k1, 'k1', claims({ exp: nowS - LEEWAY_S - 5 }))}`)) as AuthFailure).reason).toBe(
      'expired',
    );
  });

  it('refuses what is not its own: audience, issuer, algorithm, missing exp', async () => {
    const v = verifier();
    const r = async (t: string): Promise<string> => {
      const o = await v.verify(`Bearer ${t}`);
      return isFailure(o) ? o.reason : 'ok';
    };
    expect(await r(await sign(k1, 'k1', claims({ aud: 'https://other/mcp' })))).toBe('wrong_audience');
    expect(await r(await sign(k1, 'k1', claims({ iss: 'https://evil.example' })))).toBe('wrong_issuer');
    expect(await r(await sign(k1, 'k1', claims({ exp: undefined })))).toBe('malformed');
    const hmac = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new Uint8Array(32));
    expect(await r(hmac)).toBe('malformed');
    expect(await r(await sign(k2, 'k1', claims()))).toBe('bad_signature');
  });

  it('refetches the JWKS on an unknown kid, at most once per cooldown', async () => {
    const v = verifier();
    const before = fetches;
    expect(isFailure(await v.verify(`Bearer ${await sign(k1, 'k1', claims())}`))).toBe(false);
    expect(fetches).toBe(before + 1);
    // k2 is published now; within the cooldown after the first fetch an unknown kid fetches nothing.
    served = { keys: [(served as { keys: unknown[] }).keys[0], (globalThis as { __pub2?: unknown }).__pub2] };
    expect(((await v.verify(`Bearer ${await sign(k2, 'k2', claims())}`)) as AuthFailure).reason).toBe('unknown_key');
    expect(fetches).toBe(before + 1);
  });

  it('answers key_fetch_error when the JWKS cannot be fetched', async () => {
    const v = new TokenVerifier({
      issuers: [{ issuer: ISS, jwksUri: 'http://127.0.0.1:9/jwks' }],
      audience: AUD,
      introspector: null,
      introspectionCacheMs: 0,
    });
    expect(((await v.verify(`Bearer ${await sign(k1, 'k1', claims())}`)) as AuthFailure).reason).toBe('key_fetch_error');
  });

  it('refuses an opaque token when no introspection is configured', () => {
    expect((verifier().verify('Bearer opaque-token') as AuthFailure).reason).toBe('malformed');
  });
});

describe('authorization options', () => {
  const fails = (env: Record<string, string>): string => {
    try {
      loadConfig([], env);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('did not fail');
  };
  it('is off by default and accepts a consistent configuration', () => {
    const off = loadConfig([], {});
    expect(off.authIssuers).toEqual([]);
    const on = loadConfig([], {
      MCP_AUTH_ISSUER: 'https://a.example, https://b.example/t',
      MCP_AUTH_SCOPES: 'mcp:read mcp',
      MCP_AUTH_JWKS_URL: 'https://a.example/jwks,https://b.example/t/jwks',
      MCP_PUBLIC_URL: 'https://mcp.example',
    });
    expect(on.authIssuers).toEqual(['https://a.example', 'https://b.example/t']);
    expect(on.publicUrl).toBe('https://mcp.example');
  });
  it('names the bad option', () => {
    expect(fails({ MCP_AUTH_ISSUER: 'not a url' })).toMatch(/MCP_AUTH_ISSUER/);
    expect(fails({ MCP_AUTH_AUDIENCE: 'x' })).toMatch(/MCP_AUTH_AUDIENCE.*MCP_AUTH_ISSUER is empty/);
    expect(fails({ MCP_AUTH_ISSUER: 'https://a', MCP_AUTH_JWKS_URL: 'https://a/1,https://a/2' })).toMatch(
      /MCP_AUTH_JWKS_URL.*one URL per issuer/,
    );
    expect(fails({ MCP_AUTH_ISSUER: 'https://a', MCP_AUTH_CLIENT_ID: 'rs' })).toMatch(/MCP_AUTH_CLIENT_SECRET/);
    expect(fails({ MCP_AUTH_ISSUER: 'https://a', MCP_AUTH_INTROSPECTION_URL: 'https://a/introspect' })).toMatch(/MCP_AUTH_CLIENT_ID/);
    expect(fails({ MCP_AUTH_ISSUER: 'https://a', MCP_AUTH_SCOPES: 'a"b' })).toMatch(/MCP_AUTH_SCOPES/);
    expect(fails({ MCP_PUBLIC_URL: 'https://mcp.example/base' })).toMatch(/MCP_PUBLIC_URL/);
  });
});
