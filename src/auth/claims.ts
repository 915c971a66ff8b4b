/** Turning verified claims (a JWT payload or an introspection response) into a Principal. */
import { failure, type AuthFailure } from './failures.js';
import { principalKey, type Principal } from './principal.js';

/** Scopes from `scope` (RFC 9068, RFC 7662: space-separated) or `scp` (an array or string, as some providers send). */
export function scopesOf(claims: Record<string, unknown>): string[] {
  const raw = claims.scope ?? claims.scp;
  if (typeof raw === 'string') return raw.split(' ').filter(Boolean);
  if (Array.isArray(raw)) return raw.filter((s): s is string => typeof s === 'string');
  return [];
}

/**
 * The principal named by `claims`, issued by `issuer`. The client is `client_id` (RFC 9068, RFC 7662),
 * else `azp`; the subject is `sub`, else the client (a client-credentials token names no user).
 */
export function principalOf(token: string, issuer: string, claims: Record<string, unknown>): Principal | AuthFailure {
  const clientId = typeof claims.client_id === 'string' ? claims.client_id : typeof claims.azp === 'string' ? claims.azp : '';
  const subject = typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : clientId;
  if (subject === '') return failure('malformed', 'the token names neither a subject nor a client');
  const exp = claims.exp;
  return Object.freeze({
    issuer,
    subject,
    clientId,
    scopes: Object.freeze(scopesOf(claims)),
    expiresAt: typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined,
    token,
    claims: Object.freeze({ ...claims }),
    key: principalKey(issuer, subject, clientId),
  });
}

/** True when `aud` (a string or an array of strings) names `audience`. */
export function audienceIncludes(aud: unknown, audience: string): boolean {
  return aud === audience || (Array.isArray(aud) && aud.includes(audience));
}
