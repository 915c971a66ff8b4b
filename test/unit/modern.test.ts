/** In-process: the 2026-07-28 envelope — era detection, `_meta` and header checks, results. */
import { describe, expect, it } from 'vitest';
import { RpcCodes } from '../../src/errors.js';
import {
  bodyIsModern,
  checkEnvelope,
  checkParamHeaders,
  completeJson,
  decodeHeaderValue,
  Era,
  eraOfHeaders,
  headerParamsOf,
  listenAckBody,
  listenFilter,
  listenNotificationBody,
  MODERN_VERSION,
  modernErrorBody,
  shapeResult,
  type ListenFilter,
  type ModernHeaders,
} from '../../src/protocol/modern.js';

const META = {
  'io.modelcontextprotocol/protocolVersion': MODERN_VERSION,
  'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};
const H = (method: string, name = ''): ModernHeaders => ({ protocolVersion: MODERN_VERSION, method, name });
const b64 = (s: string): string => `=?base64?${Buffer.from(s, 'utf8').toString('base64')}?=`;

describe('era detection', () => {
  it('takes the 2025 path for a session or a 2025 version header, the modern path otherwise', () => {
    expect(eraOfHeaders(MODERN_VERSION, '')).toBe(Era.Modern);
    expect(eraOfHeaders(' 2026-07-28 ', '')).toBe(Era.Modern);
    expect(eraOfHeaders('v999.0.0', '')).toBe(Era.Modern);
    expect(eraOfHeaders(MODERN_VERSION, 'abc')).toBe(Era.Legacy);
    expect(eraOfHeaders('2025-11-25', '')).toBe(Era.Legacy);
    expect(eraOfHeaders('2025-03-26', '')).toBe(Era.Legacy);
    expect(eraOfHeaders('', '')).toBe(Era.Undecided);
    expect(eraOfHeaders('', 'abc')).toBe(Era.Legacy);
  });

  it('reads the body only for a protocol version in _meta', () => {
    expect(bodyIsModern({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: META } })).toBe(true);
    expect(bodyIsModern({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25' } })).toBe(false);
    expect(bodyIsModern({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: { progressToken: 1 } } })).toBe(false);
    expect(bodyIsModern([{ params: { _meta: META } }])).toBe(false);
    expect(bodyIsModern(null)).toBe(false);
  });
});

describe('envelope', () => {
  it('accepts a complete request, clientInfo optional', () => {
    expect(checkEnvelope('tools/list', { _meta: META }, H('tools/list'))).toBeNull();
    const { ['io.modelcontextprotocol/clientInfo']: _, ...noInfo } = META;
    expect(checkEnvelope('server/discover', { _meta: noInfo }, H('server/discover'))).toBeNull();
    expect(checkEnvelope('tools/call', { name: 'echo', _meta: META }, H('tools/call', '  echo\t'))).toBeNull();
    expect(checkEnvelope('resources/read', { uri: 'test://ü', _meta: META }, H('resources/read', b64('test://ü')))).toBeNull();
  });

  it('refuses a missing or incomplete _meta with 400 and -32602', () => {
    for (const params of [undefined, {}, { _meta: [] }, { _meta: { ...META, 'io.modelcontextprotocol/protocolVersion': undefined } }]) {
      const e = checkEnvelope('server/discover', params, H('server/discover'));
      expect(e).toMatchObject({ status: 400, code: RpcCodes.INVALID_PARAMS });
    }
    const noCaps = { ...META, 'io.modelcontextprotocol/clientCapabilities': undefined };
    expect(checkEnvelope('server/discover', { _meta: noCaps }, H('server/discover'))).toMatchObject({ status: 400, code: -32602 });
  });

  it('answers an unknown version with -32022, its list and the requested version', () => {
    const meta = { ...META, 'io.modelcontextprotocol/protocolVersion': 'v999.0.0' };
    const e = checkEnvelope('server/discover', { _meta: meta }, { ...H('server/discover'), protocolVersion: 'v999.0.0' });
    expect(e).toEqual({
      status: 400,
      code: RpcCodes.UNSUPPORTED_PROTOCOL_VERSION,
      message: expect.any(String),
      data: { supported: [MODERN_VERSION], requested: 'v999.0.0' },
    });
  });

  it('answers a version header that disagrees with _meta, or is missing, with -32020', () => {
    const meta = { ...META, 'io.modelcontextprotocol/protocolVersion': 'v999.0.0' };
    expect(checkEnvelope('server/discover', { _meta: meta }, H('server/discover'))).toMatchObject({ status: 400, code: -32020 });
    expect(checkEnvelope('tools/list', { _meta: META }, { ...H('tools/list'), protocolVersion: '' })).toMatchObject({ code: -32020 });
  });

  it('answers removed and unknown methods with 404 and -32601', () => {
    for (const m of ['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe', 'unknown/method']) {
      expect(checkEnvelope(m, { _meta: META }, H(m)), m).toMatchObject({ status: 404, code: RpcCodes.METHOD_NOT_FOUND });
    }
  });

  it('compares Mcp-Method and Mcp-Name with the body, values case-sensitive', () => {
    const bad: Array<[string, unknown, ModernHeaders]> = [
      ['tools/list', { _meta: META }, H('prompts/list')],
      ['tools/list', { _meta: META }, H('')],
      ['tools/list', { _meta: META }, H('TOOLS/LIST')],
      ['tools/call', { name: 'echo', _meta: META }, H('tools/call', 'wrong')],
      ['tools/call', { name: 'echo', _meta: META }, H('tools/call')],
      ['prompts/get', { name: 'p', _meta: META }, H('prompts/get', '=?base64?cA?=')],
      ['resources/read', { uri: 'a\nb', _meta: META }, H('resources/read', 'a\nb')],
    ];
    for (const [m, p, h] of bad) expect(checkEnvelope(m, p, h), `${m} ${JSON.stringify(h)}`).toMatchObject({ status: 400, code: -32020 });
  });

  it('writes the error with the request id and the data', () => {
    const body = JSON.parse(modernErrorBody(7, { status: 400, code: -32022, message: 'x', data: { supported: ['a'], requested: 'b' } }));
    expect(body).toEqual({ jsonrpc: '2.0', id: 7, error: { code: -32022, message: 'x', data: { supported: ['a'], requested: 'b' } } });
  });
});

describe('Mcp-Param headers', () => {
  const schema = {
    type: 'object',
    properties: {
      region: { type: 'string', 'x-mcp-header': 'Region' },
      priority: { type: 'integer', 'x-mcp-header': 'Priority' },
      verbose: { type: 'boolean', 'x-mcp-header': 'Verbose' },
      score: { type: 'number', 'x-mcp-header': 'Score' },
      bad: { type: 'string', 'x-mcp-header': 'Has Space' },
      nested: { type: 'object', properties: { zone: { type: 'string', 'x-mcp-header': 'Zone' } } },
      list: { type: 'array', items: { type: 'object', properties: { x: { type: 'string', 'x-mcp-header': 'X' } } } },
      query: { type: 'string' },
    },
  };
  const params = headerParamsOf(schema);

  it('finds annotations on primitive properties reached through properties only', () => {
    expect(params.map((p) => [p.header, p.path.join('.'), p.type])).toEqual([
      ['mcp-param-region', 'region', 'string'],
      ['mcp-param-priority', 'priority', 'integer'],
      ['mcp-param-verbose', 'verbose', 'boolean'],
      ['mcp-param-zone', 'nested.zone', 'string'],
    ]);
    expect(headerParamsOf({ type: 'object' })).toEqual([]);
  });

  it('accepts matching, Base64-encoded and literal look-alike values', () => {
    const args = { region: 'Hello', priority: 42, verbose: false, nested: { zone: ' padded ' }, query: 'q' };
    const h = {
      'mcp-param-region': b64('Hello'),
      'mcp-param-priority': '42.0',
      'mcp-param-verbose': 'false',
      'mcp-param-zone': b64(' padded '),
    };
    expect(checkParamHeaders(params, args, h)).toBeNull();
    const lit = Buffer.from('Hello').toString('base64');
    expect(checkParamHeaders(params, { region: lit }, { 'mcp-param-region': lit })).toBeNull();
    expect(checkParamHeaders(params, { region: `=?base64?${lit}` }, { 'mcp-param-region': `=?base64?${lit}` })).toBeNull();
    // null or absent values expect no header.
    expect(checkParamHeaders(params, { region: null }, {})).toBeNull();
  });

  it('refuses a missing header, bad Base64, bad characters and mismatches with -32020', () => {
    for (const [args, h] of [
      [{ region: 'Hello' }, {}],
      [{ region: 'Hello' }, { 'mcp-param-region': '=?base64?SGVsbG8?=' }],
      [{ region: 'Hello' }, { 'mcp-param-region': '=?base64?SGVs!!!bG8=?=' }],
      [{ region: 'Hello' }, { 'mcp-param-region': 'Hell\x01' }],
      [{ region: 'Hello' }, { 'mcp-param-region': 'hello' }],
      [{ priority: 42 }, { 'mcp-param-priority': '43' }],
      [{ priority: 42 }, { 'mcp-param-priority': '' }],
      [{ verbose: true }, { 'mcp-param-verbose': 'TRUE' }],
    ] as const) {
      expect(checkParamHeaders(params, args, h), JSON.stringify(h)).toMatchObject({ status: 400, code: -32020 });
    }
  });

  it('decodes strictly', () => {
    expect(decodeHeaderValue(b64('Hello, 世界'))).toBe('Hello, 世界');
    expect(decodeHeaderValue('=?base64?/w==?=')).toBeNull(); // not UTF-8
    expect(decodeHeaderValue('  x  ')).toBe('x');
    expect(decodeHeaderValue('é')).toBeNull();
  });
});

describe('subscriptions/listen', () => {
  it('reads the filter, bounded, and acknowledges what it honors with the subscription id', () => {
    const f = listenFilter({ notifications: { toolsListChanged: true, resourceSubscriptions: ['a://x'] } });
    expect(f).toMatchObject({ tools: true, prompts: false, resources: false });
    expect(JSON.parse(listenAckBody(7, f as ListenFilter))).toEqual({
      jsonrpc: '2.0',
      method: 'notifications/subscriptions/acknowledged',
      params: {
        notifications: { toolsListChanged: true, resourceSubscriptions: ['a://x'] },
        _meta: { 'io.modelcontextprotocol/subscriptionId': 7 },
      },
    });
    for (const bad of [
      {},
      { notifications: [] },
      { notifications: { resourceSubscriptions: [1] } },
      { notifications: { resourceSubscriptions: Array(257).fill('u') } },
    ])
      expect(listenFilter(bad), JSON.stringify(bad).slice(0, 80)).toMatchObject({ code: -32602 });
    expect(JSON.parse(listenNotificationBody('notifications/resources/updated', 'L1', { uri: 'a://x' }))).toEqual({
      jsonrpc: '2.0',
      method: 'notifications/resources/updated',
      params: { uri: 'a://x', _meta: { 'io.modelcontextprotocol/subscriptionId': 'L1' } },
    });
  });
});

describe('results', () => {
  it('splices resultType and caching hints into a serialised result', () => {
    expect(JSON.parse(completeJson('{}'))).toEqual({ resultType: 'complete' });
    expect(JSON.parse(completeJson('{"tools":[]}', { ttlMs: 0, cacheScope: 'private' }))).toEqual({
      resultType: 'complete',
      ttlMs: 0,
      cacheScope: 'private',
      tools: [],
    });
  });

  it('keeps a handler-set resultType and valid hints, fixes invalid ones', () => {
    expect(shapeResult({ content: [] })).toEqual({ content: [], resultType: 'complete' });
    expect(shapeResult({ resultType: 'input_required' })).toEqual({ resultType: 'input_required' });
    const hints = { ttlMs: 5, cacheScope: 'public' } as const;
    expect(shapeResult({ contents: [], ttlMs: 9, cacheScope: 'private' }, hints)).toMatchObject({ ttlMs: 9, cacheScope: 'private' });
    expect(shapeResult({ contents: [], ttlMs: -1, cacheScope: 'shared' }, hints)).toMatchObject({ ttlMs: 5, cacheScope: 'public' });
  });
});
