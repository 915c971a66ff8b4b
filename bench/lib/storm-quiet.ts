/**
 * The storm shares the machine's cores with the cluster it measures; anything else running skews it.
 * Before each run, wait (bounded) until the machine is quiet, and say so in the report either way.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

function times(): { busy: number; total: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - f[3] - (f[4] ?? 0), total };
  } catch {
    return null;
  }
}

/** Cores busy on the whole machine over `ms` (null where /proc/stat cannot be read). */
export async function busyCores(ms: number): Promise<number | null> {
  const a = times();
  await new Promise((r) => setTimeout(r, ms));
  const b = times();
  if (!a || !b || b.total <= a.total) return null;
  return ((b.busy - a.busy) / (b.total - a.total)) * cpus().length;
}

export interface QuietCheck {
  /** Cores busy when the run started. */
  busyCores: number | null;
  waitedS: number;
  quiet: boolean;
}

/** Waits until fewer than `threshold` cores are busy (measured over 3 s), at most `maxWaitS`. */
export async function waitQuiet(threshold: number, maxWaitS: number, say: (line: string) => void): Promise<QuietCheck> {
  const started = Date.now();
  for (;;) {
    const busy = await busyCores(3000);
    const waitedS = (Date.now() - started) / 1000;
    if (busy === null || busy < threshold) return { busyCores: busy, waitedS, quiet: true };
    if (waitedS >= maxWaitS) {
      say(
        `the machine is still busy (${busy.toFixed(2)} cores used by other processes) after ${Math.round(waitedS)} s: running anyway (see the report)`,
      );
      return { busyCores: busy, waitedS, quiet: false };
    }
    say(
      `waiting for the machine to be quiet: ${busy.toFixed(2)} cores busy (threshold ${threshold}), waited ${Math.round(waitedS)} s of ${maxWaitS}`,
    );
    await new Promise((r) => setTimeout(r, 5000));
  }
}
