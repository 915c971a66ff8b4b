/**
 * A real OAuth 2.1 authorization server for the `ours-auth` contender: `oidc-provider` on 127.0.0.1,
 * port 0, in this process. One client_credentials client; access tokens are RS256 JWTs whose `aud`
 * is the resource asked for (RFC 8707), valid for an hour (far beyond a run). The node discovers it at
 * start, fetches its JWKS on the first token and then serves that token from its verified-token cache.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The resource the bench's node is configured for (MCP_AUTH_AUDIENCE): fixed, since the node's port is 0. */
export const BENCH_RESOURCE = 'https://bench.invalid/mcp';
export const BENCH_SCOPE = 'mcp:tools';

const CLIENT_ID = 'bench-client';
const CLIENT_SECRET = 'bench-secret-0123456789';
const TOKEN_TTL_S = 3600;

export interface BenchIssuer {
  issuer: string;
  /** A client_credentials access token (JWT) for BENCH_RESOURCE with BENCH_SCOPE. */
  token(): Promise<string>;
  stop(): Promise<void>;
}

interface ProviderLike {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  on(event: string, fn: () => void): void;
}

export async function startIssuer(): Promise<BenchIssuer> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-key', alg: 'RS256', use: 'sig' };
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | null = null;
  const server = createServer((req, res) => handler!(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Loaded here, not at the top: only the ours-auth contender needs it (and it warns on Node 20 when loaded).
  // oidc-provider ships no type declarations; it is used through its documented API.
  // @ts-expect-error no declaration file
  const loaded = (await import('oidc-provider')) as { default: new (issuer: string, config: unknown) => ProviderLike };
  const ProviderClass = loaded.default;
  const provider = new ProviderClass(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        scope: BENCH_SCOPE,
      },
    ],
    jwks: { keys: [jwk] },
    scopes: [BENCH_SCOPE],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => ({
          scope: BENCH_SCOPE,
          audience: resource,
          accessTokenTTL: TOKEN_TTL_S,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
  });
  provider.on('server_error', () => {});
  handler = provider.callback();
  return {
    issuer,
    async token() {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: BENCH_RESOURCE, scope: BENCH_SCOPE }).toString(),
      });
      const body = (await res.json()) as { access_token?: string };
      if (!res.ok || !body.access_token) throw new Error(`token endpoint answered ${res.status}: ${JSON.stringify(body)}`);
      return body.access_token;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
