/**
 * Command lines of the benchmarks: one option table per command drives `node:util` parseArgs
 * (strict: an unknown flag or a missing value is an error), the checks that turn its strings into
 * typed values naming the bad flag, and the `--help` text. Table keys are the option names in
 * camelCase; the flag is the same name in kebab-case (`sessionConcurrency` is `--session-concurrency`).
 * A usage error carries the usage text; `--help` is a usage "error" with `help` set.
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

interface Described {
  /** One line of --help. */
  help: string;
  /** The placeholder shown after the flag in --help (a default per type otherwise). */
  arg?: string;
  /** More flag names meaning the same (`--scenarios` for `--scenario`); giving two of them is an error. */
  aliases?: readonly string[];
}

/**
 * One option. `int` / `num`: bounds inclusive, `nullWord` a word that stands for null (`--workers
 * default`); `ints`: a comma list of integers; `list`: a comma list of members of `of` (kept in
 * the order of `of`, duplicates dropped), `allWord` a word for all of them (or for `allOf`), `renamed` old names
 * still accepted; `bool`: a switch,
 * `negatable` adds `--no-<flag>` (both given is an error); `onOff`: on|off|1|0|true|false;
 * `pairs`: repeatable NAME=value.
 */
export type OptionSpec = Described &
  (
    | { type: 'int'; min: number; max?: number; nullWord?: string }
    | { type: 'num'; min: number; max?: number }
    | { type: 'text'; want: string }
    | { type: 'ints'; min: number }
    | { type: 'list'; of: readonly string[]; allWord?: string; allOf?: readonly string[]; renamed?: Readonly<Record<string, string>> }
    | { type: 'bool'; negatable?: boolean }
    | { type: 'onOff' }
    | { type: 'pairs'; namePattern: RegExp }
  );

export type OptionTable = Readonly<Record<string, OptionSpec>>;

type ValueOf<S extends OptionSpec> = S extends { type: 'int' | 'num' }
  ? S extends { nullWord: string }
    ? number | null
    : number
  : S extends { type: 'text' }
    ? string
    : S extends { type: 'ints' }
      ? number[]
      : S extends { type: 'list'; of: readonly (infer E)[] }
        ? readonly E[]
        : S extends { type: 'bool' | 'onOff' }
          ? boolean
          : S extends { type: 'pairs' }
            ? Record<string, string>
            : never;

/** The flags given on the command line, typed; a flag not given is absent. */
export type Given<T extends OptionTable> = { -readonly [K in keyof T]?: ValueOf<T[K]> };

export interface Command<T extends OptionTable> {
  /** The --help text, generated from the table. */
  readonly usage: string;
  /** Throws UsageError (with the usage text) on a bad or unknown flag, and for --help. */
  parse(argv: readonly string[]): Given<T>;
  /** Throws the UsageError of a value that passed its own check but not a check across flags. */
  fail(key: keyof T & string, raw: string, want: string): never;
}

const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

const DEFAULT_ARG: Record<OptionSpec['type'], string> = {
  int: 'N',
  num: 'N',
  text: 'TEXT',
  ints: 'a,b',
  list: 'a,b',
  bool: '',
  onOff: 'on|off',
  pairs: 'K=V',
};

function shown(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return v.join(',');
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  return null;
}

function usageText<T extends OptionTable>(head: string, table: T, defaults: Readonly<Partial<Record<keyof T, unknown>>>): string {
  const rows: [string, string][] = [];
  for (const [key, spec] of Object.entries(table)) {
    const names = [kebab(key), ...(spec.aliases ?? [])].map((n) => `--${n}`).join(' | ');
    const neg = spec.type === 'bool' && spec.negatable ? ` / --no-${kebab(key)}` : '';
    const arg = spec.arg ?? DEFAULT_ARG[spec.type];
    const d = shown(defaults[key as keyof T]);
    rows.push([`${names}${neg}${arg ? ` ${arg}` : ''}`, `${spec.help}${d === null ? '' : ` (${d})`}`]);
  }
  rows.push(['--help, -h', 'this text']);
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  return [head, ...rows.map(([f, h]) => `  ${f.padEnd(width)}${h}`)].join('\n');
}

function bad(flag: string, raw: string | undefined, want: string, usage: string): never {
  throw new UsageError(`invalid --${flag} ${JSON.stringify(raw ?? '')}: expected ${want}\n${usage}`);
}

