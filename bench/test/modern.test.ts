/**
 * lib/modern.ts builds the call-modern request as the official SDK v2 client sends it: the client,
 * pinned to 2026-07-28, calls a tool on a recording server, and the recorded tools/call must be the
 * builders' headers (same names, values and order, but for the connection's own host, connection and
 * content-length) and the builders' body, byte for byte.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { MODERN_VERSION, modernCallBody, modernCallHeaders } from '../lib/modern.js';

interface Recorded {
  headers: Array<[string, string]>;
  body: string;
}

/** Headers every HTTP client sets for its own connection and body; not part of the request's shape. */
const CONNECTION_HEADERS = new Set(['host', 'connection', 'content-length']);

function pairs(req: IncomingMessage): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) out.push([req.rawHeaders[i].toLowerCase(), req.rawHeaders[i + 1]]);
  return out;
}

/** A server that records every request and answers server/discover and tools/call as a 2026-07-28 server does. */
async function recordingServer(): Promise<{ url: string; seen: Recorded[]; close(): Promise<void> }> {
  const seen: Recorded[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ headers: pairs(req), body });
      const msg = JSON.parse(body) as { id?: string | number; method?: string; params?: { arguments?: { text?: string } } };
      const reply = (result: unknown): void => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
      };
      if (msg.method === 'server/discover')
        return reply({
          supportedVersions: [MODERN_VERSION],
          capabilities: { tools: {} },
          serverInfo: { name: 'recorder', version: '1' },
          resultType: 'complete',
          ttlMs: 0,
          cacheScope: 'private',
        });
      if (msg.method === 'tools/call')
        return reply({ content: [{ type: 'text', text: msg.params?.arguments?.text ?? '' }], resultType: 'complete' });
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    seen,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

void test('the call-modern request is the one the SDK v2 client (pinned to 2026-07-28) sends', async () => {
  const rec = await recordingServer();
  const client = new Client({ name: 'bench', version: '1' }, { versionNegotiation: { mode: { pin: MODERN_VERSION } } });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(rec.url)));
    assert.equal(client.getProtocolEra(), 'modern');
    const result = await client.callTool({ name: 'echo', arguments: { text: 'hello from the benchmark' } });
    assert.deepEqual(result.content, [{ type: 'text', text: 'hello from the benchmark' }]);
  } finally {
    await client.close();
    await rec.close();
  }
  const calls = rec.seen.filter((r) => (JSON.parse(r.body) as { method?: string }).method === 'tools/call');
  assert.equal(calls.length, 1);
  const [call] = calls;
  assert.deepEqual(
    call.headers.filter(([name]) => !CONNECTION_HEADERS.has(name)),
    Object.entries(modernCallHeaders('echo')),
  );
  const id = (JSON.parse(call.body) as { id: number | string }).id;
  assert.equal(call.body, modernCallBody(id, 'echo', { text: 'hello from the benchmark' }, { name: 'bench', version: '1' }));
});

void test('the load body carries the id placeholder once, where the JSON-RPC id goes, and the headers mirror it', () => {
  const body = modernCallBody('[<id>]', 'echo', { text: 't' }, { name: 'bench', version: '1' });
  assert.equal(body.split('[<id>]').length, 2);
  const msg = JSON.parse(body) as { id: unknown; method: string; params: { name: string; _meta: Record<string, unknown> } };
  assert.equal(msg.id, '[<id>]');
  const h = modernCallHeaders('echo');
  assert.equal(h['mcp-method'], msg.method);
  assert.equal(h['mcp-name'], msg.params.name);
  assert.equal(h['mcp-protocol-version'], msg.params._meta['io.modelcontextprotocol/protocolVersion']);
  assert.deepEqual(msg.params._meta['io.modelcontextprotocol/clientCapabilities'], {});
});
