/**
 * RFC 7662 token introspection for opaque (non-JWT) access tokens: the node asks the authorization
 * server, authenticating with its client credentials (HTTP Basic, RFC 6749 section 2.3.1), and checks
 * what the answer says as it checks a JWT's claims (issuer, audience, time window). Bounded: a timeout
 * per call, a cap on the answer's size, and at most MAX_INTROSPECTIONS in flight (beyond it the request
 * gets 503 at once, so a flood of made-up tokens cannot queue work at the authorization server).
 */
import { audienceIncludes, principalOf } from './claims.js';
import { failure, type AuthFailure } from './failures.js';
import { fetchCapped } from './fetch.js';
import type { Principal } from './principal.js';

export const INTROSPECTION_TIMEOUT_MS = 5000;
export const MAX_INTROSPECTION_BYTES = 64 * 1024;
export const MAX_INTROSPECTIONS = 64;

export interface IntrospectionOptions {
  url: string;
  clientId: string;
  clientSecret: string;
  audience: string;
  /** Accepted `iss` values; an answer without `iss` is taken as the first one's. */
  issuers: readonly string[];
  leewaySec: number;
  now?: () => number;
}

function formEncode(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, '+');
}

export class Introspector {
  private inFlight = 0;
  private readonly basic: string;
  private readonly now: () => number;

  constructor(private readonly opts: IntrospectionOptions) {
    this.basic = `Basic ${Buffer.from(`${formEncode(opts.clientId)}:${formEncode(opts.clientSecret)}`).toString('base64')}`;
    this.now = opts.now ?? Date.now;
  }

  async introspect(token: string): Promise<Principal | AuthFailure> {
    if (this.inFlight >= MAX_INTROSPECTIONS) return failure('introspection_error', 'too many introspections in flight');
    this.inFlight++;
    let answer: Record<string, unknown>;
    try {
      const res = await fetchCapped(
        this.opts.url,
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', authorization: this.basic },
          body: `token=${formEncode(token)}&token_type_hint=access_token`,
        },
        INTROSPECTION_TIMEOUT_MS,
        MAX_INTROSPECTION_BYTES,
      );
      if (res.status !== 200) return failure('introspection_error', `introspection endpoint answered HTTP ${res.status}`);
      answer = JSON.parse(res.text) as Record<string, unknown>;
      if (typeof answer !== 'object' || answer === null) return failure('introspection_error', 'introspection answer is not an object');
    } catch (err) {
      return failure('introspection_error', `introspection failed: ${(err as Error).message}`);
    } finally {
      this.inFlight--;
    }
    return this.check(token, answer);
  }

  /** The checks on an introspection answer ("active" first: RFC 7662 section 2.2). */
  check(token: string, a: Record<string, unknown>): Principal | AuthFailure {
    if (a.active !== true) return failure('introspection_inactive', 'the token is not active');
    const issuers = this.opts.issuers;
    const iss = a.iss === undefined ? issuers[0] : a.iss;
    if (typeof iss !== 'string' || !issuers.includes(iss))
      return failure('wrong_issuer', 'the token was issued by an issuer this node does not trust');
    if (!audienceIncludes(a.aud, this.opts.audience)) return failure('wrong_audience', 'the token was not issued for this resource');
    const nowSec = this.now() / 1000;
    const lee = this.opts.leewaySec;
    if (typeof a.exp === 'number' && a.exp <= nowSec - lee) return failure('expired', 'the token has expired');
    if (typeof a.nbf === 'number' && a.nbf > nowSec + lee) return failure('not_yet_valid', 'the token is not valid yet');
    return principalOf(token, iss, a);
  }
}
