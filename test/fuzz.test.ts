/**
 * Property-based fuzzing (fast-check) of a real node through raw sockets. Random
 * bytes (0x00-0xFF, 0x7F included) go into every header the node reads, on POST, GET and DELETE;
 * random JSON bodies (odd JSON-RPC shapes, batches, deep nesting, big numbers, lone surrogates, bytes
 * that are not UTF-8) go to live sessions. The same header fuzz runs through forwarding: requests for
 * one node's sessions sent straight to the other node of a 2-node cluster.
 *
 * Every answer must carry a status from the allowed set (never 500) with a parseable JSON body; no
 * answer at all is allowed only for requests uWS's HTTP parser refuses (a control byte in a header
 * value, no Host, a Content-Length that is not the body's length), which it closes without a status. After the
 * fuzz, the node is alive, the sessions opened before it still answer tools/call, and
 * mcp_internal_errors_total is 0.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type Cluster } from './helpers/cluster.js';
import { rawRequest, type RawRequest, type RawResponse } from './helpers/raw-http.js';
import { initialize, metricValue, rpc, startServer, type TestServer } from './helpers/server.js';

/** Statuses the node answers by design (409: a second GET stream for one session). */
const ALLOWED = new Set([200, 202, 400, 403, 404, 405, 406, 409, 413, 415]);
const RUNS = 500;
/** One answer takes milliseconds; this only bounds a request that would hang. */
const REQUEST_MS = Number(process.env.FUZZ_REQUEST_MS ?? 5000);
const VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '1999-01-01'];
const QUICK_TOOLS = [
  'test_simple_text',
  'test_image_content',
  'test_audio_content',
  'test_embedded_resource',
  'test_multiple_content_types',
  'test_error_handling',
  'test_tool_with_logging',
  'no_such_tool',
];
const METHODS = [
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/read',
  'resources/templates/list',
  'resources/subscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'initialize',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/roots/list_changed',
  'x/unknown',
  '',
];

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

interface FieldSpec {
  /** Values the node accepts. */
  good: readonly string[];
  /** Well-formed values it refuses (wrong host, foreign origin, unknown revision ...). */
  wrong?: readonly string[];
  /** How often the header is left out, against 30 for a good value (default 5). */
  absent?: number;
}

/** A value the node accepts, or none. */
function plausible(f: FieldSpec): fc.Arbitrary<Buffer | null> {
  return fc.oneof(
    { weight: 30, arbitrary: fc.constantFrom(...f.good).map(bytes) },
    { weight: f.absent ?? 5, arbitrary: fc.constant(null) },
  );
}

/** A hostile value: random bytes, a good one with a random byte (often 0x7F-0xFF) in it, a wrong one. */
function hostile(f: FieldSpec): fc.Arbitrary<Buffer | null> {
  const insert = (byte: fc.Arbitrary<number>): fc.Arbitrary<Buffer> =>
    fc.tuple(fc.constantFrom(...f.good), fc.nat(), byte).map(([v, at, b]) => {
      const buf = bytes(v);
      const i = buf.length === 0 ? 0 : at % (buf.length + 1);
      return Buffer.concat([buf.subarray(0, i), Buffer.from([b]), buf.subarray(i)]);
    });
  return fc.oneof(
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 48 }).map((a) => Buffer.from(a)) },
    { weight: 2, arbitrary: fc.uint8Array({ min: 0x20, maxLength: 48 }).map((a) => Buffer.from(a)) },
    { weight: 1, arbitrary: insert(fc.integer({ min: 0, max: 255 })) },
    { weight: 4, arbitrary: insert(fc.integer({ min: 0x7f, max: 0xff })) },
    { weight: 1, arbitrary: fc.constantFrom('', ...(f.wrong ?? [])).map(bytes) },
  );
}

/** Good values, except for one or two headers that get hostile ones. */
function headerValues<K extends string>(spec: Record<K, FieldSpec>): fc.Arbitrary<Record<K, Buffer | null>> {
  const names = Object.keys(spec) as K[];
  const plain = fc.record(Object.fromEntries(names.map((n) => [n, plausible(spec[n])])));
  const bad = fc.record(Object.fromEntries(names.map((n) => [n, hostile(spec[n])])));
  return fc.tuple(plain, bad, fc.uniqueArray(fc.constantFrom(...names), { minLength: 1, maxLength: 2 })).map(([p, b, chosen]) => {
    const out = { ...p };
    for (const n of chosen) out[n] = b[n];
    return out;
  });
}

/** True when uWS's parser refuses the head: a control byte other than HTAB in a value (CR, LF included). */
function hasControlByte(v: Buffer): boolean {
  for (const b of v) if (b < 0x20 && b !== 0x09) return true;
  return false;
}

