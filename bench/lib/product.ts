/**
 * The product under test, reached only through its build output (`npm run build` at the repository
 * root writes dist/): the node is started as `node dist/src/main.js`, and the registry and the local
 * cluster runner are imported from dist/ at run time. Nothing here is compiled with the product; the
 * interfaces below are the few members the benchmarks use, checked when the module loads.
 */
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Repository root (this file is bench/dist/lib/product.js once built). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The bench package (bench/). */
export const BENCH = fileURLToPath(new URL('../../', import.meta.url));
/** Default results folder: bench/results, wherever the command is run from. */
export const RESULTS = join(BENCH, 'results');

/** Where the product's code is run from: the repository root, or a private copy of its dist/. */
export interface CodeRoot {
  /** With a trailing slash. */
  root: string;
  remove(): void;
}

/** The built entry point of the node. */
export function mainJs(root: string): string {
  return join(root, 'dist/src/main.js');
}

function requireBuilt(root: string): void {
  if (!existsSync(mainJs(root)))
    throw new Error(`${mainJs(root)} is missing: run \`npm run build\` at the repository root first (the npm run bench:* scripts do)`);
}

/**
 * The repository's dist/, or (snapshot) a copy of it with package.json and node_modules linked, so
 * that a rebuild by someone else during a long run cannot change, or half-write, the code under test.
 */
export function codeRoot(snapshot: boolean): CodeRoot {
  requireBuilt(ROOT);
  if (!snapshot) return { root: ROOT, remove: () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'mcp-bench-snapshot-'));
  cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return { root: `${dir}/`, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Imports a module of the product's build output, e.g. `src/registry/redis.js`. */
export async function importProduct<T>(root: string, rel: string, members: readonly (keyof T & string)[]): Promise<T> {
  requireBuilt(root);
  const mod = (await import(pathToFileURL(join(root, 'dist', rel)).href)) as Record<string, unknown>;
  for (const m of members) if (!(m in mod)) throw new Error(`dist/${rel} exports no ${m}: the benchmark and the product disagree`);
  return mod as T;
}

// --- the parts of the product the benchmarks use ------------------------------------------------

/** dist/src/cluster/local/cluster.js */
export interface ClusterOptions {
  nodes: number;
  basePort: number;
  lbPort: number;
  redisPort: number;
  env?: Record<string, string>;
  workers?: number;
  nodeOutput?: 'inherit' | 'pipe' | 'ignore';
  say?: (line: string) => void;
  checkIntervalMs?: number;
  ownerRouting?: boolean;
}

export interface ClusterNode {
  name: string;
  port: number;
  proc: { pid?: number } | null;
  logs: string[];
}

export interface Cluster {
  lbUrl: string;
  redisUrl: string;
  nodes: ClusterNode[];
  waitUp(ms?: number): Promise<void>;
  startNode(i: number): Promise<void>;
  stopNode(i: number, signal?: NodeJS.Signals): Promise<number | null>;
  stop(): Promise<void>;
}

export interface ClusterModule {
  startCluster(o: ClusterOptions): Promise<Cluster>;
}

/** dist/src/cluster/local/ports.js */
export interface PortsModule {
  freePortBlock(count: number): Promise<number>;
}

/** dist/src/registry/redis.js */
export interface RegistryStats {
  connected: boolean;
  resyncs: number;
  written: number;
  dropped: number;
  failedFlushes: number;
  roundTrips: number;
}

export interface RedisRegistryLike {
  register(id: string): void;
  unregister(id: string): void;
  stats(): RegistryStats;
  close(): Promise<void>;
}

export interface RegistryObserver {
  flushed(...a: unknown[]): void;
  queueDepth(...a: unknown[]): void;
  dropped(...a: unknown[]): void;
  degraded(...a: unknown[]): void;
}

export interface RegistryModule {
  RedisRegistry: new (
    url: string,
    self: { nodeId: string; address: string },
    limits: { registryBatch: number; registryFlushMs: number; registryQueueMax: number; registryRefreshMs: number },
    hooks: { liveSessions: () => Set<string>; observer: RegistryObserver },
  ) => RedisRegistryLike;
}

/** dist/src/registry/keys.js */
export interface KeysModule {
  SESSION_TTL_S: number;
  ownerValuePrefix(nodeId: string, address: string): string;
  sessionKey?: (id: string) => string;
}

/** dist/src/registry/redis-url.js */
export type RedisTarget =
  { mode: 'single'; url: string } | { mode: 'cluster'; seeds: Array<{ host: string; port: number }>; username?: string; password?: string };

export interface RedisUrlModule {
  parseRedisUrl(url: string): RedisTarget;
}

/** dist/src/log.js */
export interface LogModule {
  configureLog(level: string, base: Record<string, unknown>): void;
}
