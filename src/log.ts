/** Structured JSON logs, one object per line on stdout (errors on stderr). */
import { createHash } from 'node:crypto';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LEVELS;

let threshold: number = LEVELS.info;
let base = '';

export function configureLog(level: LogLevel, fields: Record<string, unknown>): void {
  threshold = LEVELS[level];
  // Static part of every line, serialised once.
  base = JSON.stringify(fields).slice(1, -1);
}

function write(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
  if (LEVELS[level] < threshold) return;
  let line = `{"time":"${new Date().toISOString()}","level":"${level}"${base ? ',' + base : ''},"msg":${JSON.stringify(msg)}`;
  if (fields) {
    const extra = JSON.stringify(fields, errorReplacer);
    if (extra.length > 2) line += ',' + extra.slice(1, -1);
  }
  line += '}\n';
  (LEVELS[level] >= LEVELS.error ? process.stderr : process.stdout).write(line);
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { message: value.message, code: (value as { code?: unknown }).code, stack: value.stack };
  return value;
}

export const log = {
  debug: (msg: string, fields?: Record<string, unknown>) => write('debug', msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => write('info', msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => write('warn', msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => write('error', msg, fields),
};

export function isLogLevel(v: string): v is LogLevel {
  return Object.prototype.hasOwnProperty.call(LEVELS, v);
}

/**
 * What a log line says about a session: the first 12 hex digits of the SHA-256 of its id, never the
 * id itself (a session id is a bearer credential: whoever reads the logs could otherwise use it).
 * The same id always gives the same reference, so lines of one session can still be followed;
 * `sessionRef(id)` recomputes it from an id a client reports.
 */
export function sessionRef(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('hex').slice(0, 12);
}
