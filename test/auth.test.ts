/**
 * Authorization through HTTP against real processes: a node that checks access tokens from a real
 * OpenID provider (test/helpers/oidc.ts) answers every kind of bad token with 401 and its challenge,
 * a token without the scopes a request or a tool needs with 403 `insufficient_scope`, serves the
 * protected resource metadata, hands the verified caller to tools (whoami, both eras), verifies opaque
 * tokens by introspection, keeps serving after each refusal, and counts each refusal by reason. A node
 * without MCP_AUTH_ISSUER behaves as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, SignJWT } from 'jose';
import { metricValue, POST_HEADERS, ROOT, runServer, startServer, type TestServer } from './helpers/server.js';
import { KID, RS_CLIENT, startIssuer, type TestIssuer } from './helpers/oidc.js';

const TOOLS = `${ROOT}test/fixtures/auth-tools.mjs`;
const V2025 = '2025-11-25';
const MODERN = '2026-07-28';
let nextId = 1;

function initBody(): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id: nextId++,
    method: 'initialize',
    params: { protocolVersion: V2025, capabilities: {}, clientInfo: { name: 'auth-test', version: '1' } },
  });
}

function callBody(name: string, args: Record<string, unknown> = {}): string {
  return JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name, arguments: args } });
}

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

async function post(url: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { ...POST_HEADERS, ...headers }, body });
}

/** A session opened with `token`: its id. */
async function openSession(url: string, token: string): Promise<string> {
  const res = await post(url, initBody(), bearer(token));
  expect(res.status).toBe(200);
  await res.json();
  const sid = res.headers.get('mcp-session-id') ?? '';
  expect(sid).not.toBe('');
  const note = await post(url, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), {
    ...bearer(token),
    'mcp-session-id': sid,
    'mcp-protocol-version': V2025,
  });
  expect(note.status).toBe(202);
  return sid;
}

async function callTool(url: string, token: string, sid: string, name: string, args: Record<string, unknown> = {}): Promise<Response> {
  return post(url, callBody(name, args), { ...bearer(token), 'mcp-session-id': sid, 'mcp-protocol-version': V2025 });
}

/** A 2026-07-28 tools/call (stateless). */
async function modernCall(url: string, token: string, name: string): Promise<Response> {
  const _meta = {
    'io.modelcontextprotocol/protocolVersion': MODERN,
    'io.modelcontextprotocol/clientInfo': { name: 'auth-test', version: '1' },
    'io.modelcontextprotocol/clientCapabilities': {},
  };
  return post(url, JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name, arguments: {}, _meta } }), {
    ...bearer(token),
    'mcp-protocol-version': MODERN,
    'mcp-method': 'tools/call',
    'mcp-name': name,
  });
}

/** Parses a WWW-Authenticate Bearer challenge into its parameters. */
function challenge(header: string | null): Record<string, string> {
  expect(header).toMatch(/^Bearer /);
  const out: Record<string, string> = {};
  for (const m of header!.slice(7).matchAll(/([a-z_]+)="([^"]*)"/g)) out[m[1]] = m[2];
  return out;
}

async function rpcError(res: Response): Promise<{ code: number; message: string; data?: any }> {
  const body = (await res.json()) as { jsonrpc: string; id: unknown; error: { code: number; message: string; data?: any } };
  expect(body.jsonrpc).toBe('2.0');
  expect(body.id).toBeNull();
  return body.error;
}

const now = (): number => Math.floor(Date.now() / 1000);

