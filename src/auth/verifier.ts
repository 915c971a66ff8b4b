/**
 * Access token verification for this resource server. A JWT is checked against its issuer's JWKS
 * (fetched on first use and cached; refetched on an unknown `kid`, at most once per JWKS_COOLDOWN_MS
 * per issuer), its `iss` must be a configured issuer, its `aud` must name this resource (RFC 8707: a
 * token minted for another resource is refused), and `exp` / `nbf` hold with LEEWAY_S of clock skew.
 * Anything else that is a well-formed bearer token goes to introspection when configured (RFC 7662).
 *
 * A verified token is cached until it expires, so the request path costs one map lookup
 * (`verify` answers synchronously from the cache) and no signature check. Everything is bounded:
 * the token's length, the cache, the verifications in flight, the JWKS and metadata fetches.
 */
import {
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  decodeProtectedHeader,
  jwtVerify,
  type FetchImplementation,
  type JWTVerifyGetKey,
} from 'jose';
import { principalOf } from './claims.js';
import { failure, isFailure, type AuthFailure } from './failures.js';
import { fetchCapped } from './fetch.js';
import type { Introspector } from './introspection.js';
import type { Principal } from './principal.js';
import { TokenCache } from './token-cache.js';

/** Clock skew allowed on `exp` and `nbf`, seconds. */
export const LEEWAY_S = 30;
/** Longest token accepted, characters: beyond it the header is refused before any parsing. */
export const MAX_TOKEN_LENGTH = 8192;
/** Verified tokens kept. */
export const TOKEN_CACHE_MAX = 10_000;
/** Verifications (JWT or introspection) of distinct tokens shared while in flight at most; beyond, each verifies alone. */
export const MAX_PENDING = 1024;
export const JWKS_TIMEOUT_MS = 5000;
/** After a JWKS fetch, an unknown `kid` refetches no sooner than this, ms. */
export const JWKS_COOLDOWN_MS = 30_000;
/** A JWKS is refetched when older than this even if every `kid` is known (key rotation), ms. */
export const JWKS_MAX_AGE_MS = 10 * 60_000;
export const MAX_JWKS_BYTES = 256 * 1024;
/** Asymmetric algorithms only: `none` and HMAC (a shared secret) have no place in a resource server. */
export const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

/** RFC 6750 section 2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const BEARER = /^bearer +/i;
const BEARER_PREFIX = 'Bearer ';

export interface IssuerKeys {
  issuer: string;
  /** The issuer's JWKS URL; null when the issuer's tokens can only be introspected. */
  jwksUri: string | null;
}

export interface VerifierOptions {
  issuers: readonly IssuerKeys[];
  /** This resource's identifier: what `aud` must name. */
  audience: string;
  introspector: Introspector | null;
  /** Upper bound on how long an introspected token is trusted before it is asked about again, ms. */
  introspectionCacheMs: number;
  now?: () => number;
}

export type AuthOutcome = Principal | AuthFailure;

/** The bearer token of an Authorization header value, or the failure it is. */
export function bearerToken(header: string): string | AuthFailure {
  if (header === '') return failure('missing', 'no access token');
  const m = BEARER.exec(header);
  if (m === null) return failure('missing', 'the Authorization header is not a Bearer token');
  const token = header.slice(m[0].length).trimEnd();
  if (token.length > MAX_TOKEN_LENGTH) return failure('malformed', `the access token is longer than ${MAX_TOKEN_LENGTH} characters`);
  if (!B64TOKEN.test(token)) return failure('malformed', 'the access token is not a well-formed bearer token');
  return token;
}

/** A fetch for jose's remote JWKS: timed by jose, capped in size here. */
const cappedFetch: FetchImplementation = async (url, options) => {
  const res = await fetchCapped(url, { method: 'GET', headers: options.headers }, JWKS_TIMEOUT_MS, MAX_JWKS_BYTES);
  return new Response(res.text, { status: res.status, headers: { 'content-type': res.contentType } });
};

/** jose's error for a refused JWT, as a failure reason. */
function joseFailure(err: unknown): AuthFailure {
  const e = err as { code?: string; claim?: string; message?: string };
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      return failure('expired', 'the token has expired');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'nbf' || e.claim === 'iat') return failure('not_yet_valid', 'the token is not valid yet');
      if (e.claim === 'aud') return failure('wrong_audience', 'the token was not issued for this resource');
      if (e.claim === 'iss') return failure('wrong_issuer', 'the token was issued by an issuer this node does not trust');
      return failure('malformed', `the token's ${String(e.claim)} claim is invalid`);
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return failure('bad_signature', 'the token signature does not verify');
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return failure('unknown_key', "no key of the issuer's JWKS matches the token");
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return failure('malformed', 'the token is not a valid JWT for this resource');
    default:
      return failure('key_fetch_error', `the issuer's keys could not be fetched: ${String(e.message)}`);
  }
}

