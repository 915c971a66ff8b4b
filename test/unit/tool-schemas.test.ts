/**
 * In-process: one worker's Definitions (workers/definitions.ts, workers/schemas.ts) take tool modules
 * in both SDK shapes side by side. zod 3 shapes and plain JSON Schema as before; zod 4 objects, raw
 * shapes of zod 4 fields and any Standard Schema with the JSON Schema extension are listed as JSON
 * Schema and validated through `~standard.validate`; a schema that cannot be listed fails its
 * registration; `completable(...)` completes also under `.optional()`; handlers get the SDK v2 context
 * (`ctx.mcpReq`, `ctx.http`) in both eras, and the SDK v2's own `inputRequired` runs in rounds on a
 * 2025 session.
 */
import { inputRequired as sdkInputRequired, completable as sdkCompletable } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import { z as z3 } from 'zod';
import * as z4 from 'zod-v4';
import { completable } from '../../workers/api.js';
import type { HandlerContext, HandlerExtra, JsonRpcNotification, JsonRpcRequestOut, McpRequestContext } from '../../workers/api.js';
import { Definitions } from '../../workers/definitions.js';

type Json = Record<string, unknown>;

/** A 2025-session `extra`: what was sent is recorded, requests to the client are answered by `answer`. */
function legacyExtra(answer: (r: JsonRpcRequestOut) => unknown = () => ({})): {
  extra: HandlerExtra;
  notes: JsonRpcNotification[];
  asked: JsonRpcRequestOut[];
} {
  const notes: JsonRpcNotification[] = [];
  const asked: JsonRpcRequestOut[] = [];
  const extra: HandlerExtra = {
    signal: new AbortController().signal,
    sessionId: 's1',
    requestId: 7,
    sendNotification: (n) => {
      notes.push(n);
      return Promise.resolve();
    },
    sendRequest: <T>(r: JsonRpcRequestOut) => {
      asked.push(r);
      return Promise.resolve(answer(r) as T);
    },
    closeSSEStream: () => {},
  };
  return { extra, notes, asked };
}

/** A 2026-07-28 `extra` as the modern dispatcher builds it. */
function modernExtra(inputResponses?: Json, state?: unknown): HandlerExtra {
  const signal = new AbortController().signal;
  const notify = (): Promise<void> => Promise.resolve();
  const mcpReq: McpRequestContext = {
    id: 'm1',
    signal,
    notify,
    clientCapabilities: { elicitation: {} },
    inputResponses,
    requestState: <T>() => state as T | undefined,
  };
  return {
    signal,
    sessionId: '',
    requestId: 'm1',
    sendNotification: notify,
    sendRequest: () => Promise.reject(new Error('no server-to-client requests')),
    closeSSEStream: () => {},
    mcpReq,
    era: 'modern',
  };
}

const text = (r: unknown): string => ((r as { content: Array<{ text: string }> }).content[0] ?? { text: '' }).text;
const echo = (args: unknown): { content: Array<Json> } => ({ content: [{ type: 'text', text: JSON.stringify(args) }] });

/** A Standard Schema of no known library: validates a `{ n: number }` object, lists the JSON Schema it carries. */
function vendorSchema(withJson: boolean): unknown {
  const json = { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] };
  return {
    '~standard': {
      version: 1,
      vendor: 'acme',
      validate: (v: unknown) =>
        typeof (v as { n?: unknown })?.n === 'number'
          ? { value: { n: (v as { n: number }).n * 2 } }
          : { issues: [{ message: 'n must be a number', path: ['n'] }] },
      ...(withJson ? { jsonSchema: { input: () => json, output: () => json } } : {}),
    },
  };
}

function listed(defs: Definitions): Record<string, Json> {
  const { tools } = JSON.parse(defs.toolsListJson()) as { tools: Json[] };
  return Object.fromEntries(tools.map((t) => [t.name as string, t]));
}

