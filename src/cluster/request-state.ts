/**
 * Sealed `requestState` for 2026-07-28 multi-round-trip requests. The client echoes the state back on
 * a retry that may reach any node of the cluster, so it is authenticated with a key every node
 * derives from the cluster secret:
 *
 *   "s1." <expiry, unix ms, base36> "." <payload, base64url> "." <HMAC-SHA256, base64url>
 *   "s1." <expiry> "." <principal tag> "." <payload> "." <MAC>     (authorization on)
 *
 * The MAC covers the format version, the expiry, the request's method and name (tool, prompt or
 * resource uri), the principal tag when there is one, and the payload, so a state minted for one
 * request does not open on another, nor for another caller: the principal tag is 16 base64url
 * characters of an HMAC of the caller's principal key (a key of its own, so the tag says nothing
 * about the key to a client), and a state opens only for the principal it was minted for. A state
 * that fails the MAC is `invalid`; one whose MAC holds but whose tag is another principal's is
 * `wrong_principal` (the caller answers both alike, and counts the second). This answers the spec's
 * "servers MUST treat requestState as an attacker-controlled input ... MUST protect its integrity ...
 * and MUST reject state that fails verification". The payload is signed, not encrypted: the client
 * can read it. Within its lifetime a state can be replayed for the same method, name and principal; nothing here
 * makes it single-use.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const PREFIX = 's1.';
const MAC_BYTES = 32;
/** base64url of 32 bytes, unpadded. */
const MAC_CHARS = 43;
const EXPIRY = /^[0-9a-z]{1,11}$/;
const B64URL = /^[A-Za-z0-9_-]*$/;
/** Characters of a principal tag (96 bits). */
const TAG_CHARS = 16;

export const REQUEST_STATE_DEFAULTS = Object.freeze({
  /** How long a sealed state opens after it was minted. */
  ttlMs: 10 * 60_000,
  /** Largest payload (UTF-8 bytes) a handler may carry across a round. */
  maxPayloadBytes: 8 * 1024,
});

export type OpenFailure = 'malformed' | 'too_large' | 'invalid' | 'expired' | 'wrong_principal';
export type Opened = { ok: true; payload: string } | { ok: false; reason: OpenFailure };

export interface RequestStateSealer {
  /**
   * Seals `payload` for a request of `method` on `name` by the principal whose key is `principal`
   * ('' with authorization off); throws when the payload is over the cap.
   */
  seal(method: string, name: string, payload: string, nowMs: number, principal?: string): string;
  /** The payload of a state sealed by a node of this cluster for exactly this method, name and principal, still fresh. */
  open(state: string, method: string, name: string, nowMs: number, principal?: string): Opened;
  /** The largest token `seal` can produce: anything longer is refused before any work. */
  readonly maxStateChars: number;
}

export interface RequestStateOptions {
  ttlMs?: number;
  maxPayloadBytes?: number;
}

/**
 * `secret` is the cluster secret (every node must share it for a retry to open elsewhere) or, on a
 * single node without one, random bytes made once per process and handed to every worker.
 */
export function createRequestStateSealer(secret: string | Uint8Array, options: RequestStateOptions = {}): RequestStateSealer {
  const ttlMs = options.ttlMs ?? REQUEST_STATE_DEFAULTS.ttlMs;
  const maxPayloadBytes = options.maxPayloadBytes ?? REQUEST_STATE_DEFAULTS.maxPayloadBytes;
  if (!(ttlMs > 0) || !(maxPayloadBytes > 0)) throw new RangeError('request state ttlMs and maxPayloadBytes must be positive');
  // A key of its own, so a request-state MAC can never stand in for a session tag or a forward header.
  const key = createHmac('sha256', secret).update('mcp-request-state-v1').digest();
  const tagKey = createHmac('sha256', secret).update('mcp-request-state-principal-v1').digest();
  const maxStateChars = PREFIX.length + 11 + 1 + TAG_CHARS + 1 + Math.ceil((maxPayloadBytes * 4) / 3) + 1 + MAC_CHARS;
  // With no principal the signed text is the unbound format's. A tag is base64url, so it never holds a newline.
  const mac = (expiry: string, method: string, name: string, tag: string, payload: string): Buffer =>
    createHmac('sha256', key)
      .update(`${PREFIX}\n${expiry}\n${method}\n${name}\n${tag === '' ? '' : `${tag}\n`}`)
      .update(payload)
      .digest();
  const tagOf = (principal: string): string =>
    principal === '' ? '' : createHmac('sha256', tagKey).update(principal).digest('base64url').slice(0, TAG_CHARS);

  return {
    maxStateChars,
    seal(method, name, payload, nowMs, principal = '') {
      const bytes = Buffer.from(payload, 'utf8');
      if (bytes.length > maxPayloadBytes) throw new RangeError(`requestState payload is ${bytes.length} bytes, over ${maxPayloadBytes}`);
      const expiry = Math.floor(nowMs + ttlMs).toString(36);
      const body = bytes.toString('base64url');
      const ptag = tagOf(principal);
      const sealed = mac(expiry, method, name, ptag, body).toString('base64url');
      return ptag === '' ? `${PREFIX}${expiry}.${body}.${sealed}` : `${PREFIX}${expiry}.${ptag}.${body}.${sealed}`;
    },
    open(state, method, name, nowMs, principal = '') {
      if (state.length > maxStateChars) return { ok: false, reason: 'too_large' };
      if (!state.startsWith(PREFIX)) return { ok: false, reason: 'malformed' };
      const a = state.indexOf('.', PREFIX.length);
      const b = state.indexOf('.', a + 1);
      if (a < 0 || b < 0) return { ok: false, reason: 'malformed' };
      // A fourth part makes the second one a principal tag.
      const c = state.indexOf('.', b + 1);
      if (c >= 0 && state.indexOf('.', c + 1) >= 0) return { ok: false, reason: 'malformed' };
      const expiry = state.slice(PREFIX.length, a);
      const ptag = c < 0 ? '' : state.slice(a + 1, b);
      const body = c < 0 ? state.slice(a + 1, b) : state.slice(b + 1, c);
      const tag = state.slice((c < 0 ? b : c) + 1);
      if (!EXPIRY.test(expiry) || !B64URL.test(body) || tag.length !== MAC_CHARS || !B64URL.test(tag))
        return { ok: false, reason: 'malformed' };
      if (c >= 0 && (ptag.length !== TAG_CHARS || !B64URL.test(ptag))) return { ok: false, reason: 'malformed' };
      const given = Buffer.from(tag, 'base64url');
      // The last character carries 2 unused bits: only the canonical spelling is one token.
      if (given.length !== MAC_BYTES || given.toString('base64url') !== tag) return { ok: false, reason: 'malformed' };
      if (!timingSafeEqual(given, mac(expiry, method, name, ptag, body))) return { ok: false, reason: 'invalid' };
      // The MAC holds, so the tag is one this cluster minted: for another principal (or none), the state is not this caller's.
      if (ptag !== tagOf(principal)) return { ok: false, reason: 'wrong_principal' };
      // Checked after the MAC, so an expiry is only ever read from a state this cluster minted.
      if (parseInt(expiry, 36) <= nowMs) return { ok: false, reason: 'expired' };
      return { ok: true, payload: Buffer.from(body, 'base64url').toString('utf8') };
    },
  };
}
