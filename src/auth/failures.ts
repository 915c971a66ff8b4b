/**
 * Why a request's token was refused: the closed label list of mcp_auth_failures_total, and the
 * outcome type every verification step returns (never throws).
 */

export const AUTH_FAILURES = [
  /** No Authorization header, or not the Bearer scheme. */
  'missing',
  /** Not a well-formed bearer token or JWT, too long, an algorithm not allowed, no subject, or opaque with no introspection. */
  'malformed',
  'expired',
  'not_yet_valid',
  /** The JWT's signature does not verify with the issuer's key of that `kid`. */
  'bad_signature',
  /** `iss` is not a configured issuer. */
  'wrong_issuer',
  /** `aud` does not name this resource (a token minted for another resource). */
  'wrong_audience',
  /** No key of the issuer's JWKS matches the token's header, even after a refetch. */
  'unknown_key',
  /** The issuer's JWKS could not be fetched (answered 503: the client is not at fault). */
  'key_fetch_error',
  /** The introspection endpoint says the token is not active (revoked, expired, unknown). */
  'introspection_inactive',
  /** The introspection endpoint failed, timed out, or too many introspections were in flight (503). */
  'introspection_error',
  /** The token lacks a scope every request needs, or a scope the called tool declares (403). */
  'insufficient_scope',
] as const;
export type AuthFailureReason = (typeof AUTH_FAILURES)[number];

export interface AuthFailure {
  readonly reason: AuthFailureReason;
  /** For the log and the JSON-RPC error message; never echoes the token. */
  readonly message: string;
}

export function failure(reason: AuthFailureReason, message: string): AuthFailure {
  return Object.freeze({ reason, message });
}

export function isFailure(r: object): r is AuthFailure {
  return 'reason' in r;
}
