/**
 * The text form of the channel's frequent messages. postMessage clones an array of objects with V8's
 * generic serializer (every key and value tagged, and rebuilt on the other side); one string is
 * copied whole. So a batch carries the frequent messages (a POST for a session, a 2026-07-28 request,
 * a JSON reply, an SSE event, a stream's close) as text, consecutive ones in one string, and every
 * other message as the object it is, in order.
 *
 * A message is a tag character, then its fields: a number as its decimal digits and `;`, a string as
 * its length (UTF-16 units), `:` and the string itself, so any content (a body is whatever the client
 * sent) reads back exactly. Only messages whose every field has a text form here are encoded; the
 * others (`auth` present, say) go as objects.
 */
import type { CancelMsg, CloseOut, EventOut, JsonOut, MethodOut, ModernMsg, PostMsg, ToFront, ToWorker } from './messages.js';

const T_POST = 'P';
const T_POST_UNPARSED = 'Q';
const T_METHOD = 'N';
const T_MODERN = 'M';
const T_CANCEL = 'C';
const T_JSON = 'J';
const T_EVENT = 'E';
const T_CLOSE = 'X';

const str = (s: string): string => s.length + ':' + s;

/** The text form of a front → worker message, or null when it goes as an object. */
export function encodeToWorker(m: ToWorker): string | null {
  switch (m.type) {
    case 'post':
      if (m.auth !== undefined) return null;
      return (m.unparsed ? T_POST_UNPARSED : T_POST) + m.exchange + ';' + str(m.sessionId) + str(m.body);
    case 'modern': {
      if (m.auth !== undefined || m.authReset !== undefined) return null;
      // Flags: 1 principal present, 2 parameter headers present (as JSON).
      const flags = (m.principal !== undefined ? 1 : 0) | (m.paramHeaders !== null ? 2 : 0);
      let t = T_MODERN + m.exchange + ';' + flags + ';' + str(m.body) + str(m.protocolVersion) + str(m.mcpMethod) + str(m.mcpName);
      if (m.principal !== undefined) t += str(m.principal);
      if (m.paramHeaders !== null) t += str(JSON.stringify(m.paramHeaders));
      return t;
    }
    case 'cancel':
      return T_CANCEL + m.exchange + ';';
    default:
      return null;
  }
}

/** The text form of a worker → front message, or null when it goes as an object. */
export function encodeToFront(m: ToFront): string | null {
  switch (m.type) {
    case 'json':
      return T_JSON + m.exchange + ';' + m.status + ';' + str(m.body);
    case 'event':
      return T_EVENT + m.exchange + ';' + (m.end ? 1 : 0) + ';' + str(m.eventId) + str(m.body);
    case 'method':
      return T_METHOD + m.exchange + ';' + m.method + ';';
    case 'close':
      return T_CLOSE + m.exchange + ';' + m.retryMs + ';';
    default:
      return null;
  }
}

class Reader {
  i = 0;
  constructor(readonly s: string) {}

  num(): number {
    const j = this.s.indexOf(';', this.i);
    if (j < 0) throw new Error('wire: number not terminated');
    const n = Number(this.s.slice(this.i, j));
    this.i = j + 1;
    return n;
  }

  str(): string {
    const j = this.s.indexOf(':', this.i);
    if (j < 0) throw new Error('wire: string length not terminated');
    const end = j + 1 + Number(this.s.slice(this.i, j));
    if (!(end <= this.s.length)) throw new Error('wire: string runs past the end');
    const v = this.s.slice(j + 1, end);
    this.i = end;
    return v;
  }
}

/** Appends the messages `text` holds (one or more, as encoded above) to `out`. */
function decodeInto(text: string, out: Array<ToWorker | ToFront>): void {
  const r = new Reader(text);
  while (r.i < text.length) {
    const tag = text[r.i++];
    switch (tag) {
      case T_POST:
      case T_POST_UNPARSED: {
        const exchange = r.num();
        const sessionId = r.str();
        const m: PostMsg = { type: 'post', sessionId, exchange, body: r.str() };
        if (tag === T_POST_UNPARSED) m.unparsed = true;
        out.push(m);
        break;
      }
      case T_METHOD: {
        const exchange = r.num();
        const m: MethodOut = { type: 'method', exchange, method: r.num() };
        out.push(m);
        break;
      }
      case T_MODERN: {
        const exchange = r.num();
        const flags = r.num();
        const body = r.str();
        const protocolVersion = r.str();
        const mcpMethod = r.str();
        const mcpName = r.str();
        const m: ModernMsg = { type: 'modern', exchange, body, protocolVersion, mcpMethod, mcpName, paramHeaders: null };
        if (flags & 1) m.principal = r.str();
        if (flags & 2) m.paramHeaders = JSON.parse(r.str()) as Record<string, string>;
        out.push(m);
        break;
      }
      case T_CANCEL: {
        const m: CancelMsg = { type: 'cancel', exchange: r.num() };
        out.push(m);
        break;
      }
      case T_JSON: {
        const exchange = r.num();
        const status = r.num();
        const m: JsonOut = { type: 'json', exchange, status, body: r.str() };
        out.push(m);
        break;
      }
      case T_EVENT: {
        const exchange = r.num();
        const end = r.num() === 1;
        const eventId = r.str();
        const m: EventOut = { type: 'event', exchange, eventId, body: r.str(), end };
        out.push(m);
        break;
      }
      case T_CLOSE: {
        const exchange = r.num();
        const m: CloseOut = { type: 'close', exchange, retryMs: r.num() };
        out.push(m);
        break;
      }
      default:
        throw new Error(`wire: unknown tag ${JSON.stringify(tag)}`);
    }
  }
}

/** A batch as posted: messages as objects, and runs of frequent ones as text. */
export type WireBatch<T> = ReadonlyArray<T | string>;

/** The messages of a received batch, in order. */
export function unpack<T extends ToWorker | ToFront>(batch: WireBatch<T>): T[] {
  let text = false;
  for (let i = 0; i < batch.length; i++) if (typeof batch[i] === 'string') text = true;
  if (!text) return batch as T[];
  const out: Array<ToWorker | ToFront> = [];
  for (let i = 0; i < batch.length; i++) {
    const b = batch[i];
    if (typeof b === 'string') decodeInto(b, out);
    else out.push(b);
  }
  return out as T[];
}
