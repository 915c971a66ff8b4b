/**
 * A stateful MCP server on the official TypeScript SDK v2 (`@modelcontextprotocol/server` 2.4 with
 * the `@modelcontextprotocol/node` adapter) on plain node:http, wired as the SDK's "Sessions, state,
 * and scaling" guide does for 2025-era sessions: one `NodeStreamableHTTPServerTransport` (with
 * `sessionIdGenerator`) and one `McpServer` per session, kept in a map by session id, and the
 * `localhostHostValidation` / `localhostOriginValidation` guards in front, as the guide asks on plain
 * node:http. It serves the same `echo` tool as bench/tools.ts, its schema in zod 4 (v2 takes any
 * Standard Schema). Replies are JSON (`enableJsonResponse`), as ours are for a call without streaming.
 *
 * One process: v2 sessions live in the process that created them, and node:cluster hands each
 * connection to any process, so a session opened on one would be unknown to the others (the v2
 * scaling story for several processes is its stateless handler, which has no sessions).
 *
 * Usage: node bench/dist/sdk-v2.js [--port 0] [--host 127.0.0.1]
 * Logs `{"msg":"listening","port":N}` on stdout once bound.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { localhostHostValidation, localhostOriginValidation, NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node';
import { isInitializeRequest, McpServer } from '@modelcontextprotocol/server';
import * as z from 'zod-v4';
import { defineCommand, reportUsage } from './lib/args.js';
import { ECHO_CONFIG, ECHO_NAME, echo } from './tools.js';

const command = defineCommand(
  'usage: node bench/dist/sdk-v2.js [flags]',
  {
    port: { type: 'int', min: 0, max: 65535, help: 'port; 0 picks a free one' },
    host: { type: 'text', want: 'an address', arg: 'ADDR', help: 'address to listen on' },
  },
  { port: 0, host: '127.0.0.1' },
);

/** The largest request body read (the benchmark's are under 300 bytes). */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

function newMcpServer(): McpServer {
  const server = new McpServer({ name: 'sdk-v2-reference', version: '1.0.0' });
  server.registerTool(ECHO_NAME, { description: ECHO_CONFIG.description, inputSchema: z.object({ text: z.string() }) }, echo);
  return server;
}

function jsonRpcError(res: ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

/** The request body, parsed; null (after answering) when too large or not JSON. */
async function readJson(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      jsonRpcError(res, 413, -32000, 'Payload too large');
      return null;
    }
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks, size).toString('utf8')) as unknown;
  } catch {
    jsonRpcError(res, 400, -32700, 'Parse error');
    return null;
  }
}

async function handle(sessions: Map<string, NodeStreamableHTTPServerTransport>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const sid = req.headers['mcp-session-id'];
  const body = req.method === 'POST' ? await readJson(req, res) : undefined;
  if (body === null) return;
  if (typeof sid === 'string') {
    const transport = sessions.get(sid);
    if (!transport) return jsonRpcError(res, 404, -32001, 'Session not found');
    return transport.handleRequest(req, res, body);
  }
  if (req.method !== 'POST' || !isInitializeRequest(body)) return jsonRpcError(res, 400, -32000, 'Bad Request: Session ID required');
  const transport = new NodeStreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    enableJsonResponse: true,
    onsessioninitialized: (id) => {
      sessions.set(id, transport);
    },
  });
  transport.onclose = () => {
    if (transport.sessionId) sessions.delete(transport.sessionId);
  };
  await newMcpServer().connect(transport);
  await transport.handleRequest(req, res, body);
}

function main(): void {
  let o: { port: number; host: string };
  try {
    o = { port: 0, host: '127.0.0.1', ...command.parse(process.argv.slice(2)) };
  } catch (err) {
    process.exit(reportUsage(err) ?? 1);
  }
  const sessions = new Map<string, NodeStreamableHTTPServerTransport>();
  const validHost = localhostHostValidation();
  const validOrigin = localhostOriginValidation();
  const server = createServer((req, res) => {
    if (!validHost(req, res) || !validOrigin(req, res)) return;
    if (!req.url?.startsWith('/mcp')) return void res.writeHead(404).end();
    handle(sessions, req, res).catch((err: unknown) => {
      process.stderr.write(`sdk-v2: ${(err as Error).stack ?? String(err)}\n`);
      if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal server error');
    });
  });
  // Keep-alive sockets from the load generator must not be cut between requests.
  server.keepAliveTimeout = 65_000;
  server.listen(o.port, o.host, () => {
    const { port } = server.address() as AddressInfo;
    process.stdout.write(`${JSON.stringify({ level: 'info', msg: 'listening', port, sdk: 'v2', sessions: 'stateful' })}\n`);
  });
  const shutdown = (): void => {
    for (const t of sessions.values()) void t.close();
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main();
