/**
 * Session ids that name their owning node, authenticated so a client cannot forge a route:
 *
 *   <22 chars: 16 CSPRNG bytes, base64url> "." <owner node id, base64url> "." <16 chars: HMAC-SHA256 tag>
 *
 * Any node of the cluster (same secret) can tell, without Redis, which node owns a session and so
 * forward a cookie-less client's request to it. Without a secret, ids are the plain random part.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const MAC_BYTES = 12;

export interface SessionTagger {
  /** Adds the owner tag to a random id. */
  tag(randomPart: string): string;
  /** The owner node of a well-formed, authentic id; null otherwise (forged, foreign, or untagged). */
  owner(sessionId: string): string | null;
}

export function createTagger(secret: string, nodeId: string): SessionTagger {
  const key = Buffer.from(secret, 'utf8');
  const nodePart = Buffer.from(nodeId, 'utf8').toString('base64url');
  const mac = (body: string): Buffer => createHmac('sha256', key).update(body).digest().subarray(0, MAC_BYTES);
  return {
    tag(randomPart: string): string {
      const body = `${randomPart}.${nodePart}`;
      return `${body}.${mac(body).toString('base64url')}`;
    },
    owner(sessionId: string): string | null {
      const last = sessionId.lastIndexOf('.');
      const first = sessionId.indexOf('.');
      if (first <= 0 || last <= first) return null;
      const body = sessionId.slice(0, last);
      const given = Buffer.from(sessionId.slice(last + 1), 'base64url');
      if (given.length !== MAC_BYTES) return null;
      if (!timingSafeEqual(given, mac(body))) return null;
      return Buffer.from(sessionId.slice(first + 1, last), 'base64url').toString('utf8');
    },
  };
}
