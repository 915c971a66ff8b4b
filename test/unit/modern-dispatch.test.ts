/**
 * In-process: the worker's 2026-07-28 dispatcher against the built-in demo's Definitions — results
 * with resultType and caching hints, the envelope errors, multi-round-trip requests with sealed
 * state, capability checks, cancellation and log filtering. No front, no threads.
 */
import { describe, expect, it } from 'vitest';
import { createRequestStateSealer } from '../../src/cluster/request-state.js';
import { MODERN_VERSION } from '../../src/protocol/modern.js';
import { Definitions } from '../../workers/definitions.js';
import registerEverything from '../../workers/everything.js';
import { ModernDispatcher, type ModernRequest } from '../../workers/modern.js';

const CAPS = { sampling: {}, elicitation: {}, roots: {} };
const meta = (caps: object = CAPS, extra: object = {}): Record<string, unknown> => ({
  'io.modelcontextprotocol/protocolVersion': MODERN_VERSION,
  'io.modelcontextprotocol/clientInfo': { name: 'unit', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': caps,
  ...extra,
});

function setup(now = () => Date.now()) {
  const defs = new Definitions();
  registerEverything(defs);
  const sealer = createRequestStateSealer('a-cluster-secret-of-32-characters');
  const d = new ModernDispatcher(defs, sealer, {
    handlerTimeoutMs: 2000,
    listCache: { ttlMs: 60_000, cacheScope: 'private' },
    readCache: { ttlMs: 0, cacheScope: 'private' },
    now,
  });
  let nextId = 1;
  /** Sends one request; resolves with the HTTP status, the parsed body and the notifications before it. */
  const call = (method: string, params: Record<string, unknown> = {}, over: Partial<ModernRequest> = {}) =>
    new Promise<{ status: number; body: any; events: any[] }>((resolve) => {
      const events: any[] = [];
      const name = method === 'resources/read' ? params.uri : params.name;
      const req: ModernRequest = {
        id: nextId++,
        method,
        params: { _meta: meta(), ...params },
        headers: { protocolVersion: MODERN_VERSION, method, name: typeof name === 'string' ? name : '' },
        ...over,
      };
      d.dispatch(req, {
        notify: (b) => events.push(JSON.parse(b)),
        reply: (status, b) => resolve({ status, body: JSON.parse(b), events }),
      });
    });
  return { defs, d, call };
}

describe('modern dispatcher', () => {
  it('answers server/discover with versions, capabilities, serverInfo and caching hints', async () => {
    const { call } = setup();
    const { status, body } = await call('server/discover');
    expect(status).toBe(200);
    expect(body.result).toMatchObject({
      resultType: 'complete',
      ttlMs: 60_000,
      cacheScope: 'private',
      supportedVersions: [MODERN_VERSION],
      capabilities: { tools: { listChanged: true }, prompts: { listChanged: true }, resources: { subscribe: true, listChanged: true } },
      _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'mcp-storm-everything' } },
    });
  });

  it('puts resultType and caching hints on every list and read result, resultType on the rest', async () => {
    const { call } = setup();
    for (const m of ['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list']) {
      const { body } = await call(m);
      expect(body.result, m).toMatchObject({ resultType: 'complete', ttlMs: 60_000, cacheScope: 'private' });
    }
    const read = await call('resources/read', { uri: 'test://static-text' });
    expect(read.body.result).toMatchObject({
      resultType: 'complete',
      ttlMs: 0,
      cacheScope: 'private',
      contents: [{ text: expect.any(String) }],
    });
    const tool = await call('tools/call', { name: 'test_simple_text' });
    expect(tool.body.result).toMatchObject({ resultType: 'complete', content: [{ type: 'text' }] });
    expect(tool.body.result.ttlMs).toBeUndefined();
    const prompt = await call('prompts/get', { name: 'test_simple_prompt' });
    expect(prompt.body.result.resultType).toBe('complete');
    const completion = await call('completion/complete', {
      ref: { type: 'ref/prompt', name: 'test_prompt_with_arguments' },
      argument: { name: 'arg1', value: 'te' },
    });
    expect(completion.body.result).toMatchObject({ resultType: 'complete', completion: { values: expect.any(Array) } });
  });

  it('lists JSON Schema 2020-12 tool schemas with every keyword', async () => {
    const { call } = setup();
    const { body } = await call('tools/list');
    const tool = body.result.tools.find((t: any) => t.name === 'json_schema_2020_12_tool');
    expect(tool.inputSchema).toMatchObject({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $defs: { address: { type: 'object' } },
      additionalProperties: false,
      allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
      if: { required: ['contactMethod'] },
      then: { required: ['phone'] },
      else: { required: ['email'] },
    });
    expect(tool.inputSchema.$defs.address.$anchor).toBe('addressDef');
  });

  it('refuses envelope faults with the revision status and code, echoing the id', async () => {
    const { call } = setup();
    const noMeta = await call('server/discover', {}, { params: {} });
    expect([noMeta.status, noMeta.body.error.code, noMeta.body.id]).toEqual([400, -32602, expect.any(Number)]);
    const ping = await call('ping');
    expect([ping.status, ping.body.error.code]).toEqual([404, -32601]);
    const wrongName = await call(
      'tools/call',
      { name: 'test_simple_text' },
      { headers: { protocolVersion: MODERN_VERSION, method: 'tools/call', name: 'x' } },
    );
    expect([wrongName.status, wrongName.body.error.code]).toEqual([400, -32020]);
  });

  it('checks Mcp-Param headers against the tool schema', async () => {
    const { call } = setup();
    const args = { name: 'test_header_params', arguments: { region: 'Hello' } };
    const ok = await call('tools/call', args, { paramHeaders: { 'mcp-param-region': '=?base64?SGVsbG8=?=' } });
    expect(ok.body.result.content[0].text).toBe('region Hello');
    const missing = await call('tools/call', args);
    expect([missing.status, missing.body.error.code]).toEqual([400, -32020]);
    const badPad = await call('tools/call', args, { paramHeaders: { 'mcp-param-region': '=?base64?SGVsbG8?=' } });
    expect([badPad.status, badPad.body.error.code]).toEqual([400, -32020]);
  });

  it('turns inputRequired into an input_required result and completes on the retry', async () => {
    const { call } = setup();
    const r1 = await call('tools/call', { name: 'test_input_required_result_elicitation', arguments: {} });
    expect(r1.body.result).toMatchObject({
      resultType: 'input_required',
      inputRequests: { user_name: { method: 'elicitation/create', params: { requestedSchema: { required: ['name'] } } } },
    });
    const retry = await call('tools/call', {
      name: 'test_input_required_result_elicitation',
      arguments: {},
      inputResponses: { user_name: { action: 'accept', content: { name: 'Alice' } }, extra: { action: 'accept', content: {} } },
    });
    expect(retry.body.result).toMatchObject({ resultType: 'complete', content: [{ text: 'Hello, Alice!' }] });
    const wrong = await call('tools/call', {
      name: 'test_input_required_result_elicitation',
      inputResponses: { wrong_key: { action: 'accept', content: {} } },
    });
    expect(wrong.body.result.resultType).toBe('input_required');
    for (const bad of [{ user_name: 12345 }, null, []]) {
      const r = await call('tools/call', { name: 'test_input_required_result_elicitation', inputResponses: bad });
      expect(r.body.error.code, JSON.stringify(bad)).toBe(-32602);
    }
  });

  it('seals requestState, opens it on another dispatcher with the secret, refuses it altered, elsewhere or late', async () => {
    let now = 1_800_000_000_000;
    const a = setup(() => now);
    const b = setup(() => now);
    const name = 'test_input_required_result_multi_round';
    const r1 = await a.call('tools/call', { name, arguments: {} });
    const s1 = r1.body.result.requestState;
    expect(typeof s1).toBe('string');
    expect(s1).not.toContain('round');
    const r2 = await b.call('tools/call', {
      name,
      requestState: s1,
      inputResponses: { step1: { action: 'accept', content: { name: 'Ada' } } },
    });
    expect(r2.body.result.resultType).toBe('input_required');
    expect(r2.body.result.requestState).not.toBe(s1);
    const r3 = await a.call('tools/call', {
      name,
      requestState: r2.body.result.requestState,
      inputResponses: { step2: { action: 'accept', content: { color: 'blue' } } },
    });
    expect(r3.body.result).toMatchObject({ resultType: 'complete', content: [{ text: 'Ada likes blue' }] });
    const tampered = await a.call('tools/call', { name, requestState: `${s1}-TAMPERED` });
    expect(tampered.body.error.code).toBe(-32602);
    const otherTool = await a.call('tools/call', { name: 'test_input_required_result_request_state', requestState: s1 });
    expect(otherTool.body.error.code).toBe(-32602);
    now += 11 * 60_000;
    const late = await a.call('tools/call', { name, requestState: s1 });
    expect(late.body.error.code).toBe(-32602);
  });

  it('asks only through declared capabilities, else -32021 with 400', async () => {
    const { call } = setup();
    const m = meta({});
    const missing = await call('tools/call', { name: 'test_missing_capability', _meta: m });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatchObject({ code: -32021, data: { requiredCapabilities: { sampling: {} } } });
    const some = await call('tools/call', { name: 'test_input_required_result_capabilities', _meta: meta({ sampling: {} }) });
    expect(Object.values(some.body.result.inputRequests).map((r: any) => r.method)).toEqual(['sampling/createMessage']);
  });

  it('serves input_required on prompts/get too, never on lists', async () => {
    const { call } = setup();
    const r1 = await call('prompts/get', { name: 'test_input_required_result_prompt' });
    expect(r1.body.result.inputRequests.user_context.method).toBe('elicitation/create');
    const r2 = await call('prompts/get', {
      name: 'test_input_required_result_prompt',
      inputResponses: { user_context: { action: 'accept', content: { context: 'ctx' } } },
    });
    expect(r2.body.result).toMatchObject({ resultType: 'complete', messages: [{ content: { text: 'Context: ctx' } }] });
  });

  it('sends log messages only at or above the level the request set', async () => {
    const { call } = setup();
    const silent = await call('tools/call', { name: 'test_logging_tool' });
    expect(silent.events).toEqual([]);
    const loud = await call('tools/call', {
      name: 'test_logging_tool',
      _meta: meta(CAPS, { 'io.modelcontextprotocol/logLevel': 'debug' }),
    });
    expect(loud.events.map((e) => e.method)).toEqual(['notifications/message']);
    const quiet = await call('tools/call', {
      name: 'test_logging_tool',
      _meta: meta(CAPS, { 'io.modelcontextprotocol/logLevel': 'error' }),
    });
    expect(quiet.events).toEqual([]);
  });

  it('streams progress before the result', async () => {
    const { call } = setup();
    const r = await call('tools/call', { name: 'test_tool_with_progress', _meta: meta(CAPS, { progressToken: 'p1' }) });
    expect(r.events.filter((e) => e.method === 'notifications/progress').length).toBeGreaterThanOrEqual(3);
    expect(r.events.every((e) => e.params.progressToken === 'p1')).toBe(true);
    expect(r.body.result.resultType).toBe('complete');
  });

  it('cancels: the handler sees its signal aborted and nothing more is sent', async () => {
    const { defs, d } = setup();
    let seen: AbortSignal | null = null;
    defs.registerTool('hang', { description: 'waits for its signal' }, (_a, extra) => {
      seen = extra.signal;
      return new Promise(() => {});
    });
    const sent: string[] = [];
    const flight = d.dispatch(
      {
        id: 9,
        method: 'tools/call',
        params: { name: 'hang', _meta: meta() },
        headers: { protocolVersion: MODERN_VERSION, method: 'tools/call', name: 'hang' },
      },
      { notify: (b) => sent.push(b), reply: (_s, b) => sent.push(b) },
    );
    expect(flight).not.toBeNull();
    flight!.cancel();
    expect(seen!.aborted).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(sent).toEqual([]);
  });

  it('a signal first read after the cancel is already aborted, with the reason; extra and ctx.mcpReq share it', async () => {
    const { defs, d } = setup();
    let read: (() => AbortSignal[]) | null = null;
    defs.registerTool('later', { description: 'reads its signal only when asked' }, (_a, extra) => {
      read = () => [extra.signal, extra.signal, (extra as { mcpReq: { signal: AbortSignal } }).mcpReq.signal];
      return new Promise(() => {});
    });
    const flight = d.dispatch(
      {
        id: 10,
        method: 'tools/call',
        params: { name: 'later', _meta: meta() },
        headers: { protocolVersion: MODERN_VERSION, method: 'tools/call', name: 'later' },
      },
      { notify: () => {}, reply: () => {} },
    );
    await new Promise((r) => setImmediate(r));
    expect(read).not.toBeNull();
    flight!.cancel();
    const [a, b, c] = read!();
    expect(a.aborted).toBe(true);
    expect(a).toBe(b);
    expect(a).toBe(c);
    expect((a.reason as { rpcCode?: unknown }).rpcCode).toBe(-32800);
  });

  it('a handler past its timeout finds its signal aborted when it reads it, and the client got -32603 first', async () => {
    const defs = new Definitions();
    const d = new ModernDispatcher(defs, createRequestStateSealer('a-cluster-secret-of-32-characters'), {
      handlerTimeoutMs: 20,
      listCache: { ttlMs: 60_000, cacheScope: 'private' },
      readCache: { ttlMs: 0, cacheScope: 'private' },
      now: () => Date.now(),
    });
    let signal: AbortSignal | null = null;
    defs.registerTool('slow', { description: 'reads its signal after the timeout' }, (_a, extra) => {
      return new Promise((resolve) =>
        setTimeout(() => {
          signal = extra.signal;
          resolve({ content: [] });
        }, 100),
      );
    });
    const reply = await new Promise<any>((resolve) =>
      d.dispatch(
        {
          id: 11,
          method: 'tools/call',
          params: { name: 'slow', _meta: meta() },
          headers: { protocolVersion: MODERN_VERSION, method: 'tools/call', name: 'slow' },
        },
        { notify: () => {}, reply: (_s, b) => resolve(JSON.parse(b)) },
      ),
    );
    expect(reply.error.code).toBe(-32603);
    for (let i = 0; i < 100 && signal === null; i++) await new Promise((r) => setTimeout(r, 10));
    expect(signal!.aborted).toBe(true);
    expect((signal!.reason as { code?: unknown }).code).toBe('MCP_ERR_HANDLER_TIMEOUT');
  });
});

