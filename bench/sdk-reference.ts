/**
 * The sdk-v1 contender: a stateful MCP server on the official SDK 1.x (Express 5 + StreamableHTTPServerTransport),
 * built the way the SDK's own examples are — one transport and one McpServer per session, kept in a
 * map by session id. It serves the same `echo` tool as bench/tools.ts.
 *
 * Usage: node bench/dist/sdk-reference.js [--port 0] [--host 127.0.0.1] [--sse]
 * Logs `{"msg":"listening","port":N}` on stdout once bound (port 0 picks a free port).
 * Replies are JSON (`enableJsonResponse`), as ours are for a request without streaming; `--sse`
 * switches to the SDK default of one SSE stream per POST.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express, { type Request, type Response } from 'express';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { defineCommand, reportUsage } from './lib/args.js';
import { ECHO_CONFIG, ECHO_NAME, echo } from './tools.js';

interface RefOptions {
  port: number;
  host: string;
  sse: boolean;
}

const command = defineCommand(
  'usage: node bench/dist/sdk-reference.js [flags]',
  {
    port: { type: 'int', min: 0, max: 65535, help: 'port; 0 picks a free one' },
    host: { type: 'text', want: 'an address', arg: 'ADDR', help: 'address to listen on' },
    sse: { type: 'bool', help: 'answer with one SSE stream per POST (the SDK default) instead of JSON' },
  },
  { port: 0, host: '127.0.0.1' },
);

function parseOptions(argv: readonly string[]): RefOptions {
  return { port: 0, host: '127.0.0.1', sse: false, ...command.parse(argv) };
}

function newMcpServer(): McpServer {
  const server = new McpServer({ name: 'sdk-reference', version: '1.0.0' });
  server.registerTool(ECHO_NAME, { ...ECHO_CONFIG }, echo);
  return server;
}

function jsonRpcError(res: Response, status: number, code: number, message: string): void {
  res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id: null });
}

let opts: RefOptions;
try {
  opts = parseOptions(process.argv.slice(2));
} catch (err) {
  process.exit(reportUsage(err) ?? 1);
}
const transports = new Map<string, StreamableHTTPServerTransport>();
const app = express();
app.use(express.json({ limit: '4mb' }));

app.post('/mcp', async (req: Request, res: Response) => {
  const sid = req.headers['mcp-session-id'];
  try {
    if (typeof sid === 'string') {
      const transport = transports.get(sid);
      if (!transport) return jsonRpcError(res, 404, -32001, 'Session not found');
      await transport.handleRequest(req, res, req.body);
      return;
    }
    if (!isInitializeRequest(req.body)) return jsonRpcError(res, 400, -32000, 'Bad Request: no valid session ID');
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: !opts.sse,
      onsessioninitialized: (id) => {
        transports.set(id, transport);
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) transports.delete(transport.sessionId);
    };
    await newMcpServer().connect(transport);
    await transport.handleRequest(req, res, req.body);
  } catch (err) {
    process.stderr.write(`sdk-reference: ${(err as Error).stack ?? String(err)}\n`);
    if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal server error');
  }
});

/** GET (standalone SSE stream) and DELETE (end session) go straight to the session's transport. */
async function sessionRequest(req: Request, res: Response): Promise<void> {
  const sid = req.headers['mcp-session-id'];
  const transport = typeof sid === 'string' ? transports.get(sid) : undefined;
  if (!transport) return jsonRpcError(res, typeof sid === 'string' ? 404 : 400, -32000, 'Invalid or missing session ID');
  await transport.handleRequest(req, res);
}
app.get('/mcp', sessionRequest);
app.delete('/mcp', sessionRequest);

const httpServer = app.listen(opts.port, opts.host, (err?: Error) => {
  if (err) throw err;
  const { port } = httpServer.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ level: 'info', msg: 'listening', port, sdk: true, sessions: 'stateful' })}\n`);
});
// Keep-alive sockets from the load generator must not be cut between autocannon requests.
httpServer.keepAliveTimeout = 65_000;

function shutdown(): void {
  for (const t of transports.values()) void t.close();
  httpServer.close(() => process.exit(0));
  httpServer.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
