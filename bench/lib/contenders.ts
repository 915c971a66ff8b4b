/**
 * How each contender is started: our node (metrics on / off) and the SDK reference, all with the
 * same echo tool, listening on 127.0.0.1 port 0.
 */
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ContenderName } from './options.js';
import { startProcess, type Spawned } from './processes.js';

/** Package root (this file is dist/bench/lib/contenders.js once built). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Copies dist/ (and package.json, with node_modules linked) to a temporary root, so that a rebuild
 * by someone else during a long run cannot change, or half-write, the code under test. Returns the
 * root (with a trailing slash) and a function that removes it.
 */
export function snapshotDist(): { root: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-bench-snapshot-'));
  cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return { root: `${dir}/`, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Settings the environment must not leak into a contender (each is set explicitly or left out). */
const SCRUBBED = ['PORT', 'HOST', 'WORKERS', 'MCP_TOOLS', 'MCP_METRICS', 'LOG_LEVEL', 'REDIS_URL', 'NODE_OPTIONS'];

export interface ContenderSpec {
  name: ContenderName;
  /** Root the code runs from (the package, or a snapshot of its dist/). */
  root: string;
  args: string[];
  /** Variables set on top of the scrubbed environment. */
  env: Record<string, string>;
}

export function contenderSpec(name: ContenderName, workers: number | null, root: string = ROOT): ContenderSpec {
  const ours = (metrics: '1' | '0'): ContenderSpec => ({
    name,
    root,
    args: [`${root}dist/src/main.js`, '--port', '0', '--tools', `${root}dist/bench/tools.js`, ...(workers === null ? [] : ['--workers', String(workers)])],
    // "info" because the listening line (which carries the port) is logged at info.
    env: { HOST: '127.0.0.1', LOG_LEVEL: 'info', MCP_METRICS: metrics },
  });
  switch (name) {
    case 'ours':
      return ours('1');
    case 'ours-nometrics':
      return ours('0');
    case 'sdk':
      return { name, root, args: [`${root}dist/bench/sdk-reference.js`, '--port', '0', '--host', '127.0.0.1'], env: {} };
  }
}

export function startContender(spec: ContenderSpec): Promise<Spawned> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of SCRUBBED) delete env[k];
  Object.assign(env, spec.env);
  return startProcess({ name: spec.name, args: spec.args, env, cwd: spec.root });
}
