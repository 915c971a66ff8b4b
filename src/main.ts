#!/usr/bin/env node
/** `npm start`: one MCP node with embedded defaults. */
import { loadConfig, usage } from './config.js';
import { openHostWarning } from './front/guards.js';
import { configureLog, log } from './log.js';
import { startNode, type RunningNode } from './node.js';
import { CLOSE_FLUSH_MS } from './registry/keys.js';

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(usage());
    return;
  }
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${JSON.stringify({ level: 'fatal', msg: (err as Error).message, code: (err as { code?: string }).code })}\n`);
    process.exit(2);
  }
  configureLog(config.logLevel, { node: config.nodeId });
  let node: RunningNode | undefined;
  keepServingOnProcessFaults(() => node);
  try {
    node = await startNode(config);
  } catch (err) {
    log.error('start-up failed', { err: (err as Error).message, code: (err as { code?: string }).code });
    // Let worker threads finish tearing down: process.exit() during their teardown can abort Node.
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 2000).unref();
    return;
  }
  log.info('listening', {
    url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${node.port}/mcp`,
    port: node.port,
    workers: config.workers,
    registry: config.redisUrl ? 'redis' : 'memory',
    tools: config.tools ?? 'built-in everything demo',
  });
  const open = openHostWarning(config);
  if (open) log.warn(open, { host: config.host, allowedHosts: '(none: any Host)' });
  // The drain window and the registry's final flush always fit in the grace period.
  const graceMs = Math.max(config.shutdownGraceMs, config.drainWindowMs + CLOSE_FLUSH_MS + 1000);
  const stop = (signal: string): void => {
    const timer = setTimeout(() => {
      log.error('shutdown grace period exceeded, exiting', { graceMs });
      process.exit(1);
    }, graceMs);
    timer.unref();
    node.close(signal).then(
      () => process.exit(0),
      (err) => {
        log.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

/**
 * The last resort behind the front's guard (src/front/fault.ts): an error that escapes every handler
 * (a callback of a library, a promise nobody awaited) is logged with its stack and counted
 * (mcp_internal_errors_total{where="process"}), and the node keeps serving. Exiting, Node's default,
 * would end every session of this node (their state lives in its workers) for one failed request; the
 * guard makes these events rare, and the counter makes each one visible.
 */
function keepServingOnProcessFaults(node: () => RunningNode | undefined): void {
  const report = (kind: string, err: unknown): void => {
    try {
      node()?.context.metrics.internalErrors.inc({ where: 'process' });
      log.error(`${kind}; the node goes on`, { where: 'process', err: err instanceof Error ? err : { thrown: String(err) } });
    } catch {
      // Reporting must never throw here: an exception out of this handler ends the process.
    }
  };
  process.on('uncaughtException', (err) => report('uncaught exception', err));
  process.on('unhandledRejection', (reason) => report('unhandled rejection', reason));
}

void main();
