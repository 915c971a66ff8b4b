/**
 * A real OpenID provider (`oidc-provider` 9) on 127.0.0.1, port 0, for authorization tests. It issues
 * JWT access tokens through resource indicators (RFC 8707: the token's `aud` is the resource the
 * client asked for), signed with a key made here, so tests can also sign tokens the provider would
 * never issue (expired, not yet valid) with its real key, or with another key under the same `kid`.
 * Clients:
 * - `raw-client`: client_credentials, scopes `mcp:read mcp:admin`, JWT access tokens;
 * - `other-client`: the same as raw-client, another principal (session binding tests);
 * - `short-client`: the same, with access tokens that expire SHORT_TTL_S seconds after issue;
 * - `opaque-client`: client_credentials, opaque access tokens (checked by introspection);
 * - `rs-client`: the resource server's own credentials, for introspection.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
// oidc-provider ships no type declarations; the tests use it through its documented API.
// @ts-expect-error no declaration file
import Provider from 'oidc-provider';

export const SCOPES = 'mcp:read mcp:admin';
export const KID = 'test-key-1';
/** Lifetime of short-client's access tokens, seconds. */
export const SHORT_TTL_S = 3;

export type TokenClient = 'raw-client' | 'opaque-client' | 'other-client' | 'short-client';

export interface TestIssuer {
  issuer: string;
  /** A client_credentials access token for `resource` with `scope` (a JWT unless the client is opaque-client). */
  token(resource: string, scope?: string, client?: TokenClient): Promise<string>;
  /** Signs `claims` with the provider's own key (under its kid, or `kid`); iss defaults to this issuer. */
  sign(claims: JWTPayload, kid?: string): Promise<string>;
  /** Signs with a freshly made key under the provider's kid: a bad signature. */
  signWithWrongKey(claims: JWTPayload): Promise<string>;
  /** RFC 7009 revocation of `token` (as the client that holds it). */
  revoke(token: string, client?: 'raw-client' | 'opaque-client'): Promise<void>;
  /** Requests the provider served, by path (discovery, jwks, introspection, token). */
  hits: Map<string, number>;
  stop(): Promise<void>;
}

const SECRETS = {
  'raw-client': 'raw-secret-0123456789',
  'opaque-client': 'opaque-secret-0123456789',
  'other-client': 'other-secret-0123456789',
  'short-client': 'short-secret-0123456789',
  'rs-client': 'rs-secret-0123456789',
};

export function basic(client: keyof typeof SECRETS): string {
  return `Basic ${Buffer.from(`${client}:${SECRETS[client]}`).toString('base64')}`;
}

export const RS_CLIENT = { id: 'rs-client', secret: SECRETS['rs-client'] };

export async function startIssuer(): Promise<TestIssuer> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: KID, alg: 'RS256', use: 'sig' };
  const hits = new Map<string, number>();
  let handler: ((req: unknown, res: unknown) => void) | null = null;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    hits.set(path, (hits.get(path) ?? 0) + 1);
    handler!(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const cc = { grant_types: ['client_credentials'], redirect_uris: [], response_types: [], scope: SCOPES };
  const provider = new Provider(issuer, {
    clients: [
      { client_id: 'raw-client', client_secret: SECRETS['raw-client'], ...cc },
      { client_id: 'opaque-client', client_secret: SECRETS['opaque-client'], ...cc },
      { client_id: 'other-client', client_secret: SECRETS['other-client'], ...cc },
      { client_id: 'short-client', client_secret: SECRETS['short-client'], ...cc },
      { client_id: 'rs-client', client_secret: SECRETS['rs-client'], grant_types: [], redirect_uris: [], response_types: [] },
    ],
    jwks: { keys: [jwk] },
    scopes: SCOPES.split(' '),
    ttl: {
      ClientCredentials: (_ctx: unknown, _token: unknown, client: { clientId: string }) =>
        client.clientId === 'short-client' ? SHORT_TTL_S : 600,
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // Any authenticated client may introspect: the resource server authenticates as rs-client.
      introspection: { enabled: true, allowedPolicy: () => true },
      revocation: { enabled: true, allowedPolicy: () => true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string, client: { clientId: string }) => ({
          scope: SCOPES,
          audience: resource,
          accessTokenTTL: 600,
          accessTokenFormat: client.clientId === 'opaque-client' ? 'opaque' : 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
  });
  // No proxy in front; and the provider logs nothing the tests read.
  provider.on('server_error', () => {});
  handler = provider.callback();

  const form = async (path: string, client: keyof typeof SECRETS, body: Record<string, string>): Promise<Response> =>
    fetch(`${issuer}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client) },
      body: new URLSearchParams(body).toString(),
    });

  return {
    issuer,
    hits,
    async token(resource, scope = SCOPES, client = 'raw-client') {
      const res = await form('/token', client, { grant_type: 'client_credentials', resource, scope });
      const body = (await res.json()) as { access_token?: string };
      if (!res.ok || !body.access_token) throw new Error(`token endpoint answered ${res.status}: ${JSON.stringify(body)}`);
      return body.access_token;
    },
    sign(claims, kid = KID) {
      return new SignJWT({ iss: issuer, ...claims }).setProtectedHeader({ alg: 'RS256', kid, typ: 'at+jwt' }).sign(privateKey);
    },
    async signWithWrongKey(claims) {
      const other = await generateKeyPair('RS256');
      return new SignJWT({ iss: issuer, ...claims }).setProtectedHeader({ alg: 'RS256', kid: KID, typ: 'at+jwt' }).sign(other.privateKey);
    },
    async revoke(token, client = 'opaque-client') {
      const res = await form('/token/revocation', client, { token, token_type_hint: 'access_token' });
      if (!res.ok) throw new Error(`revocation answered ${res.status}`);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
