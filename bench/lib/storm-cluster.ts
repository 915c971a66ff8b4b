/**
 * The storm's cluster: the project's local cluster runner (redis-server, N nodes, HAProxy), started
 * from a private copy of dist/ so that a rebuild by someone else during a long run (nodes restart
 * mid-run in the rolling scenario) cannot change or half-write the code under test.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Cluster, ClusterOptions } from '../../src/cluster/local/cluster.js';
import { freePortBlock } from '../../src/cluster/local/ports.js';

/** Package root (this file is dist/bench/lib/storm-cluster.js once built). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

type ClusterModule = typeof import('../../src/cluster/local/cluster.js');

export interface CodeRoot {
  root: string;
  startCluster: ClusterModule['startCluster'];
  remove(): void;
}

/** The cluster runner from dist/ itself, or from a copy of it (with package.json, node_modules linked). */
export async function loadClusterCode(snapshot: boolean): Promise<CodeRoot> {
  let root = ROOT;
  let remove = (): void => {};
  if (snapshot) {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-storm-snapshot-'));
    cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    root = `${dir}/`;
    remove = () => rmSync(dir, { recursive: true, force: true });
  }
  const mod = (await import(pathToFileURL(join(root, 'dist/src/cluster/local/cluster.js')).href)) as ClusterModule;
  return { root, startCluster: mod.startCluster, remove };
}

export { freePortBlock };

export interface StormClusterOptions {
  code: CodeRoot;
  nodes: number;
  workers: number;
  basePort: number | null;
  checkMs: number | null;
  env: Record<string, string>;
  say: (line: string) => void;
}

/** The commit the code under test was built from, and whether src/ or workers/ differ from it. */
export function codeVersion(): { commit: string; dirty: string[] } {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--', 'src', 'workers'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return { commit, dirty: status.split('\n').filter(Boolean).map((l) => l.slice(3)) };
  } catch {
    return { commit: 'unknown', dirty: [] };
  }
}

/** Starts the cluster; on a port clash with a picked block, tries another block (twice). */
export async function startStormCluster(o: StormClusterOptions): Promise<Cluster> {
  for (let attempt = 0; ; attempt++) {
    const base = o.basePort ?? (await freePortBlock(o.nodes + 2));
    const opts: ClusterOptions = {
      nodes: o.nodes,
      basePort: base,
      lbPort: base + o.nodes,
      redisPort: base + o.nodes + 1,
      workers: o.workers,
      env: o.env,
      nodeOutput: 'pipe',
      ...(o.checkMs === null ? {} : { checkIntervalMs: o.checkMs }),
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
