/**
 * Writes to one SSE response under backpressure and counts what is really held in memory for it
 * (the limit measures what uWS really buffers, not a counter reset on every writable event).
 *
 * How uWS behaves (uWebSockets v20, src/AsyncSocket.h `write`/`uncork`, src/HttpResponse.h `write`,
 * src/HttpContext.h on_writable):
 * - `res.write()` never drops data. When the socket cannot take a chunk, uWS copies what is left into
 *   the socket's own buffer and returns false. While that buffer is not empty, every later write is
 *   appended to it whole (and returns false): writing on after false grows uWS's buffer without bound.
 * - Inside `cork()` a write goes to the loop's 16 KiB cork buffer and returns true; if the flush at
 *   the end of the cork cannot send it all, the rest lands in the socket buffer unreported (the next
 *   write then returns false).
 * - Once an onWritable handler is registered, uWS does not drain its buffer itself when the socket
 *   becomes writable: it calls the handler, and only a write attempt (a write, or the uncork at the
 *   end of a cork) flushes the buffer; a handler that writes nothing leaves it in place.
 *
 * So once a write returns false, nothing more goes to uWS until onWritable: events wait in this
 * stream's own queue, counted in bytes. What uWS holds is at most the chunks handed to it since a
 * write last returned true (plus at most one cork buffer, 16 KiB, that a cork flushed unreported).
 * The limit (MCP_SSE_MAX_BUFFERED) applies to the sum of both.
 */
import type { HttpResponse } from 'uWebSockets.js';

/** Backpressure state of one stream; made at its first write that returned false. */
export interface SseBacklog {
  /** Chunks not handed to uWS yet, oldest first, from `head` on; `sizes` holds their UTF-8 bytes. */
  chunks: string[];
  sizes: number[];
  head: number;
  /** UTF-8 bytes in chunks[head..]. */
  queued: number;
  /** Upper bound of uWS's own buffer: bytes handed to it since a write last returned true. */
  inUws: number;
  /** A write returned false and onWritable has not emptied our queue since: nothing goes to uWS meanwhile. */
  stalled: boolean;
}

/** What the writer needs from a stream (the front's Conn has these fields). */
export interface SseSink {
  res: HttpResponse;
  done: boolean;
  out: SseBacklog | null;
}

/** Handed to uWS at once. */
export const SSE_SENT = 0;
/** Met backpressure: held by uWS or queued here, within the limit. */
export const SSE_HELD = 1;
/** Held bytes passed the limit with more waiting: the caller drops the stream. */
export const SSE_OVER = 2;

/** Bytes held for the stream: our queue plus the bound on uWS's buffer. */
export function sseHeld(sink: SseSink): number {
  return sink.out === null ? 0 : sink.out.queued + sink.out.inUws;
}

/** The stream has data waiting behind a slow reader (a heartbeat would only add to it). */
export function sseStalled(sink: SseSink): boolean {
  return sink.out !== null && sink.out.stalled;
}

/**
 * Writes `text` (inside a cork) or queues it behind a backlog. One event larger than `max` is still
 * handed to uWS whole (it is in memory anyway, and a resumed stream would replay it again); the
 * stream is over the limit when the bytes held pass `max` with more than that one chunk among them.
 */
export function sseWrite(sink: SseSink, text: string, max: number): number {
  let out = sink.out;
  if (out === null || !out.stalled) {
    if (sink.res.write(text)) {
      if (out !== null) out.inUws = 0;
      return SSE_SENT;
    }
    out ??= startBacklog(sink);
    // uWS may still hold earlier chunks (onWritable found our queue empty and its flush may not have
    // finished): this one joins them, and counts with them.
    const before = out.inUws;
    out.inUws += Buffer.byteLength(text);
    out.stalled = true;
    return before > 0 && out.inUws > max ? SSE_OVER : SSE_HELD;
  }
  const size = Buffer.byteLength(text);
  out.chunks.push(text);
  out.sizes.push(size);
  out.queued += size;
  return out.queued + out.inUws > max ? SSE_OVER : SSE_HELD;
}

/**
 * Ends the response after what is queued. The queue is within the limit, so it is handed to uWS
 * whole: uWS drains it after end() on its own (and closes the socket when the reader stalls past
 * its 10 s HTTP timeout). Call inside a cork.
 */
export function sseEnd(sink: SseSink): void {
  const out = sink.out;
  if (out !== null) {
    for (let i = out.head; i < out.chunks.length; i++) sink.res.write(out.chunks[i]);
    sink.out = null;
  }
  sink.res.end();
}

function startBacklog(sink: SseSink): SseBacklog {
  const out: SseBacklog = { chunks: [], sizes: [], head: 0, queued: 0, inUws: 0, stalled: false };
  sink.out = out;
  // Once per stream, at its first backpressure: uWS keeps one handler per response.
  sink.res.onWritable(() => onWritable(sink));
  return out;
}

/**
 * The socket can take more: hands queued chunks to uWS until a write returns false again. Corked, so
 * the chunks leave in as few syscalls as possible, and so that even with an empty queue the uncork
 * at the end flushes what uWS still holds (a partial flush asks for the next writable event).
 */
function onWritable(sink: SseSink): boolean {
  const out = sink.out;
  if (sink.done || out === null) return true;
  let ok = true;
  sink.res.cork(() => {
    ok = drain(sink.res, out);
  });
  return ok;
}

function drain(res: HttpResponse, out: SseBacklog): boolean {
  const { chunks, sizes } = out;
  while (out.head < chunks.length) {
    const i = out.head++;
    const chunk = chunks[i];
    const size = sizes[i];
    chunks[i] = '';
    out.queued -= size;
    if (res.write(chunk)) {
      out.inUws = 0;
      continue;
    }
    out.inUws += size;
    // Keep the array from growing at the front while a slow reader never lets it empty.
    if (out.head >= 1024) {
      chunks.splice(0, out.head);
      sizes.splice(0, out.head);
      out.head = 0;
    }
    return false;
  }
  chunks.length = 0;
  sizes.length = 0;
  out.head = 0;
  out.stalled = false;
  return true;
}
