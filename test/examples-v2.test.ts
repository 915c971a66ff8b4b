/**
 * The README's SDK v2 example module (examples/my-tools-v2.mjs) works as documented with every
 * official client: the SDK v2 client pinned to 2026-07-28 (stateless requests) and in its default
 * mode (a 2025 session), and the SDK v1 client. The zod 4 schemas are listed and validated (the
 * clients check the structured output against the listed output schema), progress goes through
 * `ctx.mcpReq.notify`, the `inputRequired(...)` tool completes through the client's elicitation
 * handler in both eras (accepted and declined), `completable(...).optional()` completes, and a
 * resource handler gets `ctx.mcpReq`.
 */
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers/server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({ env: { MCP_TOOLS: './examples/my-tools-v2.mjs' } });
});
afterAll(async () => {
  await srv?.stop();
});

type Result = { content?: unknown; structuredContent?: unknown; isError?: boolean };

/** What the test needs of a client, the same for both SDKs. */
interface AnyClient {
  /** What the elicitation handler answers. */
  answer: { action: 'accept' | 'decline'; content?: Record<string, unknown> };
  serverName(): string | undefined;
  listTools(): Promise<Array<{ name: string; inputSchema: Record<string, unknown>; outputSchema?: Record<string, unknown> }>>;
  call(name: string, args: Record<string, unknown>, onprogress?: (p: { progress: number }) => void): Promise<Result>;
  complete(prompt: string, arg: string, value: string): Promise<string[]>;
  prompt(name: string, args: Record<string, string>): Promise<string>;
  read(uri: string): Promise<string>;
  close(): Promise<void>;
}

async function v2Client(mode: 'legacy' | { pin: '2026-07-28' }): Promise<AnyClient> {
  const client = new ClientV2(
    { name: 'examples-v2', version: '1.0.0' },
    { versionNegotiation: { mode }, capabilities: { elicitation: { form: {} } } },
  );
  const c: AnyClient = {
    answer: { action: 'accept', content: { confirm: true } },
    serverName: () => client.getServerVersion()?.name,
    listTools: async () => (await client.listTools()).tools,
    call: (name, args, onprogress) => client.callTool({ name, arguments: args }, onprogress ? { onprogress } : undefined),
    complete: async (name, arg, value) =>
      (await client.complete({ ref: { type: 'ref/prompt', name }, argument: { name: arg, value } })).completion.values,
    prompt: async (name, args) => JSON.stringify((await client.getPrompt({ name, arguments: args })).messages),
    read: async (uri) => (await client.readResource({ uri })).contents[0].text as string,
    close: () => client.close(),
  };
  client.setRequestHandler('elicitation/create', () => c.answer as never);
  await client.connect(new TransportV2(new URL(srv.url)));
  expect(client.getProtocolEra()).toBe(mode === 'legacy' ? 'legacy' : 'modern');
  return c;
}

async function v1Client(): Promise<AnyClient> {
  const client = new ClientV1({ name: 'examples-v1', version: '1.0.0' }, { capabilities: { elicitation: {} } });
  const c: AnyClient = {
    answer: { action: 'accept', content: { confirm: true } },
    serverName: () => client.getServerVersion()?.name,
    listTools: async () => (await client.listTools()).tools,
    call: (name, args, onprogress) =>
      client.callTool({ name, arguments: args }, undefined, onprogress ? { onprogress } : undefined) as Promise<Result>,
    complete: async (name, arg, value) =>
      (await client.complete({ ref: { type: 'ref/prompt', name }, argument: { name: arg, value } })).completion.values,
    prompt: async (name, args) => JSON.stringify((await client.getPrompt({ name, arguments: args })).messages),
    read: async (uri) => (await client.readResource({ uri })).contents[0].text as string,
    close: () => client.close(),
  };
  client.setRequestHandler(ElicitRequestSchema, () => c.answer as never);
  await client.connect(new TransportV1(new URL(srv.url)));
  return c;
}

const textOf = (r: Result): string => (r.content as Array<{ text: string }>)[0].text;

describe('examples/my-tools-v2.mjs', () => {
  for (const [label, open] of [
    ['SDK v2 client pinned to 2026-07-28', () => v2Client({ pin: '2026-07-28' })],
    ['SDK v2 client on a 2025 session', () => v2Client('legacy')],
    ['SDK v1 client', v1Client],
  ] as const) {
    it(`serves the ${label}`, async () => {
      const c = await open();
      try {
        expect(c.serverName()).toBe('my-tools-v2');
        const tools = Object.fromEntries((await c.listTools()).map((t) => [t.name, t]));
        expect(Object.keys(tools).sort()).toEqual(['add', 'countdown', 'deploy', 'whoami']);
        expect(tools.add.inputSchema).toMatchObject({
          type: 'object',
          properties: { a: { type: 'number', description: 'first addend' }, b: { type: 'number' } },
          required: ['a', 'b'],
        });
        expect(tools.add.outputSchema).toMatchObject({ type: 'object', properties: { sum: { type: 'number' } } });
        expect(tools.deploy.inputSchema).toMatchObject({ properties: { env: { enum: ['staging', 'production'] } } });

        const sum = await c.call('add', { a: 2, b: 3 });
        expect(sum.structuredContent).toEqual({ sum: 5 });
        const invalid = await c.call('add', { a: 2, b: 'three' });
        expect(invalid.isError).toBe(true);
        expect(textOf(invalid)).toMatch(/^Input validation error: .*b/);

        const progress: number[] = [];
        const lift = await c.call('countdown', { from: 3 }, (p) => progress.push(p.progress));
        expect(textOf(lift)).toBe('lift-off');
        expect(progress).toEqual([1, 2, 3]);

        c.answer = { action: 'accept', content: { confirm: true } };
        expect(textOf(await c.call('deploy', { env: 'staging' }))).toBe('deployed to staging');
        c.answer = { action: 'decline' };
        expect(textOf(await c.call('deploy', { env: 'production' }))).toBe('production left as it is');

        expect(textOf(await c.call('whoami', {}))).toBe('anonymous (tools/call)');
        expect(await c.complete('review', 'language', 'ty')).toEqual(['typescript']);
        expect(await c.complete('review', 'tone', 'fr')).toEqual(['friendly', 'frank']);
        expect(await c.prompt('review', { language: 'go', tone: 'frank' })).toContain('Review this go code, frank.');
        expect(await c.read('about://my-tools-v2')).toBe('read through resources/read');
      } finally {
        await c.close();
      }
    });
  }
});
