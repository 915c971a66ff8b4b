/**
 * Node-to-node requests carry proof that a peer sent them: a node that receives a request for a
 * session it does not have forwards it, unless the request was forwarded by a peer already (then the
 * session is gone, and 404 is the answer). A plain marker header could be set by any client, turning
 * a forwardable request into a 404; so the marker is an HMAC with the cluster secret:
 *
 *   x-mcp-forward-auth: <sender node id, base64url> "." <unix ms> "." <HMAC-SHA256, base64url>
 *
 * over method, path, session id, sender, timestamp and, when the request carries them, the client
 * identity the per-client limits use (src/front/client-limits.ts) and the verified principal with the
 * Authorization header it was verified from (forward-principal.ts), with a key derived from the cluster secret
 * (distinct from the session-tag key). A header older than WINDOW_MS, more than SKEW_MS in the future,
 * or with a wrong MAC is refused: the request is treated as a client's (forwarded as usual), and the
 * refusal is counted. Within the window a captured header can be replayed for the same method, path
 * and session only, which gains nothing but the 404 the sender would have got anyway. Timestamps come
 * from the nodes' clocks; a skew beyond the window costs an extra hop or a 404, never a wrong route.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const FORWARD_AUTH_HEADER = 'x-mcp-forward-auth';
/** A forwarded request is accepted this long after it was signed. */
export const WINDOW_MS = 30_000;
/** ... and this far ahead of the receiver's clock. */
export const SKEW_MS = 5_000;

const MAC_BYTES = 32;
const TS = /^\d{1,15}$/;

export interface ForwardAuth {
  /**
   * The header value for a request this node forwards. `client`: the identity it carries ('' for
   * none); `principal`: the principal header's value ('' for none) and `authorization` the
   * Authorization header it goes with (covered only with a principal).
   */
  sign(method: string, path: string, sessionId: string, nowMs: number, client?: string, principal?: string, authorization?: string): string;
  /** True when `header` was signed by a node of this cluster for exactly this request (and identity), recently. */
  verify(
    header: string,
    method: string,
    path: string,
    sessionId: string,
    nowMs: number,
    client?: string,
    principal?: string,
    authorization?: string,
  ): boolean;
}

export function createForwardAuth(secret: string, nodeId: string): ForwardAuth {
  const key = createHmac('sha256', secret).update('mcp-forward-auth-v1').digest();
  const self = Buffer.from(nodeId, 'utf8').toString('base64url');
  // Without a client identity or principal the signed text is what it was before either existed. No
  // part holds a newline (base64url values, header values), so the parts cannot be shifted.
  const mac = (
    method: string,
    path: string,
    sid: string,
    sender: string,
    ts: string,
    client: string,
    principal: string,
    authz: string,
  ): Buffer => {
    const h = createHmac('sha256', key).update(`${method}\n${path}\n${sid}\n${sender}\n${ts}`);
    if (client !== '' || principal !== '') h.update(`\n${client}`);
    if (principal !== '') h.update(`\n${principal}\n${authz}`);
    return h.digest();
  };
  return {
    sign(method, path, sessionId, nowMs, client = '', principal = '', authorization = '') {
      const ts = String(Math.floor(nowMs));
      return `${self}.${ts}.${mac(method, path, sessionId, self, ts, client, principal, authorization).toString('base64url')}`;
    },
    verify(header, method, path, sessionId, nowMs, client = '', principal = '', authorization = '') {
      const a = header.indexOf('.');
      const b = header.indexOf('.', a + 1);
      if (a <= 0 || b < 0 || header.indexOf('.', b + 1) >= 0) return false;
      const ts = header.slice(a + 1, b);
      if (!TS.test(ts)) return false;
      const age = nowMs - Number(ts);
      if (age > WINDOW_MS || age < -SKEW_MS) return false;
      const given = Buffer.from(header.slice(b + 1), 'base64url');
      if (given.length !== MAC_BYTES) return false;
      return timingSafeEqual(given, mac(method, path, sessionId, header.slice(0, a), ts, client, principal, authorization));
    },
  };
}
