/** A cluster on free loopback ports for tests (retried on a port clash). */
// The compiled runner (npm test builds first): the same code `npm run cluster` runs.
import { startCluster } from '../../dist/src/cluster/local/cluster.js';
import { freePortBlock } from './ports.js';

export type Cluster = Awaited<ReturnType<typeof startCluster>>;

/**
 * `ownerRouting`: HAProxy routes on the session id's owner tag (the runner's default: on); `auth`:
 * authorization on every node (the runner's option).
 */
export async function startTestCluster(
  env: Record<string, string> = {},
  nodes = 3,
  ownerRouting = true,
  auth?: { issuer: string; scopes?: string },
): Promise<Cluster> {
  for (let attempt = 0; ; attempt++) {
    const base = await freePortBlock(nodes + 2);
    try {
      return await startCluster({
        nodes,
        basePort: base,
        lbPort: base + nodes,
        redisPort: base + nodes + 1,
        workers: 1,
        nodeOutput: 'pipe',
        checkIntervalMs: 500,
        ownerRouting,
        auth,
        env,
      });
    } catch (err) {
      if (attempt >= 2) throw err;
    }
  }
}