describe('tool schemas in both SDK shapes', () => {
  const defs = new Definitions();
  defs.registerTool('v1_shape', { inputSchema: { a: z3.number() } }, echo);
  defs.registerTool('v1_object', { inputSchema: z3.object({ a: z3.number() }) }, echo);
  defs.registerTool('json', { inputSchema: { type: 'object', properties: { a: { type: 'number' } } } }, echo);
  defs.registerTool('v2_object', { inputSchema: z4.object({ a: z4.number() }), outputSchema: z4.object({ sum: z4.number() }) }, echo);
  defs.registerTool('v2_shape', { inputSchema: { a: z4.number() } }, echo);
  defs.registerTool('v2_transform', { inputSchema: z4.object({ s: z4.string().transform((s) => s.length) }) }, echo);
  defs.registerTool('v1_async', { inputSchema: { a: z3.number().refine(async (n) => Promise.resolve(n > 0)) } }, echo);
  defs.registerTool('v1_transform', { inputSchema: { s: z3.string().transform((s) => s.length) } }, echo);
  defs.registerTool('v2_async', { inputSchema: z4.object({ a: z4.number().refine(async (n) => Promise.resolve(n > 0)) }) }, echo);
  defs.registerTool('vendor', { inputSchema: vendorSchema(true) as Json }, echo);

  it('lists every shape as JSON Schema: v1 as before, v2 in the 2020-12 dialect', () => {
    const t = listed(defs);
    for (const name of ['v1_shape', 'v1_object', 'json', 'v2_object', 'v2_shape', 'vendor']) {
      const schema = t[name].inputSchema as Json;
      expect(schema.type, name).toBe('object');
      expect(Object.keys(schema.properties as Json), name).toEqual([name === 'vendor' ? 'n' : 'a']);
    }
    expect((t.v2_object.inputSchema as Json).required).toEqual(['a']);
    expect((t.v2_object.inputSchema as Json).$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect((t.v2_object.outputSchema as Json).properties).toEqual({ sum: { type: 'number' } });
    // The plain JSON Schema is passed through as written.
    expect(t.json.inputSchema).toEqual({ type: 'object', properties: { a: { type: 'number' } } });
  });

  it('validates arguments of every shape; invalid ones are tool errors naming the field', async () => {
    for (const name of ['v1_shape', 'v1_object', 'v2_object', 'v2_shape']) {
      const ok = await defs.callTool({ name, arguments: { a: 1 } }, legacyExtra().extra);
      expect(JSON.parse(text(ok)), name).toEqual({ a: 1 });
      const bad = (await defs.callTool({ name, arguments: { a: 'x' } }, legacyExtra().extra)) as { isError?: boolean };
      expect(bad.isError, name).toBe(true);
      expect(text(bad), name).toMatch(/^Input validation error: Invalid arguments for tool \w+: .*a/);
    }
    // The handler gets what the schema returned, also from an asynchronous validation.
    expect(JSON.parse(text(await defs.callTool({ name: 'v2_transform', arguments: { s: 'four' } }, legacyExtra().extra)))).toEqual({
      s: 4,
    });
    expect(JSON.parse(text(await defs.callTool({ name: 'v1_transform', arguments: { s: 'four' } }, legacyExtra().extra)))).toEqual({
      s: 4,
    });
    // zod 3 is parsed synchronously first; a schema with an async refinement falls back to async, every time.
    for (let i = 0; i < 2; i++) {
      expect(JSON.parse(text(await defs.callTool({ name: 'v1_async', arguments: { a: 2 } }, legacyExtra().extra)))).toEqual({ a: 2 });
      const refused = (await defs.callTool({ name: 'v1_async', arguments: { a: -2 } }, legacyExtra().extra)) as { isError?: boolean };
      expect(refused.isError).toBe(true);
    }
    expect(JSON.parse(text(await defs.callTool({ name: 'v2_async', arguments: { a: 2 } }, legacyExtra().extra)))).toEqual({ a: 2 });
    expect(((await defs.callTool({ name: 'v2_async', arguments: { a: -2 } }, legacyExtra().extra)) as { isError?: boolean }).isError).toBe(
      true,
    );
    expect(JSON.parse(text(await defs.callTool({ name: 'vendor', arguments: { n: 2 } }, modernExtra())))).toEqual({ n: 4 });
    expect(text(await defs.callTool({ name: 'vendor', arguments: {} }, modernExtra()))).toContain('n: n must be a number');
    // Plain JSON Schema: not validated, as before.
    expect(JSON.parse(text(await defs.callTool({ name: 'json', arguments: { a: 'x' } }, legacyExtra().extra)))).toEqual({ a: 'x' });
  });

  it('refuses at registration a schema it cannot list, naming the tool', () => {
    const d = new Definitions();
    expect(() => d.registerTool('opaque', { inputSchema: vendorSchema(false) as Json }, echo)).toThrow(
      /Tool opaque inputSchema: schema library "acme" does not produce JSON Schema/,
    );
    expect(() => d.registerTool('scalar', { inputSchema: z4.string() }, echo)).toThrow(
      /Tool scalar inputSchema: an input schema must describe an object/,
    );
    expect(d.tools.size).toBe(0);
  });
});

describe('prompts and completions in both shapes', () => {
  const langs = (v: string): string[] => ['go', 'rust', 'ruby'].filter((l) => l.startsWith(v));
  const defs = new Definitions();
  const messages = { messages: [] };
  defs.registerPrompt(
    'v2',
    {
      argsSchema: z4.object({
        lang: sdkCompletable(z4.string().describe('language'), langs),
        // The SDK v1's completable (the one workers/api.ts exports) on a zod 4 field.
        style: (
          completable(z4.string() as never, (v: string) => ['terse', 'thorough'].filter((s) => s.startsWith(v))) as unknown as z4.ZodString
        ).optional(),
      }),
    },
    () => messages,
  );
  defs.registerPrompt('v1', { argsSchema: { lang: completable(z3.string(), langs).optional() } }, () => messages);

  it('lists arguments with their descriptions and required flags', () => {
    const { prompts } = JSON.parse(defs.promptsListJson()) as { prompts: Array<{ name: string; arguments: Json[] }> };
    const v2 = prompts.find((p) => p.name === 'v2');
    expect(v2?.arguments).toEqual([
      { name: 'lang', description: 'language', required: true },
      { name: 'style', required: false },
    ]);
    expect(prompts.find((p) => p.name === 'v1')?.arguments).toEqual([{ name: 'lang', required: false }]);
  });

  it('completes completable(...) and completable(...).optional() fields of zod 4 and zod 3', async () => {
    const complete = (name: string, arg: string, value: string): Promise<unknown> =>
      defs.complete({ ref: { type: 'ref/prompt', name }, argument: { name: arg, value } });
    expect(await complete('v2', 'lang', 'r')).toEqual({ completion: { values: ['rust', 'ruby'], total: 2, hasMore: false } });
    expect(await complete('v2', 'style', 't')).toEqual({ completion: { values: ['terse', 'thorough'], total: 2, hasMore: false } });
    expect(await complete('v1', 'lang', 'g')).toEqual({ completion: { values: ['go'], total: 1, hasMore: false } });
    expect(await complete('v2', 'nope', '')).toEqual({ completion: { values: [], total: 0, hasMore: false } });
  });

  it('validates prompt arguments with the Standard Schema', async () => {
    await expect(defs.getPrompt({ name: 'v2', arguments: {} }, legacyExtra().extra)).rejects.toMatchObject({
      message: expect.stringContaining('Invalid arguments for prompt v2: lang') as unknown,
    });
  });
});

describe('the SDK v2 handler context', () => {
  it('is complete on a 2025 session: method, http.authInfo, log, send with a Standard Schema result check', async () => {
    const defs = new Definitions();
    let seen: HandlerContext | undefined;
    defs.registerTool('ctx', { inputSchema: z4.object({}) }, async (_args, ctx) => {
      seen = ctx;
      await ctx.mcpReq.log('info', 'hello', 'tests');
      const good = await ctx.mcpReq.send<{ action: string }>(
        { method: 'elicitation/create', params: {} },
        z4.object({ action: z4.string() }),
      );
      const bad = await ctx.mcpReq.send({ method: 'roots/list' }, z4.object({ roots: z4.array(z4.object({ uri: z4.string() })) })).then(
        () => 'no error',
        (e: Error) => e.message,
      );
      return { content: [{ type: 'text', text: `${good.action} ${bad}` }] };
    });
    const { extra, notes, asked } = legacyExtra((r) => (r.method === 'elicitation/create' ? { action: 'accept' } : { roots: 'nope' }));
    const r = await defs.callTool({ name: 'ctx', arguments: {} }, extra);
    expect(text(r)).toMatch(/^accept Invalid result for roots\/list: roots: /);
    expect(seen?.mcpReq.method).toBe('tools/call');
    expect(seen?.mcpReq.id).toBe(7);
    expect(seen?.mcpReq.signal).toBe(extra.signal);
    expect(seen?.http.authInfo).toBeUndefined();
    expect(seen?.sessionId).toBe('s1');
    expect(notes).toEqual([{ method: 'notifications/message', params: { level: 'info', data: 'hello', logger: 'tests' } }]);
    expect(asked.map((a) => a.method)).toEqual(['elicitation/create', 'roots/list']);
  });

  it("runs the SDK v2's inputRequired in rounds on a 2025 session, and hands a modern request its own answers and state", async () => {
    const defs = new Definitions();
    const Confirm = z4.object({ ok: z4.boolean() });
    defs.registerTool('confirm', { inputSchema: z4.object({}) }, (_args, ctx) => {
      const state = ctx.mcpReq.requestState<string>();
      if (state === undefined)
        return sdkInputRequired({
          inputRequests: { c: sdkInputRequired.elicit({ message: 'Sure?', requestedSchema: Confirm }) },
          requestState: 'asked',
        });
      const answer = ctx.mcpReq.inputResponses?.c as { content?: { ok?: boolean } } | undefined;
      return { content: [{ type: 'text', text: `${state} ${String(answer?.content?.ok)}` }] };
    });
    const { extra, asked } = legacyExtra(() => ({ action: 'accept', content: { ok: true } }));
    expect(text(await defs.callTool({ name: 'confirm', arguments: {} }, extra))).toBe('asked true');
    // The zod 4 requestedSchema reached the client as JSON Schema.
    const params = asked[0].params as { mode: string; requestedSchema: Json };
    expect(params.mode).toBe('form');
    expect(params.requestedSchema.properties).toEqual({ ok: { type: 'boolean' } });
    // Modern: the first round's result goes back as is; the retry carries the answers and the state.
    const first = (await defs.callTool({ name: 'confirm', arguments: {} }, modernExtra())) as Json;
    expect(first.resultType).toBe('input_required');
    expect(first.requestState).toBe('asked');
    const retry = await defs.callTool(
      { name: 'confirm', arguments: {} },
      modernExtra({ c: { action: 'accept', content: { ok: false } } }, 'asked'),
    );
    expect(text(retry)).toBe('asked false');
  });
});
