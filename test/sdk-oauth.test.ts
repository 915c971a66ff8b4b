/**
 * The official clients' OAuth support end to end against a real OpenID provider
 * (test/helpers/oidc.ts), on one node and through the local HAProxy cluster with no cookie jar:
 * the SDK v1 client, and the SDK v2 client pinned to 2026-07-28 and in its default (legacy) mode.
 *
 * Each client's first request gets 401; the client reads the protected resource metadata the
 * challenge names, then the authorization server's metadata, gets a token for the resource the
 * metadata names (RFC 8707 `resource`), and its calls go through: `whoami` returns the subject and
 * client of that token. Two ways to a token:
 * - the SDK's own client-credentials provider (the client is the subject);
 * - authorization code with PKCE (S256) for a public client, the user's login and consent driven
 *   over plain HTTP (the subject is the user).
 * Step-up: `admin_echo` needs mcp:admin, which the first token lacks; the node answers 403
 * insufficient_scope naming it. The SDK v2 client-credentials provider asks for the wider scope and
 * retries by itself. The SDK v1 client-credentials provider asks for its configured scope again (its
 * token request ignores the challenge's scope), so the call fails with its "403 after trying
 * upscoping" error; that is asserted as what it does. With authorization code both SDKs start a new
 * authorization for the wider scope (UnauthorizedError, the app sends the user there), and after
 * finishAuth the same call on the same connection (and 2025 session) goes through.
 */
import {
  ClientCredentialsProvider as CredentialsV2,
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client';
import { ClientCredentialsProvider as CredentialsV1 } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerOf } from '../bench/lib/mcp-client.js';
import { startTestCluster, type Cluster } from './helpers/cluster.js';
import { APP_CLIENT, APP_REDIRECT, SDK_CLIENT, startIssuer, type TestIssuer } from './helpers/oidc.js';
import { ROOT, startServer, type TestServer } from './helpers/server.js';

const TOOLS = `${ROOT}test/fixtures/auth-tools.mjs`;
const REQUIRED = 'mcp:read';

/** One exchange a client made, as the test's fetch saw it. */
interface Hop {
  method: string;
  /** `node` (the MCP server or the balancer) or `as` (the authorization server), then the path. */
  where: string;
  status: number;
  /** The form fields of a token request. */
  form?: Record<string, string>;
}

/** A fetch that records every exchange, given to the transport (the SDKs use it for discovery and tokens too). */
function recordingFetch(issuer: string, hops: Hop[]): typeof fetch {
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const res = await fetch(input, init);
    const body = init?.body;
    const form = body instanceof URLSearchParams ? Object.fromEntries(body) : undefined;
    hops.push({
      method: init?.method ?? 'GET',
      where: `${url.origin === issuer ? 'as' : 'node'} ${url.pathname}`,
      status: res.status,
      ...(form ? { form } : {}),
    });
    return res;
  };
}

/**
 * The app side of the authorization code flow, for both SDKs (the same interface shape): a public
 * client registered at the provider; `redirectToAuthorization` keeps the URL the user must visit.
 */