export class TokenVerifier {
  private readonly cache = new TokenCache(TOKEN_CACHE_MAX);
  private readonly pending = new Map<string, Promise<AuthOutcome>>();
  private readonly keys = new Map<string, JWTVerifyGetKey | null>();
  private readonly now: () => number;

  constructor(private readonly opts: VerifierOptions) {
    this.now = opts.now ?? Date.now;
    for (const { issuer, jwksUri } of opts.issuers) {
      this.keys.set(
        issuer,
        jwksUri === null
          ? null
          : createRemoteJWKSet(new URL(jwksUri), {
              timeoutDuration: JWKS_TIMEOUT_MS,
              cooldownDuration: JWKS_COOLDOWN_MS,
              cacheMaxAge: JWKS_MAX_AGE_MS,
              [customFetch]: cappedFetch,
            }),
      );
    }
  }

  /** Tokens cached now (tests, metrics). */
  get cached(): number {
    return this.cache.size;
  }

  /**
   * The principal of an Authorization header value, or why it is refused. Synchronous when the token
   * was verified before (the hot path) or is refused on its form; a promise otherwise.
   */
  verify(header: string): AuthOutcome | Promise<AuthOutcome> {
    // The hot path: the usual spelling of a token seen before costs a prefix check and a map lookup
    // (only tokens that passed every check below are in the cache).
    if (header.startsWith(BEARER_PREFIX)) {
      const hit = this.cache.get(header.slice(BEARER_PREFIX.length), this.now());
      if (hit !== undefined) return hit;
    }
    const token = bearerToken(header);
    if (typeof token !== 'string') return token;
    const hit = this.cache.get(token, this.now());
    if (hit !== undefined) return hit;
    const shared = this.pending.get(token);
    if (shared !== undefined) return shared;
    if (this.opts.introspector === null && !isJwtShaped(token))
      return failure('malformed', 'the token is not a JWT and this node has no introspection endpoint');
    const p = this.verifyUncached(token);
    if (this.pending.size < MAX_PENDING) {
      this.pending.set(token, p);
      const done = (): void => void this.pending.delete(token);
      p.then(done, done);
    }
    return p;
  }

  /**
   * Until when (Date.now() ms) this node trusts `p`'s token without checking it again: its cache
   * entry's bound (a JWT's `exp`; an introspected token's `exp` or the introspection cache bound,
   * whichever comes first), or the same computed afresh when the entry is gone.
   */
  trustedUntil(p: Principal): number {
    const now = this.now();
    const cached = this.cache.until(p.token, now);
    if (cached !== undefined) return cached;
    const exp = p.expiresAt === undefined ? Infinity : p.expiresAt * 1000;
    return isJwtShaped(p.token) && this.keys.get(p.issuer) ? exp : Math.min(exp, now + this.opts.introspectionCacheMs);
  }

  private async verifyUncached(token: string): Promise<AuthOutcome> {
    const jwt = isJwtShaped(token);
    const outcome = jwt ? await this.verifyJwt(token) : await this.introspect(token);
    if (!isFailure(outcome)) {
      const now = this.now();
      const exp = outcome.expiresAt === undefined ? Infinity : outcome.expiresAt * 1000;
      const until = jwt ? exp : Math.min(exp, now + this.opts.introspectionCacheMs);
      this.cache.set(token, outcome, until, now);
    }
    return outcome;
  }

  private async verifyJwt(token: string): Promise<AuthOutcome> {
    let iss: unknown;
    try {
      // Refused before any key is looked up: `none`, HMAC and unknown algorithms.
      if (!ALGORITHMS.includes(String(decodeProtectedHeader(token).alg))) return failure('malformed', 'the token algorithm is not allowed');
      iss = decodeJwt(token).iss;
    } catch {
      return failure('malformed', 'the token is not a valid JWT');
    }
    if (typeof iss !== 'string') return failure('malformed', 'the token names no issuer');
    if (!this.keys.has(iss)) return failure('wrong_issuer', 'the token was issued by an issuer this node does not trust');
    const keys = this.keys.get(iss) ?? null;
    if (keys === null) return this.introspect(token);
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: iss,
        audience: this.opts.audience,
        clockTolerance: LEEWAY_S,
        algorithms: ALGORITHMS,
        requiredClaims: ['exp'],
        currentDate: new Date(this.now()),
      });
      return principalOf(token, iss, payload);
    } catch (err) {
      return joseFailure(err);
    }
  }

  private introspect(token: string): Promise<AuthOutcome> | AuthFailure {
    const intro = this.opts.introspector;
    if (intro === null) return failure('malformed', 'the token is not a JWT and this node has no introspection endpoint');
    return intro.introspect(token);
  }
}

/** Three segments, header and payload non-empty: a JWS compact serialization (an empty signature is `alg: none`, refused later). */
function isJwtShaped(token: string): boolean {
  const a = token.indexOf('.');
  if (a <= 0) return false;
  const b = token.indexOf('.', a + 1);
  return b > a + 1 && token.indexOf('.', b + 1) < 0;
}