interface Fuzzed {
  req: RawRequest;
  /** uWS may close without an answer (malformed HTTP framing or header bytes). */
  mayGoUnanswered: boolean;
}

/** A POST body that is a plausible message for a session (so the fuzzed headers decide the outcome). */
const plausibleBody = fc.constantFrom(
  JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
  JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'test_simple_text', arguments: {} } }),
  JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  JSON.stringify({
    jsonrpc: '2.0',
    id: 3,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'fuzz', version: '1' } },
  }),
  '',
  '{',
);

/** Content-Length: the right one (most often), padded, smaller, larger, junk, or random bytes. */
const contentLength = fc.oneof(
  { weight: 12, arbitrary: fc.constant('exact') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(' exact ', 'smaller', 'larger', '-1', '1e3', '0x10', '+5', '5,5', '99999999999999999999999', ''),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a).toString('latin1')) },
);

function headerCase(port: number, sessions: () => readonly string[]): fc.Arbitrary<Fuzzed> {
  // Live sessions (most often), one with its tag broken, and forged ids.
  const live = sessions();
  const sessionIds = [
    ...live,
    ...live,
    live[0].slice(0, -1) + (live[0].endsWith('A') ? 'B' : 'A'),
    'x',
    'a.b.c',
    'AAAAAAAAAAAAAAAAAAAAAA.bm9kZTE.AAAAAAAAAAAAAAAA',
  ];
  return fc
    .record({
      method: fc.constantFrom('POST', 'GET', 'DELETE'),
      h: headerValues({
        host: { good: [`127.0.0.1:${port}`], wrong: ['localhost', '[::1]:80', 'evil.example', `127.0.0.1:${port}:${port}`], absent: 1 },
        origin: { good: [`http://127.0.0.1:${port}`], wrong: ['http://localhost', 'http://evil.example', 'null'], absent: 60 },
        accept: { good: ['application/json, text/event-stream'], wrong: ['text/event-stream', 'application/json', '*/*'] },
        contentType: { good: ['application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON'], wrong: ['text/plain'] },
        sessionId: { good: sessionIds },
        version: { good: VERSIONS.slice(0, 3), wrong: VERSIONS.slice(3) },
        lastEventId: { good: ['0', '1', 'abc', '99999999999999999999', '0_0_0'], absent: 60 },
      }),
      body: plausibleBody,
      cl: contentLength,
    })
    .map((c) => {
      const headers: Array<[string, Buffer]> = [];
      const add = (name: string, v: Buffer | null): void => {
        if (v !== null) headers.push([name, v]);
      };
      const h = c.h;
      add('host', h.host);
      add('origin', h.origin);
      add('accept', h.accept);
      add('mcp-session-id', h.sessionId);
      add('mcp-protocol-version', h.version);
      add('last-event-id', h.lastEventId);
      let body: Buffer | null = null;
      let framingOff = false;
      let declaresMore = false;
      if (c.method === 'POST') {
        add('content-type', h.contentType);
        body = Buffer.from(c.body);
        const n = body.length;
        const cl =
          c.cl === 'exact'
            ? String(n)
            : c.cl === ' exact '
              ? ` ${n} `
              : c.cl === 'smaller'
                ? String(Math.max(0, n - 1))
                : c.cl === 'larger'
                  ? String(n + 10)
                  : c.cl;
        headers.push(['content-length', bytes(cl)]);
        const t = cl.trim();
        framingOff = !/^\d+$/.test(t) || Number(t) !== n;
        declaresMore = /^\d+$/.test(t) && Number(t) > n;
      }
      // uWS closes an HTTP/1.1 request without Host, as it does a head it cannot parse.
      const unparsable = h.host === null || headers.some(([, v]) => hasControlByte(v));
      return {
        // uWS waits for the rest of a body declared longer than sent, and gives no answer to a head it
        // cannot parse until its idle timeout (about 10 s) closes the socket: the half-close ends both.
        req: { method: c.method, headers, body, endAfterWrite: declaresMore || unparsable },
        mayGoUnanswered: unparsable || framingOff,
      };
    });
}

/** The answer is one the node gives by design; returns a reason when it is not. */
function problem(f: Fuzzed, r: RawResponse): string | null {
  if (r.status === 0) return f.mayGoUnanswered ? null : `no answer (${r.end})`;
  if (!ALLOWED.has(r.status)) return `status ${r.status}: ${r.body.slice(0, 200)}`;
  if ((r.headers['content-type'] ?? '').startsWith('application/json') && r.complete) {
    try {
      JSON.parse(r.body);
    } catch {
      return `status ${r.status} with a body that is not JSON: ${r.body.slice(0, 200)}`;
    }
  }
  return null;
}

function describeCase(f: Fuzzed): string {
  return `${f.req.method} ${f.req.headers.map(([n, v]) => `${n}=${JSON.stringify(v.toString('latin1'))}`).join(' ')} body=${JSON.stringify(f.req.body?.toString('latin1').slice(0, 80) ?? null)}`;
}

