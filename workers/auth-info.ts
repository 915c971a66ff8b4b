/** The caller's verified token as it arrives from the front, turned into the SDK's `AuthInfo` shape handlers read. */
import type { WireAuthInfo } from '../src/auth/principal.js';
import type { AuthInfo } from './api.js';

export function authInfoOf(w: WireAuthInfo): AuthInfo {
  const out: AuthInfo = { token: w.token, clientId: w.clientId, scopes: w.scopes, extra: w.extra };
  if (w.expiresAt !== undefined) out.expiresAt = w.expiresAt;
  if (w.resource !== undefined && URL.canParse(w.resource)) out.resource = new URL(w.resource);
  // One view serves every request of a caller (a session, or a principal's stateless requests on this
  // worker): no handler may change what the next one sees.
  Object.freeze(w.scopes);
  Object.freeze(w.extra);
  return Object.freeze(out);
}
