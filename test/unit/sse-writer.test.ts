/**
 * In-process: the SSE writer (src/front/sse-writer.ts) against a model of uWS's write semantics. The
 * property that matters: the limit measures what uWS really buffers, across writable
 * events, not a counter reset on each of them.
 */
import type { HttpResponse } from 'uWebSockets.js';
import { describe, expect, it } from 'vitest';
import { SSE_OVER, SSE_SENT, sseEnd, sseHeld, sseWrite, type SseSink } from '../../src/front/sse-writer.js';

/**
 * uWS's write semantics, reduced to byte counts (uWebSockets src/AsyncSocket.h write/uncork): a write
 * first flushes the socket buffer; while that is not empty the whole chunk is appended (false). Corked
 * writes fill a 16 KiB cork buffer (true) whose flush at uncork may spill into the socket buffer
 * unreported. With an onWritable handler set, only a write attempt drains the buffer.
 */
class FakeUwsResponse {
  static readonly CORK_BUFFER = 16 * 1024;
  /** uWS's own per-socket buffer. */
  buffered = 0;
  delivered = 0;
  ended = false;
  private corked = false;
  private corkBuf = 0;
  private writable: (() => boolean) | null = null;
  /** Bytes the kernel takes right now. */
  constructor(private room: number) {}

  private send(n: number): number {
    const k = Math.min(n, this.room);
    this.room -= k;
    this.delivered += k;
    return n - k;
  }
  private flushed(): boolean {
    if (this.buffered > 0) this.buffered = this.send(this.buffered);
    return this.buffered === 0;
  }
  write(text: string): boolean {
    const n = Buffer.byteLength(text);
    if (n === 0) return true;
    if (!this.flushed()) {
      this.buffered += n;
      return false;
    }
    if (this.corked && this.corkBuf + n <= FakeUwsResponse.CORK_BUFFER) {
      this.corkBuf += n;
      return true;
    }
    // Too big for the cork buffer (or not corked): out now, what does not fit is buffered and reported.
    const pending = this.corkBuf + n;
    this.corkBuf = 0;
    this.buffered = this.send(pending);
    return this.buffered === 0;
  }
  cork(cb: () => void): this {
    this.corked = true;
    cb();
    this.corked = false;
    const n = this.corkBuf;
    this.corkBuf = 0;
    if (!this.flushed()) this.buffered += n;
    else this.buffered += this.send(n);
    return this;
  }
  onWritable(h: () => boolean): this {
    this.writable = h;
    return this;
  }
  end(): this {
    this.ended = true;
    this.writable = null;
    return this;
  }
  /** The reader took `n` bytes; the socket polls writable while uWS holds data. */
  read(n: number): void {
    this.room += n;
    if (this.buffered > 0) {
      if (this.writable) this.writable();
      else this.flushed();
    }
  }
}

function fakeSink(room: number): { sink: SseSink; res: FakeUwsResponse } {
  const res = new FakeUwsResponse(room);
  return { res, sink: { res: res as unknown as HttpResponse, done: false, out: null } };
}

/** What is really held for the stream: uWS's buffer plus our queue. */
function realHeld(sink: SseSink, res: FakeUwsResponse): number {
  return res.buffered + (sink.out?.queued ?? 0);
}

describe('SSE writer (uWS semantics, in process)', () => {
  const LIMIT = 64 * 1024;
  const event = 'data: ' + 'e'.repeat(994) + '\n\n';

  it('counts at least what uWS really holds, across writable events, and drops a reader slower than its producer', () => {
    const { sink, res } = fakeSink(8 * 1024);
    let result = SSE_SENT;
    let ticks = 0;
    while (result !== SSE_OVER && ticks < 100_000) {
      ticks++;
      res.cork(() => {
        result = sseWrite(sink, event, LIMIT);
      });
      // A reader that drains 70% of what is produced, in steps that fire onWritable often (the
      // counter this replaces was reset on every one of them and never reached the limit).
      res.read(700);
      // The bound: what uWS holds is never more than counted, give or take one cork buffer.
      expect(realHeld(sink, res)).toBeLessThanOrEqual(sseHeld(sink) + FakeUwsResponse.CORK_BUFFER);
    }
    expect(result).toBe(SSE_OVER);
    expect(realHeld(sink, res)).toBeLessThanOrEqual(LIMIT + 2 * event.length + FakeUwsResponse.CORK_BUFFER);
  });

  it('delivers everything, in full and then ended, to a bursty reader that keeps up on average', () => {
    const { sink, res } = fakeSink(8 * 1024);
    let produced = 0;
    for (let tick = 0; tick < 400; tick++) {
      res.cork(() => {
        expect(sseWrite(sink, event, LIMIT)).not.toBe(SSE_OVER);
      });
      produced += event.length;
      // Reads nothing for 19 ticks, then 30 KB.
      if (tick % 20 === 19) res.read(30_000);
    }
    // The producer stops; the reader drains what is left, one writable event at a time.
    for (let i = 0; i < 100 && res.delivered < produced; i++) res.read(4096);
    expect(res.delivered).toBe(produced);
    expect(sseHeld(sink) - (sink.out?.inUws ?? 0)).toBe(0);
    res.cork(() => sseEnd(sink));
    expect(res.ended).toBe(true);
  });

  it('ends a stream with queued events by handing them to uWS (bounded by the limit) before the end', () => {
    const { sink, res } = fakeSink(2048);
    for (let i = 0; i < 20; i++) res.cork(() => sseWrite(sink, event, LIMIT));
    const held = realHeld(sink, res);
    expect(sink.out!.queued).toBeGreaterThan(0);
    res.cork(() => sseEnd(sink));
    expect(sink.out).toBeNull();
    expect(res.buffered).toBeLessThanOrEqual(held);
    expect(res.ended).toBe(true);
  });
});
