/**
 * The verified caller of a forwarded request, as the node it reached passes it to the session's
 * owner. The header's value is covered by the forward HMAC (forward-auth.ts) together with the
 * request's Authorization header, so the owner trusts it only on a request a peer signed; on any
 * other request (a client's) it is ignored, and the token is checked as usual.
 *
 *   x-mcp-principal: base64url(JSON [issuer, subject, clientId, scopes, expiresAt | null, claims | null])
 *
 * The token itself travels in the Authorization header (once, not twice). A JWT's claims are read
 * back from it, so the header stays small; other tokens' claims (an introspection response) travel
 * when they fit in MAX_CLAIMS_CHARS, else the owner's view has only `sub` and `iss`.
 */
import { decodeJwt } from 'jose';
import { principalKey, type Principal } from '../auth/principal.js';

export const PRINCIPAL_HEADER = 'x-mcp-principal';
/** Longest header value decoded: more is not a peer's. */
const MAX_HEADER_CHARS = 8192;
/** Largest claims object carried for a token that is not a JWT, as JSON characters. */
const MAX_CLAIMS_CHARS = 2048;

function isJwtShaped(token: string): boolean {
  const a = token.indexOf('.');
  const b = a > 0 ? token.indexOf('.', a + 1) : -1;
  return b > a + 1 && token.indexOf('.', b + 1) < 0;
}

/** The header value carrying `p`. */
export function encodePrincipal(p: Principal): string {
  let claims: Readonly<Record<string, unknown>> | null = null;
  if (!isJwtShaped(p.token)) {
    const json = JSON.stringify(p.claims);
    if (json.length <= MAX_CLAIMS_CHARS) claims = p.claims;
  }
  return Buffer.from(JSON.stringify([p.issuer, p.subject, p.clientId, p.scopes, p.expiresAt ?? null, claims]), 'utf8').toString(
    'base64url',
  );
}

const str = (v: unknown): v is string => typeof v === 'string';

/**
 * The principal a peer carried (call only once the forward HMAC over `value` and `token` verified),
 * or null when the value is not one.
 */
export function decodePrincipal(value: string, token: string): Principal | null {
  if (value === '' || value.length > MAX_HEADER_CHARS) return null;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(v) || v.length !== 6) return null;
  const [issuer, subject, clientId, scopes, exp, carried] = v as unknown[];
  if (!str(issuer) || !str(subject) || !str(clientId) || !Array.isArray(scopes) || !scopes.every(str)) return null;
  if (exp !== null && (typeof exp !== 'number' || !Number.isFinite(exp))) return null;
  let claims: Record<string, unknown> = {};
  if (carried !== null && typeof carried === 'object' && !Array.isArray(carried)) claims = carried as Record<string, unknown>;
  else if (isJwtShaped(token)) {
    try {
      claims = decodeJwt(token);
    } catch {
      return null;
    }
  }
  return Object.freeze({
    issuer,
    subject,
    clientId,
    scopes: Object.freeze(scopes),
    expiresAt: exp ?? undefined,
    token,
    claims: Object.freeze({ ...claims }),
    key: principalKey(issuer, subject, clientId),
  });
}
