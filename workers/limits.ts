/** What a session may make its worker keep from the client, beyond initialize. */
import { MAX_SUBSCRIPTION_URI_CHARS, MAX_SUBSCRIPTIONS } from '../src/protocol/limits.js';

/** Why resources/subscribe for `uri` is refused (-32602 message), or null when it may be kept. */
export function subscriptionError(subs: ReadonlySet<string> | null, uri: string): string | null {
  if (uri.length > MAX_SUBSCRIPTION_URI_CHARS) return `Invalid params: uri longer than ${MAX_SUBSCRIPTION_URI_CHARS} characters`;
  // Re-subscribing to a URI already held costs nothing and stays allowed at the cap.
  if (subs !== null && subs.size >= MAX_SUBSCRIPTIONS && !subs.has(uri))
    return `Invalid params: at most ${MAX_SUBSCRIPTIONS} resource subscriptions per session`;
  return null;
}
