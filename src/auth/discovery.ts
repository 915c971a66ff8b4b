/**
 * Authorization server metadata discovery: RFC 8414 (`/.well-known/oauth-authorization-server`) and
 * OpenID Connect Discovery (`/.well-known/openid-configuration`), tried in that order. For an issuer
 * with a path, RFC 8414 section 3.1 inserts the well-known segment between host and path; OpenID
 * Connect appends it to the issuer, and both placements are tried for it.
 */
import { ErrorCodes, McpRuntimeError } from '../errors.js';
import { fetchCapped } from './fetch.js';

export interface AuthServerMetadata {
  issuer: string;
  jwksUri: string | null;
  introspectionEndpoint: string | null;
}

/** Longest wait for one metadata document, ms. */
export const DISCOVERY_TIMEOUT_MS = 5000;
/** Largest metadata document read, bytes. */
export const MAX_METADATA_BYTES = 256 * 1024;

/** The metadata URLs of `issuer`, in the order they are tried. */
export function metadataUrls(issuer: string): string[] {
  const u = new URL(issuer);
  const path = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '');
  const origin = u.origin;
  if (path === '') return [`${origin}/.well-known/oauth-authorization-server`, `${origin}/.well-known/openid-configuration`];
  return [
    `${origin}/.well-known/oauth-authorization-server${path}`,
    `${origin}/.well-known/openid-configuration${path}`,
    `${origin}${path}/.well-known/openid-configuration`,
  ];
}

function httpUrlOrNull(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  try {
    const u = new URL(v);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}

/**
 * Reads `issuer`'s metadata. "The issuer value returned MUST be identical to the authorization
 * server's issuer identifier value into which the well-known URI string was inserted" (RFC 8414
 * section 3.3): a document naming another issuer is refused, since it would let that issuer's tokens in.
 */
export async function discover(issuer: string, timeoutMs = DISCOVERY_TIMEOUT_MS): Promise<AuthServerMetadata> {
  const tried: string[] = [];
  for (const url of metadataUrls(issuer)) {
    let doc: Record<string, unknown>;
    try {
      const res = await fetchCapped(url, { headers: { accept: 'application/json' } }, timeoutMs, MAX_METADATA_BYTES);
      if (res.status !== 200) {
        tried.push(`${url}: HTTP ${res.status}`);
        continue;
      }
      doc = JSON.parse(res.text) as Record<string, unknown>;
    } catch (err) {
      tried.push(`${url}: ${(err as Error).message}`);
      continue;
    }
    if (typeof doc !== 'object' || doc === null) {
      tried.push(`${url}: not a JSON object`);
      continue;
    }
    if (doc.issuer !== issuer)
      throw new McpRuntimeError(
        ErrorCodes.MCP_ERR_AUTH_DISCOVERY,
        `authorization server metadata at ${url} names issuer ${JSON.stringify(doc.issuer)}, not the configured ${issuer}`,
      );
    return { issuer, jwksUri: httpUrlOrNull(doc.jwks_uri), introspectionEndpoint: httpUrlOrNull(doc.introspection_endpoint) };
  }
  throw new McpRuntimeError(
    ErrorCodes.MCP_ERR_AUTH_DISCOVERY,
    `no authorization server metadata for issuer ${issuer} (tried ${tried.join('; ')})`,
  );
}
