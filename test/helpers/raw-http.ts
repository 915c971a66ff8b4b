/**
 * HTTP/1.1 over a raw node:net socket, for requests fetch and node:http refuse to send: any byte in a
 * header value (0x00-0xFF), any Content-Length text. Reads one response: the head, then the body by
 * Content-Length or chunked framing; an SSE answer resolves at its head (the socket is then closed).
 */
import { connect } from 'node:net';

export interface RawResponse {
  /** 0 when the connection ended without a complete response head. */
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The body was complete (framing satisfied) when the promise resolved. */
  complete: boolean;
  /** How the exchange ended: answered, closed by the server, reset, or our timeout. */
  end: 'answered' | 'closed' | 'reset' | 'timeout';
}

export interface RawRequest {
  method: string;
  path?: string;
  /** Header lines in order: name and the exact value bytes. */
  headers: Array<[string, Buffer | string]>;
  body?: Buffer | null;
  /** Add `Content-Length: <body length>` (default true when there is a body and no content-length header). */
  contentLength?: boolean;
  /** Half-close after writing, so a server waiting for more body sees the end. uWS then closes the
   * connection at once, also when an answer is still to come: only for requests it would wait on. */
  endAfterWrite?: boolean;
}

export function encodeRequest(r: RawRequest): Buffer {
  const parts: Buffer[] = [Buffer.from(`${r.method} ${r.path ?? '/mcp'} HTTP/1.1\r\n`, 'latin1')];
  const hasCl = r.headers.some(([n]) => n.toLowerCase() === 'content-length');
  for (const [name, value] of r.headers)
    parts.push(Buffer.from(`${name}: `, 'latin1'), typeof value === 'string' ? Buffer.from(value, 'latin1') : value, Buffer.from('\r\n'));
  if (r.body && !hasCl && r.contentLength !== false) parts.push(Buffer.from(`content-length: ${r.body.length}\r\n`));
  parts.push(Buffer.from('connection: close\r\n\r\n'));
  if (r.body) parts.push(r.body);
  return Buffer.concat(parts);
}

/** Parses what has arrived; null until the head is complete. */
function parse(buf: Buffer): { status: number; headers: Record<string, string>; body: Buffer; complete: boolean; sse: boolean } | null {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const rest = buf.subarray(headEnd + 4);
  const sse = (headers['content-type'] ?? '').startsWith('text/event-stream');
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    const out: Buffer[] = [];
    let off = 0;
    for (;;) {
      const eol = rest.indexOf('\r\n', off);
      if (eol < 0) return { status, headers, body: Buffer.concat(out), complete: false, sse };
      const size = parseInt(rest.subarray(off, eol).toString('latin1'), 16);
      if (!Number.isFinite(size)) return { status, headers, body: Buffer.concat(out), complete: false, sse };
      if (size === 0) return { status, headers, body: Buffer.concat(out), complete: rest.length >= eol + 4, sse };
      if (rest.length < eol + 2 + size + 2) {
        out.push(rest.subarray(eol + 2, Math.min(rest.length, eol + 2 + size)));
        return { status, headers, body: Buffer.concat(out), complete: false, sse };
      }
      out.push(rest.subarray(eol + 2, eol + 2 + size));
      off = eol + 2 + size + 2;
    }
  }
  const cl = headers['content-length'];
  if (cl !== undefined) return { status, headers, body: rest.subarray(0, Number(cl)), complete: rest.length >= Number(cl), sse };
  return { status, headers, body: rest, complete: false, sse };
}

export function rawRequest(port: number, r: RawRequest, timeoutMs = 10_000): Promise<RawResponse> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (end: RawResponse['end']): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const p = parse(Buffer.concat(chunks));
      resolve(
        p
          ? { status: p.status, headers: p.headers, body: p.body.toString('utf8'), complete: p.complete, end }
          : { status: 0, headers: {}, body: '', complete: false, end },
      );
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      const p = parse(Buffer.concat(chunks));
      if (p && (p.complete || p.sse)) finish('answered');
    });
    sock.on('error', (err: NodeJS.ErrnoException) => finish(err.code === 'ECONNRESET' || err.code === 'EPIPE' ? 'reset' : 'closed'));
    sock.on('close', () => finish('closed'));
    sock.on('connect', () => {
      sock.write(encodeRequest(r));
      if (r.endAfterWrite) sock.end();
    });
  });
}
