/**
 * The exact bytes of our node's answers, for the bare uWebSockets.js ceiling (bare-uws.ts): one
 * initialize, one tools/call echo on that session, and one 2026-07-28 tools/call echo without a
 * session (lib/modern.ts: as the SDK v2 client sends it) sent over a raw socket, the response head
 * and body kept as they arrived. The bare server builds its answers from them; before each of its runs the same
 * exchange is repeated against it and must match ours byte for byte, except the Date header's value
 * and the session id's value (a fresh random one of the same length).
 */
import { connect } from 'node:net';
import { initializeBody, INITIALIZED_BODY, POST_HEADERS, PROTOCOL_VERSION, toolsCallBody } from './mcp-client.js';
import { modernCallBody, modernCallHeaders } from './modern.js';

/** A JSON-RPC id and an echo text no answer contains by chance: where they appear, the bare server puts the request's own. */
export const PROBE_ID = 'probe-7c1e9a';
export const PROBE_TEXT = 'probe text 5d2b';
const CLIENT_NAME = 'bench';
/** A head or body larger than this is not an answer of the echo benchmark. */
const MAX_ANSWER_BYTES = 64 * 1024;
const TIMEOUT_MS = 10_000;

export interface RawAnswer {
  /** "HTTP/1.1 200 OK" */
  statusLine: string;
  /** [name, value] in the order and case they arrived. */
  headers: Array<[string, string]>;
  body: string;
}

export interface Exchange {
  init: RawAnswer;
  tools: RawAnswer;
  /** The 2026-07-28 tools/call echo (no session). */
  modern: RawAnswer;
}

/** Header names whose values differ between two correct answers. */
const VARYING = new Set(['date', 'mcp-session-id']);

function rawRequest(host: string, port: number, path: string, headers: Record<string, string>, body: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (err: Error): void => {
      socket.destroy();
      reject(err);
    };
    socket.setTimeout(TIMEOUT_MS, () => fail(new Error(`no complete answer from ${host}:${port} within ${TIMEOUT_MS} ms`)));
    socket.on('error', fail);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > MAX_ANSWER_BYTES) return fail(new Error(`answer over ${MAX_ANSWER_BYTES} bytes`));
      const all = Buffer.concat(chunks, size);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine, ...lines] = all.subarray(0, end).toString('latin1').split('\r\n');
      const parsed = lines.map((l): [string, string] => {
        const colon = l.indexOf(':');
        return [l.slice(0, colon), l.slice(colon + 1).trim()];
      });
      const length = parsed.find(([n]) => n.toLowerCase() === 'content-length');
      if (!length) return fail(new Error(`answer without Content-Length: ${statusLine}`));
      const bodyEnd = end + 4 + Number(length[1]);
      if (all.length < bodyEnd) return;
      socket.destroy();
      resolve({ statusLine, headers: parsed, body: all.subarray(end + 4, bodyEnd).toString('utf8') });
    });
    const head = Object.entries({ ...headers, host: `${host}:${port}`, 'content-length': String(Buffer.byteLength(body)) })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.write(`POST ${path} HTTP/1.1\r\n${head}\r\n${body}`);
  });
}

/** initialize, notifications/initialized, tools/call echo, modern tools/call echo: the three answers as they arrived. */
export async function captureExchange(url: string): Promise<Exchange> {
  const u = new URL(url);
  const host = u.hostname;
  const port = Number(u.port);
  const init = await rawRequest(host, port, u.pathname, { ...POST_HEADERS }, initializeBody(CLIENT_NAME, PROBE_ID));
  const sid = init.headers.find(([n]) => n.toLowerCase() === 'mcp-session-id')?.[1];
  if (!init.statusLine.includes(' 200 ') || sid === undefined)
    throw new Error(`initialize answered ${init.statusLine} without a session id`);
  const session = { ...POST_HEADERS, 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION };
  await rawRequest(host, port, u.pathname, session, INITIALIZED_BODY);
  const tools = await rawRequest(host, port, u.pathname, session, toolsCallBody(PROBE_ID, 'echo', { text: PROBE_TEXT }));
  if (!tools.statusLine.includes(' 200 ') || !tools.body.includes(JSON.stringify(PROBE_TEXT)))
    throw new Error(`tools/call echo answered ${tools.statusLine}: ${tools.body.slice(0, 200)}`);
  const modern = await rawRequest(
    host,
    port,
    u.pathname,
    modernCallHeaders('echo'),
    modernCallBody(PROBE_ID, 'echo', { text: PROBE_TEXT }, { name: CLIENT_NAME, version: '1' }),
  );
  if (!modern.statusLine.includes(' 200 ') || !modern.body.includes(JSON.stringify(PROBE_TEXT)))
    throw new Error(`modern tools/call echo answered ${modern.statusLine}: ${modern.body.slice(0, 200)}`);
  return { init, tools, modern };
}

/** What differs between two answers (empty: the same bytes but for the Date value and the session id value, same length). */
function answerDifferences(what: string, a: RawAnswer, b: RawAnswer): string[] {
  const out: string[] = [];
  if (a.statusLine !== b.statusLine)
    out.push(`${what}: status line ${JSON.stringify(b.statusLine)} instead of ${JSON.stringify(a.statusLine)}`);
  const names = (r: RawAnswer): string => r.headers.map(([n]) => n).join(', ');
  if (names(a) !== names(b)) out.push(`${what}: headers [${names(b)}] instead of [${names(a)}]`);
  else
    a.headers.forEach(([name, value], i) => {
      const other = b.headers[i][1];
      const varying = VARYING.has(name.toLowerCase());
      if (varying ? other.length !== value.length : other !== value)
        out.push(
          `${what}: header ${name} ${JSON.stringify(other)} instead of ${varying ? `${value.length} characters` : JSON.stringify(value)}`,
        );
    });
  if (a.body !== b.body)
    out.push(`${what}: body ${JSON.stringify(b.body.slice(0, 300))} instead of ${JSON.stringify(a.body.slice(0, 300))}`);
  return out;
}

export function exchangeDifferences(ours: Exchange, theirs: Exchange): string[] {
  return [
    ...answerDifferences('initialize', ours.init, theirs.init),
    ...answerDifferences('tools/call', ours.tools, theirs.tools),
    ...answerDifferences('modern tools/call', ours.modern, theirs.modern),
  ];
}