describe('the same handlers on a 2025 session', () => {
  /** An `extra` as a 2025 session builds it: server→client requests answered by `answer`. */
  const legacyExtra = (answer: (method: string) => unknown, sent: string[]) => ({
    signal: new AbortController().signal,
    sessionId: 's',
    requestId: 1,
    sendNotification: () => Promise.resolve(),
    sendRequest: (r: { method: string }) => {
      sent.push(r.method);
      return Promise.resolve(answer(r.method)) as Promise<any>;
    },
    closeSSEStream: () => {},
  });
  const answer = (method: string): unknown =>
    method === 'roots/list'
      ? { roots: [] }
      : method === 'sampling/createMessage'
        ? { role: 'assistant', content: { type: 'text', text: 'Paris' }, model: 'm' }
        : { action: 'accept', content: { name: 'Ada', color: 'blue', ok: true, context: 'c' } };

  it('turns inputRequired into real server-to-client requests, round after round', async () => {
    const { defs } = setup();
    const sent: string[] = [];
    const r = await defs.callTool({ name: 'test_input_required_result_multi_round', arguments: {} }, legacyExtra(answer, sent));
    expect(r).toMatchObject({ content: [{ text: 'Ada likes blue' }] });
    expect(sent).toEqual(['elicitation/create', 'elicitation/create']);
    const multi: string[] = [];
    await defs.callTool({ name: 'test_input_required_result_multiple_inputs' }, legacyExtra(answer, multi));
    expect(multi.sort()).toEqual(['elicitation/create', 'roots/list', 'sampling/createMessage']);
    const prompt = await defs.getPrompt({ name: 'test_input_required_result_prompt' }, legacyExtra(answer, []));
    expect(prompt).toMatchObject({ messages: [{ content: { text: 'Context: c' } }] });
  });

  it('stops a handler that never stops asking', async () => {
    const { defs } = setup();
    const sent: string[] = [];
    // Declines every time: the handler asks again, up to the bound, then the call fails as a tool error.
    const r = await defs.callTool(
      { name: 'test_input_required_result_elicitation' },
      legacyExtra(() => ({ action: 'decline' }), sent),
    );
    expect(r).toMatchObject({ isError: true });
    expect(sent.length).toBe(8);
  });
});
