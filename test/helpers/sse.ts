/** A small SSE reader for raw-HTTP tests: events with id/data/retry, and comment lines. */
export interface SseEvent {
  id?: string;
  data: string;
  retry?: number;
  comment?: string;
}

export class SseReader {
  private buf = '';
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private queue: SseEvent[] = [];
  done = false;

  constructor(res: Response) {
    this.reader = res.body!.getReader();
  }

  /** Next event (comments included), or null at end of stream; rejects after `ms`. */
  async next(ms = 5000): Promise<SseEvent | null> {
    const deadline = Date.now() + ms;
    while (this.queue.length === 0) {
      if (this.done) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for an SSE event');
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([
        this.reader.read(),
        new Promise<never>((_, rej) => {
          timer = setTimeout(() => rej(new Error('timed out waiting for an SSE event')), left);
        }),
      ]).finally(() => clearTimeout(timer));
      if (r.done) {
        this.done = true;
        this.parse(true);
        continue;
      }
      this.buf += this.decoder.decode(r.value, { stream: true });
      this.parse(false);
    }
    return this.queue.shift()!;
  }

  /** All events until the stream ends. */
  async rest(ms = 5000): Promise<SseEvent[]> {
    const out: SseEvent[] = [];
    for (;;) {
      const e = await this.next(ms);
      if (!e) return out;
      out.push(e);
    }
  }

  cancel(): Promise<void> {
    return this.reader.cancel().catch(() => {});
  }

  private parse(flush: boolean): void {
    let i;
    while ((i = this.buf.indexOf('\n\n')) >= 0 || (flush && this.buf.trim() !== '' && (i = this.buf.length) > 0)) {
      const block = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 2);
      const ev: SseEvent = { data: '' };
      const data: string[] = [];
      let hasField = false;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          ev.comment = line.slice(1).trim();
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        hasField = true;
        if (field === 'id') ev.id = value;
        else if (field === 'data') data.push(value);
        else if (field === 'retry') ev.retry = Number(value);
      }
      ev.data = data.join('\n');
      if (hasField || ev.comment !== undefined) this.queue.push(ev);
      if (flush) break;
    }
  }
}
