/**
 * Who sent a request, once its access token was verified: the issuer, the subject and the client the
 * token was issued to, what it may do (scopes), and until when. `key` names the principal (issuer +
 * subject + client) in a short stable string: what per-principal limits and session binding key on.
 */
import { createHash } from 'node:crypto';

export interface Principal {
  /** The authorization server that issued the token (`iss`). */
  readonly issuer: string;
  /** The resource owner, or for a client-credentials token the client itself (`sub`). */
  readonly subject: string;
  /** The OAuth client the token was issued to (`client_id`, else `azp`); '' when the token names none. */
  readonly clientId: string;
  readonly scopes: readonly string[];
  /** The token's `exp`, seconds since the epoch; undefined when it has none (introspected tokens only). */
  readonly expiresAt: number | undefined;
  /** The access token itself (tools may pass it on, as the SDK's `authInfo.token`). */
  readonly token: string;
  /** The token's claims (a JWT's payload, or the introspection response), frozen. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** 22 base64url characters (132 bits of SHA-256) over issuer, subject and client: stable across tokens. */
  readonly key: string;
}

/** The principal key of (issuer, subject, client). JSON-encoded first, so no two triples share an input. */
export function principalKey(issuer: string, subject: string, clientId: string): string {
  return createHash('sha256')
    .update(JSON.stringify([issuer, subject, clientId]))
    .digest('base64url')
    .slice(0, 22);
}

/** True when `p` holds every scope of `needed`. */
export function hasScopes(p: Principal, needed: readonly string[]): boolean {
  for (let i = 0; i < needed.length; i++) if (!p.scopes.includes(needed[i])) return false;
  return true;
}

/**
 * The principal as it travels to a session worker: the SDK v1 `AuthInfo` shape (`token`, `clientId`,
 * `scopes`, `expiresAt`, `extra` = the claims with `sub` and `iss` set to the principal's), structured-clone safe (`resource` is a string here and
 * a URL in the handler's view).
 */
export interface WireAuthInfo {
  token: string;
  clientId: string;
  scopes: string[];
  expiresAt?: number;
  resource?: string;
  extra: Record<string, unknown>;
}

export function wireAuthInfo(p: Principal, resource: string): WireAuthInfo {
  // `sub` and `iss` always name the principal, also when the token's claims lack them (an introspected
  // client-credentials token has no `sub`: its subject is the client).
  const extra = { ...p.claims, sub: p.subject, iss: p.issuer };
  const out: WireAuthInfo = { token: p.token, clientId: p.clientId, scopes: [...p.scopes], resource, extra };
  if (p.expiresAt !== undefined) out.expiresAt = p.expiresAt;
  return out;
}
