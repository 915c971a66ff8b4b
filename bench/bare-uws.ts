/**
 * The ceiling: a bare uWebSockets.js server (the same package and version range the product uses)
 * that answers the benchmark's requests with the bytes our node answers them with, and does nothing
 * else: no worker thread, no session table, no tool code, no metrics. It parses each request body (any
 * server must, to learn the method and the id) and splices the request's id (and the echo text) into
 * our node's answer, captured by the runner at start-up (lib/exchange.ts) and passed as `--reference`.
 *
 *   initialize               our node's initialize answer, with a fresh random session id of the same length
 *   tools/call (session id)  our node's echo answer
 *   tools/call (no session, MCP-Protocol-Version 2026-07-28)
 *                            our node's answer to the 2026-07-28 echo (lib/modern.ts)
 *   a notification           202, empty body
 *
 * Usage: node bench/dist/bare-uws.js --reference FILE [--port 0] [--host 127.0.0.1]
 * Logs `{"msg":"listening","port":N}` on stdout once bound.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import uWS, { type HttpResponse, type us_listen_socket } from 'uWebSockets.js';
import { defineCommand, reportUsage } from './lib/args.js';
import { PROBE_ID, PROBE_TEXT, type Exchange, type RawAnswer } from './lib/exchange.js';
import { MODERN_VERSION } from './lib/modern.js';

const command = defineCommand(
  'usage: node bench/dist/bare-uws.js --reference FILE [flags]',
  {
    reference: { type: 'text', want: 'a file', arg: 'FILE', help: "our node's captured answers (JSON, written by the throughput runner)" },
    port: { type: 'int', min: 0, max: 65535, help: 'port; 0 picks a free one' },
    host: { type: 'text', want: 'an address', arg: 'ADDR', help: 'address to listen on' },
  },
  { port: 0, host: '127.0.0.1' },
);

/** The largest request body accepted (the benchmark's are under 300 bytes). */
const MAX_BODY_BYTES = 64 * 1024;
/** Headers uWS writes itself on end(): the captured values of these are not written again. */
const WRITTEN_BY_UWS = new Set(['date', 'uwebsockets', 'content-length', 'connection', 'transfer-encoding']);
const SESSION_HEADER = 'mcp-session-id';
const VERSION_HEADER = 'mcp-protocol-version';

/** One answer prepared once: status, the headers to write, the body cut where the request's id and text go. */
interface Template {
  status: string;
  headers: Array<[string, string]>;
  /** Literal pieces; between two pieces goes the slot of the same index in `slots`. */
  pieces: string[];
  slots: Array<'id' | 'text'>;
  sessionIdLength: number;
}

function template(a: RawAnswer): Template {
  const pieces: string[] = [];
  const slots: Template['slots'] = [];
  const marks: Array<[string, 'id' | 'text']> = [
    [JSON.stringify(PROBE_ID), 'id'],
    [JSON.stringify(PROBE_TEXT), 'text'],
  ];
  let rest = a.body;
  for (;;) {
    const hits = marks.map(([m, slot]) => [rest.indexOf(m), m.length, slot] as const).filter(([at]) => at >= 0);
    if (hits.length === 0) break;
    const [at, len, slot] = hits.reduce((x, y) => (y[0] < x[0] ? y : x));
    pieces.push(rest.slice(0, at));
    slots.push(slot);
    rest = rest.slice(at + len);
  }
  pieces.push(rest);
  const sid = a.headers.find(([n]) => n.toLowerCase() === SESSION_HEADER);
  return {
    status: a.statusLine.slice(a.statusLine.indexOf(' ') + 1),
    headers: a.headers.filter(([n]) => !WRITTEN_BY_UWS.has(n.toLowerCase()) && n.toLowerCase() !== SESSION_HEADER),
    pieces,
    slots,
    sessionIdLength: sid ? sid[1].length : 0,
  };
}

function fill(t: Template, id: string, text: string): string {
  let out = t.pieces[0];
  for (let i = 0; i < t.slots.length; i++) out += (t.slots[i] === 'id' ? id : text) + t.pieces[i + 1];
  return out;
}

