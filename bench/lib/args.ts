/**
 * Command lines of the benchmarks: `node:util` parseArgs (strict: an unknown flag or a missing value
 * is an error), plus the checks that turn its strings into validated numbers and lists, naming the bad
 * flag. A usage error carries the usage text; `--help` is a usage "error" with `help` set.
 */
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  readonly code = 'BENCH_ERR_USAGE';
  constructor(
    message: string,
    readonly help = false,
  ) {
    super(message);
  }
}

type Flag = { type: 'string' | 'boolean'; multiple?: boolean; short?: string };
type Values<O extends Record<string, Flag>> = {
  [K in keyof O]?: O[K]['type'] extends 'string' ? (O[K]['multiple'] extends true ? string[] : string) : boolean;
};

/** Parses `argv` against `flags` (help / -h added); throws UsageError with `usage` attached. */
export function parseFlags<O extends Record<string, Flag>>(argv: readonly string[], flags: O, usage: string): Values<O> {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { ...flags, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${usage}`);
  }
  if (values.help) throw new UsageError(usage, true);
  return values as Values<O>;
}

function bad(flag: string, raw: string | undefined, want: string, usage: string): never {
  throw new UsageError(`invalid --${flag} ${JSON.stringify(raw ?? '')}: expected ${want}\n${usage}`);
}

/** Validators bound to one usage text. */
export function checks(usage: string) {
  return {
    int(flag: string, raw: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number {
      if (raw === undefined || !/^\d+$/.test(raw.trim()) || Number(raw) < min || Number(raw) > max)
        bad(flag, raw, `an integer in ${min}..${max}`, usage);
      return Number(raw);
    },
    num(flag: string, raw: string | undefined, min: number, max = Number.MAX_VALUE): number {
      const v = Number(raw);
      if (raw === undefined || raw.trim() === '' || !Number.isFinite(v) || v < min || v > max)
        bad(flag, raw, `a number in ${min}..${max}`, usage);
      return v;
    },
    /** A comma list, each item one of `all` (kept in the order of `all`, duplicates dropped). */
    subset<T extends string>(flag: string, raw: string | undefined, all: readonly T[]): readonly T[] {
      const items = (raw ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      if (items.length === 0 || items.some((i) => !all.includes(i as T))) bad(flag, raw, `a comma list of ${all.join(', ')}`, usage);
      return Object.freeze(all.filter((a) => items.includes(a)));
    },
    /** A comma list of integers >= min. */
    ints(flag: string, raw: string | undefined, min: number): number[] {
      const items = (raw ?? '').split(',').map((s) => s.trim());
      if (items.some((i) => !/^\d+$/.test(i) || Number(i) < min)) bad(flag, raw, `a comma list of integers >= ${min}`, usage);
      return items.map(Number);
    },
    onOff(flag: string, raw: string | undefined): boolean {
      if (raw === 'on' || raw === '1' || raw === 'true') return true;
      if (raw === 'off' || raw === '0' || raw === 'false') return false;
      return bad(flag, raw, 'on or off', usage);
    },
    text(flag: string, raw: string | undefined, want: string): string {
      if (raw === undefined || raw.trim() === '') bad(flag, raw, want, usage);
      return raw;
    },
    fail(flag: string, raw: string | undefined, want: string): never {
      return bad(flag, raw, want, usage);
    },
  };
}

/** Prints a usage error (or the help text) and returns the exit code: 0 for --help, 2 otherwise. */
export function reportUsage(err: unknown): number | null {
  if (!(err instanceof UsageError)) return null;
  (err.help ? process.stdout : process.stderr).write(`${err.message}\n`);
  return err.help ? 0 : 2;
}