describe('a node with authorization on', () => {
  let as: TestIssuer;
  let other: TestIssuer;
  let srv: TestServer;
  let prm: string;
  /** A valid mcp:read token for this node, and one with both scopes. */
  let readToken: string;
  let adminToken: string;

  beforeAll(async () => {
    [as, other] = await Promise.all([startIssuer(), startIssuer()]);
    srv = await startServer({
      args: ['--tools', TOOLS],
      env: {
        MCP_AUTH_ISSUER: as.issuer,
        MCP_AUTH_SCOPES: 'mcp:read',
        MCP_AUTH_CLIENT_ID: RS_CLIENT.id,
        MCP_AUTH_CLIENT_SECRET: RS_CLIENT.secret,
        // Every introspection answer is fresh, so a revocation shows at once.
        MCP_AUTH_INTROSPECTION_CACHE_MS: '0',
      },
    });
    prm = `${srv.base}/.well-known/oauth-protected-resource/mcp`;
    [readToken, adminToken] = await Promise.all([as.token(srv.url, 'mcp:read'), as.token(srv.url, 'mcp:read mcp:admin')]);
  });
  afterAll(async () => {
    await srv?.stop();
    await Promise.all([as?.stop(), other?.stop()]);
  });

  /** The node still serves a valid caller (after a refusal). */
  async function stillServes(): Promise<void> {
    const sid = await openSession(srv.url, readToken);
    const res = await callTool(srv.url, readToken, sid, 'whoami');
    expect(res.status).toBe(200);
    expect((await res.json()).result.structuredContent.subject).toBe('raw-client');
  }

  /** Sends an initialize with `authorization`, expects 401 invalid_token for `reason`, and the counter to move. */
  async function refused401(authorization: string, reason: string): Promise<void> {
    const before = await metricValue(srv.base, 'mcp_auth_failures_total', `reason="${reason}"`);
    const res = await post(srv.url, initBody(), { authorization });
    expect(res.status).toBe(401);
    const c = challenge(res.headers.get('www-authenticate'));
    expect(c).toMatchObject({ error: 'invalid_token', resource_metadata: prm, scope: 'mcp:read' });
    expect(c.error_description).toBeTruthy();
    const err = await rpcError(res);
    expect(err.code).toBe(-32000);
    expect(err.message).toMatch(/^Unauthorized: /);
    expect(await metricValue(srv.base, 'mcp_auth_failures_total', `reason="${reason}"`)).toBe(before + 1);
    await stillServes();
  }

  it('serves the protected resource metadata at both well-known paths', async () => {
    for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
      const res = await fetch(`${srv.base}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const doc = (await res.json()) as Record<string, unknown>;
      expect(doc.resource).toBe(srv.url);
      expect(doc.authorization_servers).toEqual([as.issuer]);
      expect(doc.bearer_methods_supported).toEqual(['header']);
      // The required scope and the scope the tools module declares.
      expect(new Set(doc.scopes_supported as string[])).toEqual(new Set(['mcp:read', 'mcp:admin']));
    }
  });

  it('answers a request without a token with 401 and the challenge, on POST, GET and DELETE', async () => {
    const before = await metricValue(srv.base, 'mcp_auth_failures_total', 'reason="missing"');
    const res = await post(srv.url, initBody());
    expect(res.status).toBe(401);
    // No error code for a request that carried no credentials (RFC 6750 section 3.1).
    expect(res.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${prm}", scope="mcp:read"`);
    expect((await rpcError(res)).message).toMatch(/^Unauthorized: No access token/);
    const sid = await openSession(srv.url, readToken);
    for (const method of ['GET', 'DELETE']) {
      const r = await fetch(srv.url, {
        method,
        headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': V2025 },
      });
      expect(r.status).toBe(401);
      expect(challenge(r.headers.get('www-authenticate')).resource_metadata).toBe(prm);
      await r.body?.cancel();
    }
    // Another scheme is no bearer token at all.
    const basicAuth = await post(srv.url, initBody(), { authorization: 'Basic dXNlcjpwYXNz' });
    expect(basicAuth.status).toBe(401);
    expect(basicAuth.headers.get('www-authenticate')).not.toMatch(/error=/);
    await basicAuth.body?.cancel();
    expect(await metricValue(srv.base, 'mcp_auth_failures_total', 'reason="missing"')).toBe(before + 4);
    // The session opened with a token is still there for its caller.
    expect((await callTool(srv.url, readToken, sid, 'whoami')).status).toBe(200);
  });

  it('refuses a malformed token', async () => {
    await refused401('Bearer {not-a-token}', 'malformed');
    await refused401(`Bearer ${'a'.repeat(9000)}`, 'malformed');
    await refused401('Bearer eyJhbGciOiJub25lIn0.e30.', 'malformed');
  });

  it('refuses an expired token and a token not valid yet, both signed with the issuer key', async () => {
    const claims = { sub: 'raw-client', client_id: 'raw-client', aud: srv.url, scope: 'mcp:read' };
    await refused401(`Bearer ${await as.sign({ ...claims, iat: now() - 3600, exp: now() - 120 })}`, 'expired');
    await refused401(`Bearer ${await as.sign({ ...claims, iat: now(), nbf: now() + 600, exp: now() + 1200 })}`, 'not_yet_valid');
  });

  it('refuses a token minted for another resource', async () => {
    await refused401(`Bearer ${await as.token('http://other-resource.example/mcp', 'mcp:read')}`, 'wrong_audience');
  });

  it('refuses a token from an issuer it does not trust', async () => {
    await refused401(`Bearer ${await other.token(srv.url, 'mcp:read')}`, 'wrong_issuer');
  });

  it('refuses a token whose signature does not verify, and one signed with an unknown key', async () => {
    const claims = { sub: 'raw-client', client_id: 'raw-client', aud: srv.url, scope: 'mcp:read', iat: now(), exp: now() + 600 };
    await refused401(`Bearer ${await as.signWithWrongKey(claims)}`, 'bad_signature');
    await refused401(`Bearer ${await as.sign(claims, `${KID}-rotated-away`)}`, 'unknown_key');
  });

  it('answers 403 insufficient_scope to a token without the scope every request needs', async () => {
    const before = await metricValue(srv.base, 'mcp_auth_failures_total', 'reason="insufficient_scope"');
    const res = await post(srv.url, initBody(), bearer(await as.token(srv.url, 'mcp:admin')));
    expect(res.status).toBe(403);
    expect(challenge(res.headers.get('www-authenticate'))).toMatchObject({
      error: 'insufficient_scope',
      scope: 'mcp:read',
      resource_metadata: prm,
    });
    const err = await rpcError(res);
    expect(err.message).toMatch(/mcp:read/);
    expect(err.data).toEqual({ requiredScopes: ['mcp:read'] });
    expect(await metricValue(srv.base, 'mcp_auth_failures_total', 'reason="insufficient_scope"')).toBe(before + 1);
    await stillServes();
  });

  it('answers 403 to a tools/call whose tool declares a scope the token lacks, naming the scopes, in both eras', async () => {
    const sid = await openSession(srv.url, readToken);
    const res = await callTool(srv.url, readToken, sid, 'admin_echo', { text: 'hi' });
    expect(res.status).toBe(403);
    expect(challenge(res.headers.get('www-authenticate'))).toMatchObject({
      error: 'insufficient_scope',
      scope: 'mcp:read mcp:admin',
      resource_metadata: prm,
    });
    const err = await rpcError(res);
    expect(err.data).toEqual({ requiredScopes: ['mcp:read', 'mcp:admin'] });
    const modern = await modernCall(srv.url, readToken, 'admin_echo');
    expect(modern.status).toBe(403);
    expect(challenge(modern.headers.get('www-authenticate')).scope).toBe('mcp:read mcp:admin');
    await modern.body?.cancel();
    // The session goes on, and a token with the scope calls the tool (step-up: same session, new token).
    expect((await callTool(srv.url, readToken, sid, 'whoami')).status).toBe(200);
    const ok = await callTool(srv.url, adminToken, sid, 'admin_echo', { text: 'hi' });
    expect(ok.status).toBe(200);
    expect((await ok.json()).result.content[0].text).toBe('hi');
  });

  it('hands the verified caller to tools: whoami returns subject, client and scopes (2025 session and 2026-07-28)', async () => {
    const sid = await openSession(srv.url, adminToken);
    const res = await callTool(srv.url, adminToken, sid, 'whoami');
    expect(res.status).toBe(200);
    const who = (await res.json()).result.structuredContent;
    expect(who).toEqual({
      authenticated: true,
      subject: 'raw-client',
      issuer: as.issuer,
      clientId: 'raw-client',
      scopes: ['mcp:read', 'mcp:admin'],
    });
    const modern = await modernCall(srv.url, readToken, 'whoami');
    expect(modern.status).toBe(200);
    const mwho = (await modern.json()).result.structuredContent;
    expect(mwho).toMatchObject({ authenticated: true, subject: 'raw-client', clientId: 'raw-client', scopes: ['mcp:read'] });
  });

  it('gives every 2026-07-28 call the token it carried, across principals and a new token of one, on every worker', async () => {
    const [otherToken, readToken2] = await Promise.all([as.token(srv.url, 'mcp:read', 'other-client'), as.token(srv.url, 'mcp:read')]);
    expect(readToken2).not.toBe(readToken);
    // Interleaved, several rounds: stateless calls go round robin over the workers, each of which is
    // sent a caller's auth info once per token and keeps it.
    const sequence = [readToken, otherToken, readToken2, readToken, otherToken, readToken2, readToken, otherToken];
    for (const token of sequence) {
      const res = await modernCall(srv.url, token, 'auth_token');
      expect(res.status).toBe(200);
      const got = (await res.json()).result.structuredContent;
      expect(got).toEqual({ clientId: token === otherToken ? 'other-client' : 'raw-client', tail: token.slice(-24), frozen: true });
    }
  });

  it('gives handlers the caller in both SDK shapes: extra.authInfo and ctx.http.authInfo', async () => {
    const sid = await openSession(srv.url, readToken);
    const res = await callTool(srv.url, readToken, sid, 'auth_shapes');
    expect(res.status).toBe(200);
    const got = (await res.json()).result.structuredContent;
    expect(got).toMatchObject({ same: true, clientId: 'raw-client', resource: srv.url, token: readToken.length });
    expect(got.expiresAt).toBeGreaterThan(now());
  });

  it('verifies a token once: later requests with it do not fetch keys again', async () => {
    const token = await as.token(srv.url, 'mcp:read');
    const sid = await openSession(srv.url, token);
    const jwksFetches = as.hits.get('/jwks') ?? 0;
    expect(jwksFetches).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) expect((await callTool(srv.url, token, sid, 'whoami')).status).toBe(200);
    expect(as.hits.get('/jwks') ?? 0).toBe(jwksFetches);
  });

  it('verifies an opaque token by introspection, and refuses it once revoked', async () => {
    const token = await as.token(srv.url, 'mcp:read', 'opaque-client');
    expect(token.split('.')).toHaveLength(1);
    const sid = await openSession(srv.url, token);
    const res = await callTool(srv.url, token, sid, 'whoami');
    expect(res.status).toBe(200);
    expect((await res.json()).result.structuredContent).toMatchObject({ subject: 'opaque-client', clientId: 'opaque-client' });
    expect(as.hits.get('/token/introspection') ?? 0).toBeGreaterThan(0);
    await as.revoke(token, 'opaque-client');
    const before = await metricValue(srv.base, 'mcp_auth_failures_total', 'reason="introspection_inactive"');
    const after = await callTool(srv.url, token, sid, 'whoami');
    expect(after.status).toBe(401);
    expect(challenge(after.headers.get('www-authenticate'))).toMatchObject({ error: 'invalid_token', resource_metadata: prm });
    await rpcError(after);
    expect(await metricValue(srv.base, 'mcp_auth_failures_total', 'reason="introspection_inactive"')).toBe(before + 1);
    await stillServes();
  });

  it('exports every failure reason from the start and counts 401s by status', async () => {
    const text = await (await fetch(`${srv.base}/metrics`)).text();
    for (const reason of ['missing', 'malformed', 'expired', 'wrong_audience', 'key_fetch_error', 'introspection_error'])
      expect(text).toMatch(new RegExp(`^mcp_auth_failures_total\\{reason="${reason}"\\} \\d+`, 'm'));
    expect(await metricValue(srv.base, 'mcp_requests_total', 'status="401"')).toBeGreaterThan(0);
  });
});