async function expectToolsCall(url: string, sid: string): Promise<void> {
  const res = await rpc(url, sid, { jsonrpc: '2.0', id: 42, method: 'tools/call', params: { name: 'test_simple_text', arguments: {} } });
  expect(res.status).toBe(200);
  const text = await res.text();
  const body = JSON.parse(text.startsWith('{') ? text : /^data: (.*)$/m.exec(text)![1]);
  expect(body.id).toBe(42);
  expect(body.result.content[0].type).toBe('text');
}

async function internalErrors(base: string): Promise<number> {
  return metricValue(base, 'mcp_internal_errors_total');
}

// --- JSON bodies ---------------------------------------------------------------------------------

const loneSurrogate = fc.constantFrom('\ud800', '\udfff', 'a\ud83d', '\ude00b', '\udbff\udbff');
const odd = fc.oneof(fc.string({ unit: 'binary', maxLength: 20 }), loneSurrogate);
const anyJson = fc.oneof(fc.jsonValue({ maxDepth: 4 }), odd);
const ID_LITERALS = [
  '1e400',
  '-1e400',
  '123456789012345678901234567890',
  '-0',
  '0.5',
  '1E2',
  'null',
  'true',
  '{}',
  '[]',
  '"x"',
  '9007199254740993',
];

/** One JSON-RPC-ish object; `id` may become a raw literal (big numbers JSON.parse turns into Infinity). */
const message = fc
  .record(
    {
      jsonrpc: fc.oneof({ weight: 5, arbitrary: fc.constant('2.0') }, { weight: 1, arbitrary: anyJson }),
      id: fc.oneof(
        { weight: 6, arbitrary: fc.integer() },
        { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
        { weight: 2, arbitrary: fc.constant('__ID__') },
        { weight: 1, arbitrary: anyJson },
      ),
      method: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...METHODS) }, { weight: 1, arbitrary: odd }),
      params: fc.oneof(
        {
          weight: 3,
          arbitrary: fc.record({
            name: fc.constantFrom(...QUICK_TOOLS),
            arguments: fc.dictionary(fc.string({ maxLength: 6 }), anyJson, { maxKeys: 4 }),
          }),
        },
        {
          weight: 2,
          arbitrary: fc.record(
            {
              uri: fc.oneof(fc.constantFrom('test://static-text', 'test://watched-resource', 'file:///etc/passwd'), odd),
              level: fc.constantFrom('debug', 'emergency', 'x'),
              protocolVersion: fc.constantFrom(...VERSIONS),
            },
            { requiredKeys: [] },
          ),
        },
        { weight: 1, arbitrary: anyJson },
      ),
      result: anyJson,
      error: fc.oneof(fc.record({ code: fc.integer(), message: odd }), anyJson),
    },
    // Mostly requests and notifications; any key may be missing.
    { requiredKeys: [] },
  )
  .map((m) => {
    const o: Record<string, unknown> = m;
    return { jsonrpc: '2.0', method: 'ping', ...o };
  })
  .chain((m) => fc.constantFrom(...ID_LITERALS).map((lit) => JSON.stringify(m).replace('"__ID__"', lit)));

/** Nested arrays/objects deeper than any recursive walk should follow. */
const deep = fc.tuple(fc.integer({ min: 500, max: 20_000 }), fc.boolean(), fc.boolean()).map(([n, objects, asParams]) => {
  const inner = objects ? '{"a":'.repeat(n) + '1' + '}'.repeat(n) : '['.repeat(n) + ']'.repeat(n);
  return asParams
    ? `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"test_simple_text","arguments":{"x":${inner}}}}`
    : inner;
});

const body = fc.oneof(
  { weight: 6, arbitrary: message.map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.object().map((o) => Buffer.from(JSON.stringify(o))) },
  { weight: 2, arbitrary: fc.array(message, { maxLength: 5 }).map((a) => Buffer.from(`[${a.join(',')}]`)) },
  { weight: 1, arbitrary: deep.map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
  // Bytes that are not UTF-8 inside a string literal, and random bytes.
  {
    weight: 1,
    arbitrary: fc
      .uint8Array({ maxLength: 8 })
      .map((a) =>
        Buffer.concat([
          Buffer.from('{"jsonrpc":"2.0","id":1,"method":"ping","params":{"s":"'),
          Buffer.from(a.map((b) => (b === 0x22 || b === 0x5c ? 0x80 : b))),
          Buffer.from('"}}'),
        ]),
      ),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)) },
);

