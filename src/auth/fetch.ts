/**
 * The node's only outbound HTTP to authorization servers (metadata, JWKS, introspection): every call
 * is timed and its body read up to a cap, so a slow or hostile endpoint costs a bounded wait and
 * bounded memory. Redirects are not followed (a metadata or key URL that moves is a configuration
 * change, not something to chase).
 */

export interface CappedResponse {
  status: number;
  contentType: string;
  text: string;
}

/** Thrown when the body is larger than the cap; the connection is cancelled there. */
export class BodyTooLarge extends Error {}

export async function fetchCapped(url: string, init: RequestInit, timeoutMs: number, maxBytes: number): Promise<CappedResponse> {
  const res = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  const declared = Number(res.headers.get('content-length') ?? -1);
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new BodyTooLarge(`${url}: response of ${declared} bytes exceeds ${maxBytes}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel();
        throw new BodyTooLarge(`${url}: response exceeds ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  }
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: Buffer.concat(chunks, size).toString('utf8') };
}
