/**
 * Which code a figure was measured on. Every result file carries the commit (`git rev-parse HEAD`)
 * and whether the working tree differed from it; a run on a dirty tree is refused unless
 * `--allow-dirty` is given, and its results are then flagged `dirty: true` (a figure from uncommitted
 * code cannot be reproduced by anyone else).
 */
import { execFileSync } from 'node:child_process';
import { ROOT } from './product.js';

export interface Provenance {
  /** Full commit hash, or 'unknown' outside a git checkout. */
  commit: string;
  /** The tree differs from the commit (modified, staged or untracked files outside .gitignore). */
  dirty: boolean;
  /** The paths that differ (at most 50 listed). */
  changed: string[];
  /** The run was started with --allow-dirty. */
  allowDirty: boolean;
}

const LISTED = 50;

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
}

export function provenance(allowDirty: boolean): Provenance {
  const commit = git(['rev-parse', 'HEAD'])?.trim() ?? 'unknown';
  const status = git(['status', '--porcelain', '--untracked-files=all']);
  const changed =
    status === null
      ? []
      : status
          .split('\n')
          .filter(Boolean)
          .map((l) => l.slice(3));
  // Outside git nothing can be checked: counted as dirty, so it needs --allow-dirty too.
  const dirty = status === null || changed.length > 0;
  return { commit, dirty, changed: changed.slice(0, LISTED), allowDirty };
}

export class DirtyTreeError extends Error {
  readonly code = 'BENCH_ERR_DIRTY';
}

/** Throws DirtyTreeError (naming the changed files) on a dirty tree without --allow-dirty. */
export function requireClean(p: Provenance): void {
  if (!p.dirty || p.allowDirty) return;
  const list = p.changed.length ? p.changed.map((f) => `  ${f}`).join('\n') : '  (not a git checkout)';
  throw new DirtyTreeError(
    `the working tree differs from commit ${p.commit}:\n${list}\n` +
      'Figures must come from committed code: commit (or stash) first, or pass --allow-dirty to measure anyway (the result is then flagged dirty).',
  );
}

/** One line for a report: "commit abc123 (clean)" or "... DIRTY: 3 changed files". */
export function describeProvenance(p: Provenance): string {
  return `commit ${p.commit}${p.dirty ? ` — DIRTY tree (--allow-dirty), ${p.changed.length} changed file(s): ${p.changed.join(', ')}` : ' (clean tree)'}`;
}

/** The message alone for a refused dirty tree, the stack for anything else. */
export function errorText(err: unknown): string {
  if (err instanceof DirtyTreeError) return `refused: ${err.message}`;
  return (err as Error)?.stack ?? String(err);
}