class AppProvider {
  authorizationUrl: URL | null = null;
  private saved: Record<string, unknown> | undefined;
  private verifier = '';
  private info: Record<string, unknown> = { client_id: APP_CLIENT };
  get redirectUrl(): string {
    return APP_REDIRECT;
  }
  get clientMetadata() {
    return {
      client_name: 'oauth-test-app',
      redirect_uris: [APP_REDIRECT],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() {
    return this.info as { client_id: string };
  }
  saveClientInformation(info: Record<string, unknown>): void {
    this.info = info;
  }
  tokens() {
    return this.saved as { access_token: string; token_type: string } | undefined;
  }
  saveTokens(tokens: Record<string, unknown>): void {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL): void {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(v: string): void {
    this.verifier = v;
  }
  codeVerifier(): string {
    return this.verifier;
  }
}

interface Who {
  subject: string;
  clientId: string;
  scopes: string[];
}

/** One client, the same for both SDKs. */
interface Conn {
  era(): 'modern' | 'legacy';
  whoami(): Promise<Who>;
  /** admin_echo's text (needs mcp:admin). */
  adminEcho(text: string): Promise<string>;
  sessionId(): string | undefined;
  /** Completes an authorization code flow on this connection's transport (the redirect back to the app). */
  finishAuth(callback: URL): Promise<void>;
  close(): Promise<void>;
}

type Sdk = 'v1' | 'v2-modern' | 'v2-legacy';

interface Options {
  url: string;
  issuer: string;
  hops: Hop[];
  /** Client credentials (the SDK's provider) or the app's authorization code provider. */
  provider: 'credentials' | AppProvider;
}

async function open(sdk: Sdk, o: Options): Promise<Conn> {
  const f = recordingFetch(o.issuer, o.hops);
  const who = (r: { structuredContent?: unknown }): Who => r.structuredContent as Who;
  const text = (r: { content: unknown }): string => (r.content as Array<{ text: string }>)[0].text;
  if (sdk === 'v1') {
    const authProvider =
      o.provider === 'credentials'
        ? new CredentialsV1({ clientId: SDK_CLIENT.id, clientSecret: SDK_CLIENT.secret, scope: REQUIRED, expectedIssuer: o.issuer })
        : o.provider;
    const transport = new TransportV1(new URL(o.url), { authProvider, fetch: f });
    const client = new ClientV1({ name: 'oauth-v1', version: '1.0.0' });
    const conn: Conn = {
      era: () => 'legacy',
      whoami: async () => who(await client.callTool({ name: 'whoami', arguments: {} })),
      adminEcho: async (t) => text(await client.callTool({ name: 'admin_echo', arguments: { text: t } })),
      sessionId: () => transport.sessionId,
      finishAuth: (cb) => transport.finishAuth(cb.searchParams.get('code') ?? ''),
      close: () => client.close(),
    };
    await client.connect(transport).catch((err: Error) => {
      (err as Error & { conn?: Conn }).conn = conn;
      throw err;
    });
    return conn;
  }
  const authProvider =
    o.provider === 'credentials'
      ? new CredentialsV2({ clientId: SDK_CLIENT.id, clientSecret: SDK_CLIENT.secret, scope: REQUIRED, expectedIssuer: o.issuer })
      : o.provider;
  const transport = new TransportV2(new URL(o.url), { authProvider, fetch: f });
  const client = new ClientV2(
    { name: 'oauth-v2', version: '1.0.0' },
    { versionNegotiation: { mode: sdk === 'v2-modern' ? { pin: '2026-07-28' } : 'legacy' } },
  );
  const conn: Conn = {
    era: () => client.getProtocolEra() as 'modern' | 'legacy',
    whoami: async () => who(await client.callTool({ name: 'whoami', arguments: {} })),
    adminEcho: async (t) => text(await client.callTool({ name: 'admin_echo', arguments: { text: t } })),
    sessionId: () => transport.sessionId,
    finishAuth: (cb) => transport.finishAuth(cb.searchParams),
    close: () => client.close(),
  };
  await client.connect(transport).catch((err: Error) => {
    (err as Error & { conn?: Conn }).conn = conn;
    throw err;
  });
  return conn;
}

/** The connection whose connect threw (for finishAuth on its transport). */
function connOf(err: unknown): Conn {
  const conn = (err as { conn?: Conn }).conn;
  expect(conn, String(err)).toBeDefined();
  return conn!;
}

const hopsOf = (hops: Hop[]): string[] => hops.map((h) => `${h.method} ${h.where} ${h.status}`);
/** The MCP requests and token requests only (a client may read the metadata again on a step-up). */
/**
 * The POSTs to /mcp and the token requests, in order. A 2025 session's client also opens (and
 * reopens) its GET stream whenever it likes, so GETs are left out of sequences.
 */
const callsAndTokens = (hops: Hop[]): string[] =>
  hopsOf(hops.filter((h) => h.method === 'POST' && (h.where === 'node /mcp' || h.where === 'as /token')));
const tokenRequests = (hops: Hop[]): Array<Record<string, string>> => hops.filter((h) => h.where === 'as /token').map((h) => h.form ?? {});

const SDKS: ReadonlyArray<{ sdk: Sdk; label: string; era: 'modern' | 'legacy' }> = [
  { sdk: 'v1', label: 'SDK v1 client', era: 'legacy' },
  { sdk: 'v2-modern', label: 'SDK v2 client pinned to 2026-07-28', era: 'modern' },
  { sdk: 'v2-legacy', label: 'SDK v2 client in legacy mode', era: 'legacy' },
];

/** The cases, run against one node and against the cluster's balancer. */
function oauthCases(target: () => { url: string; as: TestIssuer; owners?: Set<string> }): void {
  for (const { sdk, label, era } of SDKS) {
    it(`${label}, client credentials: 401, discovery, token for the resource, calls as its client; step-up`, async () => {
      const { url, as, owners } = target();
      const hops: Hop[] = [];
      const c = await open(sdk, { url, issuer: as.issuer, hops, provider: 'credentials' });
      try {
        expect(c.era()).toBe(era);
        // The first request is refused; the client finds the metadata from the challenge, then the
        // authorization server's, gets a token, and sends the request again with it.
        const seen = hopsOf(hops);
        expect(seen[0]).toMatch(/^POST node \/mcp 401$/);
        expect(seen.slice(1, 4)).toEqual([
          'GET node /.well-known/oauth-protected-resource/mcp 200',
          'GET as /.well-known/oauth-authorization-server 200',
          'POST as /token 200',
        ]);
        expect(seen[4]).toMatch(/^POST node \/mcp 200$/);
        expect(tokenRequests(hops)[0]).toMatchObject({ grant_type: 'client_credentials', resource: url, scope: REQUIRED });
        expect(await c.whoami()).toMatchObject({ subject: SDK_CLIENT.id, clientId: SDK_CLIENT.id, scopes: [REQUIRED] });
        if (era === 'legacy' && owners) expect(owners.has(ownerOf(c.sessionId() ?? ''))).toBe(true);

        const before = hops.length;
        if (sdk === 'v1') {
          // Its token request takes the provider's configured scope, not the challenge's.
          await expect(c.adminEcho('up')).rejects.toThrow(/403 after trying upscoping/);
          const again = hops.slice(before);
          expect(callsAndTokens(again)).toEqual(['POST node /mcp 403', 'POST as /token 200', 'POST node /mcp 403']);
          expect(tokenRequests(again)[0]).toMatchObject({ scope: REQUIRED });
        } else {
          expect(await c.adminEcho('up')).toBe('up');
          const again = hops.slice(before);
          expect(callsAndTokens(again)).toEqual(['POST node /mcp 403', 'POST as /token 200', 'POST node /mcp 200']);
          expect(tokenRequests(again)[0].scope.split(' ').sort()).toEqual(['mcp:admin', 'mcp:read']);
          expect((await c.whoami()).scopes.sort()).toEqual(['mcp:admin', 'mcp:read']);
        }
      } finally {
        await c.close();
      }
    });

    it(`${label}, authorization code + PKCE: 401, the user signs in, calls as the user; step-up re-authorizes on the same connection`, async () => {
      const { url, as, owners } = target();
      const hops: Hop[] = [];
      const app = new AppProvider();
      // No token yet: the client stops at the authorization URL.
      const first = await open(sdk, { url, issuer: as.issuer, hops, provider: app }).then(
        () => null,
        (err: unknown) => err,
      );
      expect(String(first)).toMatch(/Unauthorized/);
      expect(hopsOf(hops).slice(0, 3)).toEqual([
        'POST node /mcp 401',
        'GET node /.well-known/oauth-protected-resource/mcp 200',
        'GET as /.well-known/oauth-authorization-server 200',
      ]);
      const asked = app.authorizationUrl!;
      expect(asked.origin).toBe(as.issuer);
      expect(Object.fromEntries(asked.searchParams)).toMatchObject({
        response_type: 'code',
        client_id: APP_CLIENT,
        code_challenge_method: 'S256',
        resource: url,
        scope: REQUIRED,
      });
      await connOf(first).finishAuth(await as.authorize(asked, 'alice'));
      expect(tokenRequests(hops).at(-1)).toMatchObject({ grant_type: 'authorization_code', resource: url });

      const c = await open(sdk, { url, issuer: as.issuer, hops, provider: app });
      try {
        expect(c.era()).toBe(era);
        expect(await c.whoami()).toMatchObject({ subject: 'alice', clientId: APP_CLIENT, scopes: [REQUIRED] });
        const sid = c.sessionId();
        if (era === 'legacy') expect(sid).toBeTruthy();
        if (era === 'legacy' && owners) expect(owners.has(ownerOf(sid ?? ''))).toBe(true);

        // Step-up: 403 insufficient_scope; the client starts an authorization for the wider scope.
        app.authorizationUrl = null;
        const before = hops.length;
        await expect(c.adminEcho('up')).rejects.toThrow(/Unauthorized/);
        expect(callsAndTokens(hops.slice(before))[0]).toBe('POST node /mcp 403');
        const wider = app.authorizationUrl!;
        expect(wider.searchParams.get('scope')!.split(' ').sort()).toEqual(['mcp:admin', 'mcp:read']);
        expect(wider.searchParams.get('resource')).toBe(url);
        await c.finishAuth(await as.authorize(wider, 'alice'));
        expect(await c.adminEcho('up')).toBe('up');
        expect(await c.whoami()).toMatchObject({ subject: 'alice', clientId: APP_CLIENT });
        expect((await c.whoami()).scopes.sort()).toEqual(['mcp:admin', 'mcp:read']);
        // A 2025 session outlives the new token: it belongs to the same user and client.
        expect(c.sessionId()).toBe(sid);
      } finally {
        await c.close();
      }
    });
  }
}

describe('SDK clients with OAuth against one node', () => {
  let as: TestIssuer;
  let srv: TestServer;
  beforeAll(async () => {
    as = await startIssuer();
    srv = await startServer({ args: ['--tools', TOOLS], env: { MCP_AUTH_ISSUER: as.issuer, MCP_AUTH_SCOPES: REQUIRED } });
  });
  afterAll(async () => {
    await srv?.stop();
    await as?.stop();
  });
  oauthCases(() => ({ url: srv.url, as }));
});

describe('SDK clients with OAuth through the HAProxy cluster, no cookie jar', () => {
  let as: TestIssuer;
  let cluster: Cluster;
  beforeAll(async () => {
    as = await startIssuer();
    cluster = await startTestCluster({ MCP_TOOLS: TOOLS }, 3, true, { issuer: as.issuer, scopes: REQUIRED });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
    await as?.stop();
  });
  oauthCases(() => ({ url: cluster.lbUrl, as, owners: new Set(cluster.nodes.map((n) => n.name)) }));
});