describe('a node with authorization off', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer();
  });
  afterAll(async () => {
    await srv?.stop();
  });

  it('serves without tokens, ignores an Authorization header, has no metadata, and whoami is anonymous', async () => {
    const meta = await fetch(`${srv.base}/.well-known/oauth-protected-resource/mcp`);
    expect(meta.status).toBe(404);
    await meta.body?.cancel();
    const res = await post(srv.url, initBody(), { authorization: 'Bearer {junk}' });
    expect(res.status).toBe(200);
    expect(res.headers.get('www-authenticate')).toBeNull();
    await res.json();
    const sid = res.headers.get('mcp-session-id')!;
    const who = await post(srv.url, callBody('whoami'), { 'mcp-session-id': sid, 'mcp-protocol-version': V2025 });
    expect(who.status).toBe(200);
    expect((await who.json()).result.structuredContent).toEqual({ authenticated: false });
    expect(await metricValue(srv.base, 'mcp_auth_failures_total')).toBe(0);
  });
});

describe('a node whose authorization server is unreachable', () => {
  let srv: TestServer;
  beforeAll(async () => {
    // The JWKS URL given (no discovery) points at a closed port.
    srv = await startServer({ env: { MCP_AUTH_ISSUER: 'https://unreachable.example', MCP_AUTH_JWKS_URL: 'http://127.0.0.1:9/jwks' } });
  });
  afterAll(async () => {
    await srv?.stop();
  });

  it('answers 503 with Retry-After and no challenge (the token is not at fault), logs once, and goes on', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const token = await new SignJWT({ iss: 'https://unreachable.example', sub: 'u', aud: srv.url, exp: now() + 600 })
      .setProtectedHeader({ alg: 'ES256', kid: 'k' })
      .sign(privateKey);
    for (let i = 0; i < 3; i++) {
      const res = await post(srv.url, initBody(), bearer(token));
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(res.headers.get('www-authenticate')).toBeNull();
      expect((await rpcError(res)).message).toMatch(/^Service Unavailable: /);
    }
    expect(await metricValue(srv.base, 'mcp_auth_failures_total', 'reason="key_fetch_error"')).toBe(3);
    expect(srv.logs.filter((l) => l.msg.startsWith('access tokens cannot be verified'))).toHaveLength(1);
    expect((await fetch(`${srv.base}/healthz`)).status).toBe(200);
  });
});

describe('authorization configuration', () => {
  it('refuses to start when the issuer publishes no metadata, naming it', async () => {
    const { code, stderr, stdout } = await runServer(['--port', '0'], {
      MCP_AUTH_ISSUER: 'http://127.0.0.1:9/tenant',
      HOST: '127.0.0.1',
      WORKERS: '1',
    });
    expect(code).toBe(1);
    expect(stdout + stderr).toMatch(/MCP_ERR_AUTH_DISCOVERY/);
    expect(stdout + stderr).toMatch(/127\.0\.0\.1:9\/\.well-known\/oauth-authorization-server\/tenant/);
  });

  it('refuses auth options without an issuer, with a configuration error', async () => {
    const { code, stderr } = await runServer(['--port', '0'], { MCP_AUTH_SCOPES: 'mcp:read' });
    expect(code).toBe(2);
    expect(stderr).toMatch(/MCP_AUTH_SCOPES/);
  });
});