function write(res: HttpResponse, t: Template, body: string, sessionId: string | null): void {
  res.writeStatus(t.status);
  for (const [n, v] of t.headers) res.writeHeader(n, v);
  if (sessionId !== null) res.writeHeader(SESSION_HEADER, sessionId);
  res.end(body);
}

interface Message {
  id?: unknown;
  method?: unknown;
  params?: { arguments?: { text?: unknown } };
}

interface Templates {
  init: Template;
  tools: Template;
  modern: Template;
}

/** `era`: 'session' with a session id, 'modern' without one and with the 2026-07-28 version header, '' otherwise. */
function answer(res: HttpResponse, t: Templates, raw: string, era: 'session' | 'modern' | ''): void {
  let m: Message;
  try {
    m = JSON.parse(raw) as Message;
  } catch {
    res.writeStatus('400 Bad Request').end();
    return;
  }
  if (m.id === undefined) {
    res.writeStatus('202 Accepted').end();
    return;
  }
  const id = JSON.stringify(m.id);
  if (m.method === 'initialize') {
    const sid = randomBytes(Math.ceil((t.init.sessionIdLength * 3) / 4) + 1)
      .toString('base64url')
      .slice(0, t.init.sessionIdLength);
    write(res, t.init, fill(t.init, id, ''), sid);
  } else if (m.method === 'tools/call' && era !== '') {
    const echo = era === 'session' ? t.tools : t.modern;
    write(res, echo, fill(echo, id, JSON.stringify(m.params?.arguments?.text ?? '')), null);
  } else {
    res.writeStatus('400 Bad Request').end();
  }
}

function main(): void {
  let o: { reference: string; port: number; host: string };
  try {
    const given = command.parse(process.argv.slice(2));
    o = { port: 0, host: '127.0.0.1', ...given, reference: given.reference ?? command.fail('reference', '', 'a file (required)') };
  } catch (err) {
    process.exit(reportUsage(err) ?? 1);
  }
  const exchange = JSON.parse(readFileSync(o.reference, 'utf8')) as Exchange;
  const templates: Templates = { init: template(exchange.init), tools: template(exchange.tools), modern: template(exchange.modern) };
  // The package falls back to a pure-JS server when its native binary does not load; the native
  // addon exports SSLApp, the fallback does not. The ceiling must be the native one.
  if (typeof (uWS as { SSLApp?: unknown }).SSLApp !== 'function') throw new Error('uWebSockets.js native binary did not load');
  const app = uWS.App();
  app.post('/mcp', (res, req) => {
    // Headers are read now: uWS's request object is only valid during this callback.
    const era = req.getHeader(SESSION_HEADER) !== '' ? 'session' : req.getHeader(VERSION_HEADER) === MODERN_VERSION ? 'modern' : '';
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    let body: Buffer | null = null;
    res.onData((chunk, last) => {
      if (aborted) return;
      // The chunk's memory is reused after this callback: decode it now, or copy it.
      let raw: string;
      if (last && body === null) raw = Buffer.from(chunk).toString('utf8');
      else {
        body = body === null ? Buffer.from(Buffer.from(chunk)) : Buffer.concat([body, Buffer.from(chunk)]);
        if (body.length > MAX_BODY_BYTES) {
          aborted = true;
          res.cork(() => res.writeStatus('413 Payload Too Large').end(undefined, true));
          return;
        }
        if (!last) return;
        raw = body.toString('utf8');
      }
      res.cork(() => answer(res, templates, raw, era));
    });
  });
  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').end();
  });
  let listening: us_listen_socket | null = null;
  app.listen(o.host, o.port, (ls) => {
    if (!ls) throw new Error(`cannot listen on ${o.host}:${o.port}`);
    listening = ls;
    process.stdout.write(`${JSON.stringify({ level: 'info', msg: 'listening', port: uWS.us_socket_local_port(ls), bare: true })}\n`);
  });
  const stop = (): void => {
    if (listening) uWS.us_listen_socket_close(listening);
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
