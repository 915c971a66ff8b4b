/**
 * The storm's cluster: the product's local cluster runner (redis-server, N nodes, HAProxy), imported
 * from its build output, by default from a private copy of dist/ so that a rebuild by someone else
 * during a long run (nodes restart mid-run in the rolling scenario) cannot change or half-write the
 * code under test.
 */
import {
  codeRoot,
  importProduct,
  type Cluster,
  type ClusterModule,
  type ClusterOptions,
  type CodeRoot,
  type PortsModule,
} from './product.js';

export interface ClusterCode extends CodeRoot {
  startCluster: ClusterModule['startCluster'];
  freePortBlock: PortsModule['freePortBlock'];
}

/** The cluster runner from dist/ itself, or from a copy of it (with package.json, node_modules linked). */
export async function loadClusterCode(snapshot: boolean): Promise<ClusterCode> {
  const code = codeRoot(snapshot);
  try {
    const cluster = await importProduct<ClusterModule>(code.root, 'src/cluster/local/cluster.js', ['startCluster']);
    const ports = await importProduct<PortsModule>(code.root, 'src/cluster/local/ports.js', ['freePortBlock']);
    return { ...code, startCluster: (o) => cluster.startCluster(o), freePortBlock: (count) => ports.freePortBlock(count) };
  } catch (err) {
    code.remove();
    throw err;
  }
}

export interface StormClusterOptions {
  code: ClusterCode;
  nodes: number;
  workers: number;
  basePort: number | null;
  checkMs: number | null;
  ownerRouting: boolean;
  env: Record<string, string>;
  say: (line: string) => void;
}

/** Starts the cluster; on a port clash with a picked block, tries another block (twice). */
export async function startStormCluster(o: StormClusterOptions): Promise<Cluster> {
  for (let attempt = 0; ; attempt++) {
    const base = o.basePort ?? (await o.code.freePortBlock(o.nodes + 2));
    const opts: ClusterOptions = {
      nodes: o.nodes,
      basePort: base,
      lbPort: base + o.nodes,
      redisPort: base + o.nodes + 1,
      workers: o.workers,
      env: o.env,
      nodeOutput: 'pipe',
      ...(o.checkMs === null ? {} : { checkIntervalMs: o.checkMs }),
      ownerRouting: o.ownerRouting,
      say: o.say,
    };
    try {
      return await o.code.startCluster(opts);
    } catch (err) {
      if (o.basePort !== null || attempt >= 2) throw err;
      o.say(`cluster start failed (${(err as Error).message}); trying other ports`);
    }
  }
}
