/**
 * The official SDK v2 client (`@modelcontextprotocol/client` 2.4) against one node: pinned to
 * 2026-07-28 it connects through `server/discover` and calls stateless; in `auto` mode it probes and
 * lands on the modern era; in its default (legacy) mode it opens a 2025 session on the same endpoint.
 * An `input_required` tool completes through the client's elicitation handler in both eras.
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers/server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.stop();
});

type Mode = 'legacy' | 'auto' | { pin: '2026-07-28' };

async function connect(mode: Mode): Promise<Client> {
  const client = new Client(
    { name: 'sdk-v2-test', version: '1.0.0' },
    { versionNegotiation: { mode }, capabilities: { elicitation: { form: {} } } },
  );
  client.setRequestHandler('elicitation/create', () => ({ action: 'accept', content: { name: 'Ada' } }));
  await client.connect(new StreamableHTTPClientTransport(new URL(srv.url)));
  return client;
}

describe('SDK v2 client', () => {
  for (const [mode, era] of [
    [{ pin: '2026-07-28' }, 'modern'],
    ['auto', 'modern'],
    ['legacy', 'legacy'],
  ] as const) {
    it(`connects in ${JSON.stringify(mode)} mode on the ${era} era, lists and calls tools, completes input_required`, async () => {
      const client = await connect(mode);
      try {
        expect(client.getProtocolEra()).toBe(era);
        const { tools } = await client.listTools();
        expect(tools.some((t) => t.name === 'test_simple_text')).toBe(true);
        const simple = await client.callTool({ name: 'test_simple_text', arguments: {} });
        expect((simple.content as Array<{ text: string }>)[0].text).toContain('simple text');
        const asked = await client.callTool({ name: 'test_input_required_result_elicitation', arguments: {} });
        expect((asked.content as Array<{ text: string }>)[0].text).toBe('Hello, Ada!');
      } finally {
        await client.close();
      }
    });
  }
});
