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
 * - `rs-client`: the resource server's own credentials, for introspection;
 * - `sdk-client`: client_credentials, scopes `mcp:read mcp:admin`, for the SDK clients' own
 *   client-credentials providers;
 * - `app-client`: a public client (no secret) with the authorization code grant and PKCE, redirecting
 *   to APP_REDIRECT. Its login and consent are served here at `/interaction/<uid>` (the provider's dev
 *   pages are off): GET describes the pending prompt, POST `login=<user>` signs that user in and grants
 *   the scopes and resource the client asked for. `authorize()` drives it over plain HTTP.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
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
  /**
   * What a user's browser does with an authorization URL the app-client made: follows it to the
   * interaction page, signs in as `user` (which also consents), follows the redirects back, and
   * returns the redirect to APP_REDIRECT (its query: `code`, `iss`, `state`). Plain HTTP with its own
   * cookie jar; throws if the provider answers with an error instead of a code.
   */
  authorize(authorizationUrl: URL | string, user?: string): Promise<URL>;
  /** Authorization requests the interaction pages finished, with the scopes granted. */
  logins: Array<{ user: string; scope: string; resource: string }>;
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
  'sdk-client': 'sdk-secret-0123456789',
};

export function basic(client: keyof typeof SECRETS): string {
  return `Basic ${Buffer.from(`${client}:${SECRETS[client]}`).toString('base64')}`;
}

export const RS_CLIENT = { id: 'rs-client', secret: SECRETS['rs-client'] };
/** The client the SDK clients' client-credentials providers use. */
export const SDK_CLIENT = { id: 'sdk-client', secret: SECRETS['sdk-client'] };
/** The public authorization-code client and where it is redirected (nothing listens there: the code is read from the redirect). */
export const APP_CLIENT = 'app-client';
export const APP_REDIRECT = 'http://127.0.0.1/callback';

interface InteractionDetails {
  uid: string;
  prompt: { name: string };
  params: { client_id: string; scope?: string; resource?: string | string[] };
}

async function formOf(req: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) {
    body += (chunk as Buffer).toString('utf8');
    if (body.length > 10_000) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

export async function startIssuer(): Promise<TestIssuer> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: KID, alg: 'RS256', use: 'sig' };
  const hits = new Map<string, number>();
  const logins: TestIssuer['logins'] = [];
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | null = null;
  let interaction: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | null = null;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (path.startsWith('/interaction/'))
      interaction!(req, res).catch((err: Error) => {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(err.message);
      });
    else handler!(req, res);
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
      { client_id: 'sdk-client', client_secret: SECRETS['sdk-client'], ...cc },
      {
        client_id: APP_CLIENT,
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [APP_REDIRECT],
        scope: SCOPES,
      },
    ],
    // The subject of an authorization-code token is the user who signed in.
    findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
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
  // The login and consent pages: a user who signs in grants what the client asked for.
  interaction = async (req, res) => {
    const details = (await provider.interactionDetails(req, res)) as InteractionDetails;
    if (req.method === 'GET') {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(
          JSON.stringify({ uid: details.uid, prompt: details.prompt.name, client: details.params.client_id, scope: details.params.scope }),
        );
      return;
    }
    const user = (await formOf(req)).get('login');
    if (!user) throw new Error('login required');
    const scope = details.params.scope ?? '';
    const resources = [details.params.resource ?? []].flat();
    const grant = new provider.Grant({ accountId: user, clientId: details.params.client_id });
    if (scope) grant.addOIDCScope(scope);
    for (const r of resources) grant.addResourceScope(r, scope);
    const grantId = (await grant.save()) as string;
    logins.push({ user, scope, resource: resources.join(' ') });
    await provider.interactionFinished(req, res, { login: { accountId: user }, consent: { grantId } }, { mergeWithLastSubmission: false });
  };

  const form = async (path: string, client: keyof typeof SECRETS, body: Record<string, string>): Promise<Response> =>
    fetch(`${issuer}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client) },
      body: new URLSearchParams(body).toString(),
    });

  return {
    issuer,
    hits,
    logins,
    async authorize(authorizationUrl, user = 'alice') {
      const jar = new Map<string, string>();
      const step = async (url: string, init: RequestInit = {}): Promise<Response> => {
        const headers = new Headers(init.headers);
        if (jar.size > 0) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
        const res = await fetch(url, { ...init, headers, redirect: 'manual' });
        for (const c of res.headers.getSetCookie()) {
          const [pair] = c.split(';');
          const eq = pair.indexOf('=');
          jar.set(pair.slice(0, eq), pair.slice(eq + 1));
        }
        return res;
      };
      let url = String(authorizationUrl);
      for (let hop = 0; hop < 10; hop++) {
        const res = await step(url);
        await res.arrayBuffer();
        const location = res.headers.get('location');
        if (location === null) throw new Error(`authorization stopped at ${url} with ${res.status}`);
        const next = new URL(location, url);
        if (next.href.startsWith(APP_REDIRECT)) {
          if (!next.searchParams.has('code'))
            throw new Error(`authorization refused: ${next.searchParams.get('error')} ${next.searchParams.get('error_description')}`);
          return next;
        }
        if (next.pathname.startsWith('/interaction/')) {
          const page = await step(next.href);
          if (page.status !== 200) throw new Error(`interaction page answered ${page.status}`);
          await page.json();
          const done = await step(next.href, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ login: user }).toString(),
          });
          const back = done.headers.get('location');
          if (back === null) throw new Error(`sign-in answered ${done.status}: ${await done.text()}`);
          await done.arrayBuffer();
          url = new URL(back, next).href;
          continue;
        }
        url = next.href;
      }
      throw new Error('too many redirects');
    },
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
