/**
 * A stateless MCP server on the official TypeScript SDK v2 (`@modelcontextprotocol/server` 2.4 with
 * the `@modelcontextprotocol/node` adapter), scaled the way v2 scales: `createMcpHandler(factory)`,
 * which answers 2026-07-28 requests from a fresh `McpServer` per request (and 2025-era requests
 * statelessly, without sessions), wrapped once with `toNodeHandler` on plain node:http, the
 * `localhostHostValidation` / `localhostOriginValidation` guards in front (the SDK's advice for plain
 * node:http), and one process per core with node:cluster: the primary forks the workers, each worker
 * listens on the same port, and the primary hands connections to them (node:cluster's default
 * round-robin on Linux). The echo tool is bench/tools.ts's, its schema in zod 4 as in bench/sdk-v2.ts.
 *
 * Usage: node bench/dist/sdk-v2-cluster.js [--port 0] [--host 127.0.0.1] [--workers N]
 * The primary logs `{"msg":"listening","port":N}` on stdout once every worker listens. SIGTERM or
 * SIGINT to the primary stops the workers, then the primary; a worker whose primary is gone exits
 * (node:cluster ends a worker whose channel to the primary closes).
 */
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { availableParallelism } from 'node:os';
import { localhostHostValidation, localhostOriginValidation, toNodeHandler } from '@modelcontextprotocol/node';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import * as z from 'zod-v4';
import { defineCommand, reportUsage } from './lib/args.js';
import { ECHO_CONFIG, ECHO_NAME, echo } from './tools.js';

const command = defineCommand(
  'usage: node bench/dist/sdk-v2-cluster.js [flags]',
  {
    port: { type: 'int', min: 0, max: 65535, help: 'port; 0 picks a free one (shared by every worker)' },
    host: { type: 'text', want: 'an address', arg: 'ADDR', help: 'address to listen on' },
    workers: {
      type: 'int',
      min: 1,
      max: 256,
      nullWord: 'default',
      arg: 'N|default',
      help: 'worker processes ("default": os.availableParallelism())',
    },
  },
  { port: 0, host: '127.0.0.1', workers: null },
);

interface Options {
  port: number;
  host: string;
  workers: number | null;
}

/** A worker that has not listened after this long fails the start (the runner waits 20 s). */
const START_TIMEOUT_MS = 15_000;

/** One McpServer per request: createMcpHandler calls this for every request it serves. */
function newMcpServer(): McpServer {
  const server = new McpServer({ name: 'sdk-v2-cluster-reference', version: '1.0.0' });
  server.registerTool(ECHO_NAME, { description: ECHO_CONFIG.description, inputSchema: z.object({ text: z.string() }) }, echo);
  return server;
}

function serveWorker(o: Options): void {
  const handler = createMcpHandler(newMcpServer, {
    onerror: (err) => process.stderr.write(`sdk-v2-cluster worker ${process.pid}: ${err.message}\n`),
  });
  const mcp = toNodeHandler(handler);
  const validHost = localhostHostValidation();
  const validOrigin = localhostOriginValidation();
  const server = createServer((req, res) => {
    if (!validHost(req, res) || !validOrigin(req, res)) return;
    if (!req.url?.startsWith('/mcp')) return void res.writeHead(404).end();
    void mcp(req, res);
  });
  // Keep-alive sockets from the load generator must not be cut between requests.
  server.keepAliveTimeout = 65_000;
  server.listen(o.port, o.host);
  process.on('SIGTERM', () => {
    void handler.close();
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  });
  // SIGINT from a terminal reaches the whole process group: the primary decides.
  process.on('SIGINT', () => undefined);
}

function runPrimary(o: Options): void {
  const count = o.workers ?? availableParallelism();
  const listening = new Set<number>();
  let port = -1;
  let stopping = false;
  const fail = (why: string): void => {
    process.stderr.write(`sdk-v2-cluster: ${why}\n`);
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
    process.exit(1);
  };
  const timer = setTimeout(() => fail(`${listening.size} of ${count} workers listening after ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
  cluster.on('listening', (worker, address) => {
    listening.add(worker.id);
    port = address.port;
    if (listening.size === count) {
      clearTimeout(timer);
      process.stdout.write(
        `${JSON.stringify({ level: 'info', msg: 'listening', port, sdk: 'v2', sessions: 'stateless', workers: count })}\n`,
      );
    }
  });
  cluster.on('exit', (worker, code, signal) => {
    listening.delete(worker.id);
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    // A reference that lost a worker would be measured short of a process: fail loudly instead.
    fail(`worker ${worker.process.pid} exited (code ${code}, signal ${signal})`);
  });
  for (let i = 0; i < count; i++) cluster.fork();
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    clearTimeout(timer);
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    setTimeout(() => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      process.exit(0);
    }, 3000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

function main(): void {
  let o: Options;
  try {
    o = { port: 0, host: '127.0.0.1', workers: null, ...command.parse(process.argv.slice(2)) };
  } catch (err) {
    process.exit(reportUsage(err) ?? 1);
  }
  if (cluster.isPrimary) runPrimary(o);
  else serveWorker(o);
}

main();