function convert(spec: OptionSpec, flag: string, raw: string | string[], usage: string): unknown {
  if (Array.isArray(raw)) {
    if (spec.type !== 'pairs') return bad(flag, raw.join(' '), 'one value', usage);
    const out: Record<string, string> = {};
    for (const item of raw) {
      const eq = item.indexOf('=');
      if (eq <= 0 || !spec.namePattern.test(item.slice(0, eq))) bad(flag, item, 'NAME=value', usage);
      out[item.slice(0, eq)] = item.slice(eq + 1);
    }
    return out;
  }
  switch (spec.type) {
    case 'int': {
      if (spec.nullWord !== undefined && raw === spec.nullWord) return null;
      const max = spec.max ?? Number.MAX_SAFE_INTEGER;
      const v = Number(raw);
      if (!/^\d+$/.test(raw.trim()) || v < spec.min || v > max)
        bad(flag, raw, `an integer in ${spec.min}..${max}${spec.nullWord ? ` or ${spec.nullWord}` : ''}`, usage);
      return v;
    }
    case 'num': {
      const max = spec.max ?? Number.MAX_VALUE;
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v) || v < spec.min || v > max) bad(flag, raw, `a number in ${spec.min}..${max}`, usage);
      return v;
    }
    case 'text':
      if (raw.trim() === '') bad(flag, raw, spec.want, usage);
      return raw;
    case 'ints': {
      const items = raw.split(',').map((s) => s.trim());
      if (items.some((i) => !/^\d+$/.test(i) || Number(i) < spec.min)) bad(flag, raw, `a comma list of integers >= ${spec.min}`, usage);
      return items.map(Number);
    }
    case 'list': {
      if (spec.allWord !== undefined && raw.trim() === spec.allWord) return Object.freeze([...(spec.allOf ?? spec.of)]);
      const items = raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .map((s) => spec.renamed?.[s] ?? s);
      if (items.length === 0 || items.some((i) => !spec.of.includes(i)))
        bad(flag, raw, `a comma list of ${spec.of.join(', ')}${spec.allWord ? ` (or ${spec.allWord})` : ''}`, usage);
      return Object.freeze(spec.of.filter((a) => items.includes(a)));
    }
    case 'onOff':
      if (raw === 'on' || raw === '1' || raw === 'true') return true;
      if (raw === 'off' || raw === '0' || raw === 'false') return false;
      return bad(flag, raw, 'on or off', usage);
    case 'bool':
    case 'pairs':
      return bad(flag, raw, 'no value', usage);
  }
}

/**
 * One command line: `head` is the first line of --help, `table` the options, `defaults` the values
 * --help shows next to each option (the caller merges them; `parse` returns only what was given).
 */
export function defineCommand<const T extends OptionTable>(
  head: string,
  table: T,
  defaults: Readonly<Partial<Record<keyof T, unknown>>> = Object.freeze({}),
): Command<T> {
  const usage = usageText(head, table, defaults);
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [key, spec] of Object.entries(table)) {
    const type = spec.type === 'bool' ? 'boolean' : 'string';
    for (const name of [kebab(key), ...(spec.aliases ?? [])]) options[name] = { type, multiple: spec.type === 'pairs' };
    if (spec.type === 'bool' && spec.negatable) options[`no-${kebab(key)}`] = { type: 'boolean' };
  }
  const parse = (argv: readonly string[]): Given<T> => {
    let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
    try {
      ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
    } catch (err) {
      throw new UsageError(`${(err as Error).message}\n${usage}`);
    }
    if (values.help) throw new UsageError(usage, true);
    const given: Record<string, unknown> = {};
    for (const [key, spec] of Object.entries(table)) {
      const flag = kebab(key);
      const names = [flag, ...(spec.aliases ?? [])].filter((n) => values[n] !== undefined);
      if (names.length > 1) bad(names[1], String(values[names[1]]), `only one of --${names.join(', --')}`, usage);
      if (spec.type === 'bool') {
        const on = names.length === 1;
        const off = spec.negatable === true && values[`no-${flag}`] === true;
        if (on && off) bad(flag, 'and --no-' + flag, `one of --${flag} and --no-${flag}`, usage);
        if (on || off) given[key] = on;
        continue;
      }
      if (names.length === 0) continue;
      given[key] = convert(spec, names[0], values[names[0]] as string | string[], usage);
    }
    return given as Given<T>;
  };
  return {
    usage,
    parse,
    fail: (key, raw, want) => bad(kebab(key), raw, want, usage),
  };
}

/** Prints a usage error (or the help text) and returns the exit code: 0 for --help, 2 otherwise. */
export function reportUsage(err: unknown): number | null {
  if (!(err instanceof UsageError)) return null;
  (err.help ? process.stdout : process.stderr).write(`${err.message}\n`);
  return err.help ? 0 : 2;
}
