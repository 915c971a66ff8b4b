/**
 * Builds a node's resource server from its options: the issuers' metadata is discovered before the
 * node listens (a bad issuer fails the start, naming it), and the resource identifier, which defaults
 * to the public /mcp URL, once the port is known.
 */
import type { NodeOptions } from '../config.js';
import { ErrorCodes, McpRuntimeError } from '../errors.js';
import { discover, type AuthServerMetadata } from './discovery.js';
import { Introspector } from './introspection.js';
import { PRM_MCP_PATH, ResourceServer } from './resource-server.js';
import { LEEWAY_S, TokenVerifier, type IssuerKeys } from './verifier.js';

type AuthConfig = Pick<
  NodeOptions,
  | 'host'
  | 'publicUrl'
  | 'authIssuers'
  | 'authAudience'
  | 'authJwksUrls'
  | 'authScopes'
  | 'authIntrospectionUrl'
  | 'authClientId'
  | 'authClientSecret'
  | 'authIntrospectionCacheMs'
>;

export interface DiscoveredIssuers {
  issuers: IssuerKeys[];
  /** The introspection endpoint to use; null: opaque tokens are refused. */
  introspectionUrl: string | null;
}

/** The issuers' keys and the introspection endpoint; discovery is skipped for issuers given a JWKS URL. */
export async function discoverIssuers(config: Readonly<AuthConfig>): Promise<DiscoveredIssuers> {
  const metas = await Promise.all(
    config.authIssuers.map((issuer, i) =>
      config.authJwksUrls.length > 0
        ? Promise.resolve<AuthServerMetadata>({ issuer, jwksUri: config.authJwksUrls[i], introspectionEndpoint: null })
        : discover(issuer),
    ),
  );
  let introspectionUrl: string | null = config.authIntrospectionUrl || null;
  if (introspectionUrl === null && config.authClientId !== '') {
    introspectionUrl = metas.find((m) => m.introspectionEndpoint !== null)?.introspectionEndpoint ?? null;
    if (introspectionUrl === null)
      throw new McpRuntimeError(
        ErrorCodes.MCP_ERR_AUTH_DISCOVERY,
        'MCP_AUTH_CLIENT_ID is set but no issuer advertises an introspection_endpoint: set MCP_AUTH_INTROSPECTION_URL',
      );
  }
  for (const m of metas)
    if (m.jwksUri === null && introspectionUrl === null)
      throw new McpRuntimeError(
        ErrorCodes.MCP_ERR_AUTH_DISCOVERY,
        `issuer ${m.issuer} publishes no jwks_uri and no introspection is configured: set MCP_AUTH_JWKS_URL or MCP_AUTH_INTROSPECTION_URL`,
      );
  return { issuers: metas.map((m) => ({ issuer: m.issuer, jwksUri: m.jwksUri })), introspectionUrl };
}

/** The base URL clients reach this node at, without a trailing slash. */
export function publicBase(config: Readonly<Pick<NodeOptions, 'host' | 'publicUrl'>>, port: number): string {
  if (config.publicUrl !== '') return config.publicUrl.replace(/\/+$/, '');
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return `http://${host}:${port}`;
}

export function createResourceServer(config: Readonly<AuthConfig>, found: DiscoveredIssuers, port: number): ResourceServer {
  const base = publicBase(config, port);
  const resource = config.authAudience || `${base}/mcp`;
  const issuers = config.authIssuers;
  const introspector =
    found.introspectionUrl === null
      ? null
      : new Introspector({
          url: found.introspectionUrl,
          clientId: config.authClientId,
          clientSecret: config.authClientSecret,
          audience: resource,
          issuers,
          leewaySec: LEEWAY_S,
        });
  const verifier = new TokenVerifier({
    issuers: found.issuers,
    audience: resource,
    introspector,
    introspectionCacheMs: config.authIntrospectionCacheMs,
  });
  return new ResourceServer(
    { resource, metadataUrl: `${base}${PRM_MCP_PATH}`, authorizationServers: issuers, requiredScopes: config.authScopes },
    verifier,
  );
}
