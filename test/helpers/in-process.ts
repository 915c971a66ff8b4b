/**
 * Cluster nodes in the test's own process: the compiled startNode (its workers are compiled files,
 * what `npm start` runs) with one real redis-server and one cluster secret, so a test can read a
 * node's context as well as its HTTP answers.
 */
import { waitFor } from './wait.js';

type NodeModule = typeof import('../../src/node.js');
type ConfigModule = typeof import('../../src/config.js');
type LogModule = typeof import('../../src/log.js');
export type RunningNode = Awaited<ReturnType<NodeModule['startNode']>>;

const { startNode } = (await import('../../dist/src/node.js')) as NodeModule;
const { loadConfig } = (await import('../../dist/src/config.js')) as ConfigModule;
const { configureLog } = (await import('../../dist/src/log.js')) as LogModule;

/** Logs at error only, tagged with the test's name (the nodes share this process's log). */
export function quietLog(test: string): void {
  configureLog('error', { test });
}

/** A node of the cluster `secret` on `redisUrl`: one worker, no drain window, 127.0.0.1 on a free port; `env` on top. */
export function startInProcess(nodeId: string, redisUrl: string, secret: string, env: Record<string, string> = {}): Promise<RunningNode> {
  return startNode(
    loadConfig([], {
      NODE_ID: nodeId,
      HOST: '127.0.0.1',
      PORT: '0',
      WORKERS: '1',
      REDIS_URL: redisUrl,
      MCP_CLUSTER_SECRET: secret,
      MCP_DRAIN_WINDOW_MS: '0',
      LOG_LEVEL: 'error',
      ...env,
    }),
  );
}

/**
 * Two nodes of one cluster, started in turn, once each lists the other among its live peers (the
 * directory in Redis is how a node finds where to forward).
 */
export async function startPair(
  ids: readonly [string, string],
  redisUrl: string,
  secret: string,
  env: Record<string, string> = {},
): Promise<[RunningNode, RunningNode]> {
  const a = await startInProcess(ids[0], redisUrl, secret, env);
  const b = await startInProcess(ids[1], redisUrl, secret, env);
  await waitFor(() => b.context.directory?.livePeers().includes(`127.0.0.1:${a.port}`), 15_000, `${ids[1]} to see ${ids[0]}`);
  await waitFor(() => a.context.directory?.livePeers().includes(`127.0.0.1:${b.port}`), 15_000, `${ids[0]} to see ${ids[1]}`);
  return [a, b];
}

export const nodeUrl = (n: RunningNode): string => `http://127.0.0.1:${n.port}/mcp`;
export const nodeBase = (n: RunningNode): string => `http://127.0.0.1:${n.port}`;
