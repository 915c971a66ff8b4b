/** A cluster on free loopback ports for tests (retried on a port clash). */
// The compiled runner (npm test builds first): the same code `npm run cluster` runs.
import { startCluster } from '../../dist/src/cluster/local/cluster.js';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
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

/**
 * TCP connections HAProxy holds open to the nodes (its sockets, from /proc/<pid>/fd, whose remote port
 * is a node's, established): the requests it is relaying, plus any idle connection it keeps pooled.
 */
export function haproxyUpstreamConnections(c: Cluster): number {
  const pid = c.haproxyPid();
  if (pid === null) throw new Error('HAProxy is not running');
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // Closed between the listing and the read.
    }
  }
  const ports = new Set(c.nodes.map((n) => n.port));
  let n = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const remotePort = parseInt(f[2].split(':')[1], 16);
    // st 01: ESTABLISHED.
    if (f[3] === '01' && ports.has(remotePort) && inodes.has(f[9])) n++;
  }
  return n;
}