describe('fuzz: one node', () => {
  let srv: TestServer;
  const witnesses: string[] = [];
  const targets: string[] = [];

  beforeAll(async () => {
    srv = await startServer({ env: { WORKERS: '2' } });
    for (let i = 0; i < 3; i++) witnesses.push((await initialize(srv.url)).sid);
    for (let i = 0; i < 4; i++) targets.push((await initialize(srv.url)).sid);
    for (const sid of witnesses) await expectToolsCall(srv.url, sid);
  }, 30_000);
  afterAll(async () => {
    await srv?.stop();
  });

  it('random bytes in every header the node reads, on POST, GET and DELETE', async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        headerCase(srv.port, () => targets),
        async (f) => {
          const r = await rawRequest(srv.port, f.req, REQUEST_MS);
          seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
          const p = problem(f, r);
          if (p) throw new Error(`${p}\n${describeCase(f)}`);
        },
      ),
      { numRuns: RUNS },
    );
    // The fuzz reached past the header checks, not only into them.
    expect([...seen.keys()].filter((s) => s >= 200 && s < 300).length, JSON.stringify([...seen])).toBeGreaterThan(0);
    console.log(JSON.stringify([...seen]));
  }, 60_000);

  it('random JSON bodies for live sessions and for initialize', async () => {
    const live = [(await initialize(srv.url)).sid, (await initialize(srv.url)).sid];
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(body, fc.constantFrom(...live, ''), fc.constantFrom(...VERSIONS.slice(0, 3)), async (b, sid, version) => {
        const headers: Array<[string, string]> = [
          ['host', `127.0.0.1:${srv.port}`],
          ['content-type', 'application/json'],
          ['accept', 'application/json, text/event-stream'],
          ['mcp-protocol-version', version],
        ];
        if (sid) headers.push(['mcp-session-id', sid]);
        const f: Fuzzed = { req: { method: 'POST', headers, body: b }, mayGoUnanswered: false };
        const r = await rawRequest(srv.port, f.req, REQUEST_MS);
        seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
        const p = problem(f, r);
        if (p) throw new Error(`${p}\nbody=${JSON.stringify(b.toString('latin1').slice(0, 300))} sid=${sid ? 'live' : 'none'}`);
      }),
      { numRuns: RUNS },
    );
    console.log(JSON.stringify([...seen]));
  }, 60_000);

  it('afterwards: the node is alive, the sessions opened before the fuzz answer tools/call, nothing was an internal error', async () => {
    expect(srv.proc.exitCode).toBeNull();
    expect((await fetch(`${srv.base}/healthz`)).status).toBe(200);
    for (const sid of witnesses) await expectToolsCall(srv.url, sid);
    expect(await internalErrors(srv.base)).toBe(0);
    expect(srv.logs.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual([]);
  });
});

describe("fuzz through forwarding: requests for node1's sessions sent to node2", () => {
  let cluster: Cluster;
  const witnesses: string[] = [];
  const targets: string[] = [];
  const node = (i: number): string => `http://127.0.0.1:${cluster.nodes[i].port}`;

  beforeAll(async () => {
    cluster = await startTestCluster({}, 2);
    for (let i = 0; i < 2; i++) witnesses.push((await initialize(`${node(0)}/mcp`)).sid);
    for (let i = 0; i < 3; i++) targets.push((await initialize(`${node(0)}/mcp`)).sid);
    // node2 forwards once it knows where node1 is: a forwarded call proves it.
    for (const sid of witnesses) await expectToolsCall(`${node(1)}/mcp`, sid);
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('a header value Node cannot send (0x7F) gets 400 from the forwarding node', async () => {
    const r = await rawRequest(cluster.nodes[1].port, {
      method: 'GET',
      headers: [
        ['host', '127.0.0.1'],
        ['accept', 'text/event-stream'],
        ['mcp-session-id', targets[0]],
        ['mcp-protocol-version', '2025-11-25'],
        ['last-event-id', bytes('a\x7fb')],
      ],
    });
    expect(r.status, r.body).toBe(400);
    JSON.parse(r.body);
  });

  it('random bytes in every forwarded header, on POST, GET and DELETE', async () => {
    const port = cluster.nodes[1].port;
    await fc.assert(
      fc.asyncProperty(
        headerCase(port, () => targets),
        async (f) => {
          const r = await rawRequest(port, f.req, REQUEST_MS);
          const p = problem(f, r);
          if (p) throw new Error(`${p}\n${describeCase(f)}`);
        },
      ),
      { numRuns: 200 },
    );
  }, 60_000);

  it("afterwards: both nodes are alive and node1's earlier sessions answer, directly and through node2", async () => {
    for (const n of cluster.nodes) expect(n.proc?.exitCode ?? null).toBeNull();
    for (const sid of witnesses) {
      await expectToolsCall(`${node(0)}/mcp`, sid);
      await expectToolsCall(`${node(1)}/mcp`, sid);
    }
    expect(await internalErrors(node(0))).toBe(0);
    expect(await internalErrors(node(1))).toBe(0);
  });
});
