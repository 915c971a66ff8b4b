/**
 * What this node says as an OAuth 2.1 resource server, built once at start: the protected resource
 * metadata (RFC 9728), the `WWW-Authenticate` challenges (RFC 6750 section 3, RFC 9728 section 5.1)
 * and the JSON-RPC error bodies of 401, 403 and 503. Only the challenge of a tool's own scopes varies
 * with the request, and it is built once per scope set (bounded).
 */
import { RpcCodes } from '../errors.js';
import { errorBody } from '../protocol/jsonrpc.js';
import { AUTH_FAILURES, type AuthFailure, type AuthFailureReason } from './failures.js';
import type { TokenVerifier } from './verifier.js';
import { wireAuthInfo, type Principal, type WireAuthInfo } from './principal.js';

/** Where the metadata is served: at the root, and with the resource's path (`/mcp`) appended (RFC 9728 section 3.1). */
export const PRM_PATH = '/.well-known/oauth-protected-resource';
export const PRM_MCP_PATH = `${PRM_PATH}/mcp`;

/** An unreachable authorization server is logged at most once per this interval, ms (every refusal is counted). */
const WARN_INTERVAL_MS = 10_000;

/** Distinct tool scope sets whose 403 challenge is kept. */
const MAX_SCOPE_CHALLENGES = 256;

/** error_description per reason: fixed text, so no client input reaches a header. */
const DESCRIPTIONS: Readonly<Record<AuthFailureReason, string>> = {
  missing: 'No access token',
  malformed: 'The access token is malformed',
  expired: 'The access token expired',
  not_yet_valid: 'The access token is not valid yet',
  bad_signature: 'The access token signature is invalid',
  wrong_issuer: 'The access token was issued by an untrusted issuer',
  wrong_audience: 'The access token was issued for another resource',
  unknown_key: 'The access token was signed with an unknown key',
  key_fetch_error: 'The access token could not be checked now',
  introspection_inactive: 'The access token is not active',
  introspection_error: 'The access token could not be checked now',
  insufficient_scope: 'The access token lacks a required scope',
};

/** How a refusal is answered. */
export interface Refusal {
  status: 401 | 403 | 503;
  /** The WWW-Authenticate value; '' for 503 (the token is not at fault). */
  challenge: string;
  body: string;
}

export interface ResourceServerOptions {
  /** The resource identifier (the audience tokens must name). */
  resource: string;
  /** The absolute URL of the metadata document for `resource`. */
  metadataUrl: string;
  authorizationServers: readonly string[];
  /** Scopes every request needs. */
  requiredScopes: readonly string[];
}

function quoted(s: string): string {
  return `"${s.replace(/["\\]/g, '')}"`;
}

export class ResourceServer {
  readonly resource: string;
  readonly metadataUrl: string;
  readonly requiredScopes: readonly string[];
  /** Refusals by AUTH_FAILURES index. */
  private readonly refusals: Refusal[];
  private readonly toolRefusals = new Map<string, Refusal>();
  private metadataFor: ReadonlyMap<string, readonly string[]> | null = null;
  /** When an unreachable authorization server was last logged (Date.now()), so an outage logs a line per interval, not per request. */
  private lastWarnAt = -Infinity;
  /** Each principal's form for the workers, made once per token (a principal is one token's). */
  private readonly wires = new WeakMap<Principal, WireAuthInfo>();
  private metadataJson = '';

  constructor(
    private readonly opts: ResourceServerOptions,
    readonly verifier: TokenVerifier,
  ) {
    this.resource = opts.resource;
    this.metadataUrl = opts.metadataUrl;
    this.requiredScopes = opts.requiredScopes;
    const scope = opts.requiredScopes.length > 0 ? `, scope=${quoted(opts.requiredScopes.join(' '))}` : '';
    const meta = `resource_metadata=${quoted(opts.metadataUrl)}`;
    this.refusals = AUTH_FAILURES.map((reason): Refusal => {
      const description = DESCRIPTIONS[reason];
      if (reason === 'key_fetch_error' || reason === 'introspection_error')
        return {
          status: 503,
          challenge: '',
          body: errorBody(null, RpcCodes.AUTHORIZATION, `Service Unavailable: ${description}, retry later`),
        };
      if (reason === 'insufficient_scope') return this.scopeRefusal(opts.requiredScopes);
      // "If the request lacks any authentication information ..., the resource server SHOULD NOT
      // include an error code or other error information" (RFC 6750 section 3.1).
      const challenge =
        reason === 'missing'
          ? `Bearer ${meta}${scope}`
          : `Bearer error="invalid_token", error_description=${quoted(description)}, ${meta}${scope}`;
      return { status: 401, challenge, body: errorBody(null, RpcCodes.AUTHORIZATION, `Unauthorized: ${description}`) };
    });
  }

  /** `p` as a worker receives it (the SDK's AuthInfo shape). */
  wire(p: Principal): WireAuthInfo {
    let w = this.wires.get(p);
    if (w === undefined) {
      w = wireAuthInfo(p, this.resource);
      this.wires.set(p, w);
    }
    return w;
  }

  /** True at most once per WARN_INTERVAL_MS: whether to log this 503. */
  warnDue(now: number): boolean {
    if (now - this.lastWarnAt < WARN_INTERVAL_MS) return false;
    this.lastWarnAt = now;
    return true;
  }

  refusal(f: AuthFailure): Refusal {
    return this.refusals[AUTH_FAILURES.indexOf(f.reason)];
  }

  /** The 403 for a request that needs `scopes` (besides the required ones) its token lacks. */
  toolRefusal(scopes: readonly string[]): Refusal {
    const key = scopes.join(' ');
    let r = this.toolRefusals.get(key);
    if (r === undefined) {
      r = this.scopeRefusal([...new Set([...this.requiredScopes, ...scopes])]);
      if (this.toolRefusals.size < MAX_SCOPE_CHALLENGES) this.toolRefusals.set(key, r);
    }
    return r;
  }

  private scopeRefusal(scopes: readonly string[]): Refusal {
    const needed = scopes.join(' ');
    return {
      status: 403,
      challenge: `Bearer error="insufficient_scope", scope=${quoted(needed)}, error_description=${quoted(DESCRIPTIONS.insufficient_scope)}, resource_metadata=${quoted(this.opts.metadataUrl)}`,
      body: errorBody(null, RpcCodes.AUTHORIZATION, `Forbidden: the access token lacks a required scope (needs: ${needed})`, {
        requiredScopes: scopes,
      }),
    };
  }

  /**
   * The RFC 9728 document. `scopes_supported` lists the required scopes and every scope a tool
   * declares (known once a worker has loaded the tools module).
   */
  metadata(toolScopes: ReadonlyMap<string, readonly string[]>): string {
    if (this.metadataFor !== toolScopes) {
      const scopes = new Set(this.requiredScopes);
      for (const s of toolScopes.values()) for (const x of s) scopes.add(x);
      this.metadataJson = JSON.stringify({
        resource: this.resource,
        authorization_servers: this.opts.authorizationServers,
        scopes_supported: [...scopes],
        bearer_methods_supported: ['header'],
      });
      this.metadataFor = toolScopes;
    }
    return this.metadataJson;
  }
}
