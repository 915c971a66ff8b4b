/** The README's example tool module works as documented. */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers/server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({ env: { MCP_TOOLS: './examples/my-tools.mjs' } });
});
afterAll(async () => {
  await srv?.stop();
});

it('serves the README example module', async () => {
  const client = new Client({ name: 'readme', version: '1' }, { capabilities: { elicitation: {} } });
  await client.connect(new StreamableHTTPClientTransport(new URL(srv.url)));
  expect(client.getServerVersion()?.name).toBe('my-tools');
  const progress: number[] = [];
  const r = await client.callTool({ name: 'countdown', arguments: { from: 3 } }, undefined, {
    onprogress: (p) => progress.push(p.progress),
  });
  expect(progress).toEqual([1, 2, 3]);
  expect(JSON.stringify(r.content)).toContain('lift-off');
  client.setRequestHandler(ElicitRequestSchema, () => ({ action: 'accept', content: { name: 'Ada' } }));
  const asked = await client.callTool({ name: 'ask_name', arguments: {} });
  expect(JSON.stringify(asked.content)).toContain('hello Ada');
  const user = await client.readResource({ uri: 'users://grace' });
  expect(JSON.parse(user.contents[0].text as string)).toEqual({ id: 'grace' });
  const c = await client.complete({ ref: { type: 'ref/resource', uri: 'users://{id}' }, argument: { name: 'id', value: 'a' } });
  expect(c.completion.values).toEqual(['ada', 'alan']);
  const p = await client.complete({ ref: { type: 'ref/prompt', name: 'greet' }, argument: { name: 'name', value: 'Al' } });
  expect(p.completion.values).toEqual(['Alan']);
  const prompt = await client.getPrompt({ name: 'greet', arguments: { name: 'Ada' } });
  expect(JSON.stringify(prompt.messages)).toContain('Ada');
  await client.close();
});
