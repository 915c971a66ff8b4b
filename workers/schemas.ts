/**
 * Tool and prompt schemas in both SDK shapes, resolved once when a definition is registered:
 *
 * - SDK v1: a zod 3 raw shape (`{ a: z.number() }`) or zod 3 object, validated with zod and listed
 *   through the SDK v1's converter; or a plain JSON Schema object, listed as written and not validated.
 * - SDK v2: a Standard Schema (standardschema.dev: an object with `~standard.validate`, such as a zod 4
 *   object), or a raw shape of zod 4 fields (wrapped in a zod 4 object, as the SDK v2 does). Validated
 *   with `~standard.validate`. Its JSON Schema comes from the Standard JSON Schema extension
 *   (`~standard.jsonSchema.input|output`, implemented by zod >= 4.2 and other libraries) when the
 *   schema has it, else from zod 4's `z.toJSONSchema` for a zod 4 schema; both target JSON Schema
 *   2020-12 (the dialect MCP tool schemas use). A library with neither is refused at registration.
 *
 * zod 3.24+ schemas carry `~standard` too; they stay on the SDK v1 path (they have no `_zod`).
 */
import {
  getObjectShape,
  getParseErrorMessage,
  normalizeObjectSchema,
  safeParseAsync,
} from '@modelcontextprotocol/sdk/server/zod-compat.js';
import { toJsonSchemaCompat } from '@modelcontextprotocol/sdk/server/zod-json-schema-compat.js';
import { z as z4 } from 'zod-v4';

type Json = Record<string, unknown>;

/** One validation issue of a Standard Schema. */
interface StandardIssue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>;
}
type StandardResult = { readonly value: unknown; readonly issues?: undefined } | { readonly issues: ReadonlyArray<StandardIssue> };

/** The Standard Schema v1 interface, with the optional Standard JSON Schema extension. */
export interface StandardSchemaV1 {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    validate(value: unknown): StandardResult | Promise<StandardResult>;
    readonly jsonSchema?: {
      input(options: { target: string }): Json;
      output(options: { target: string }): Json;
    };
  };
}

export type Parsed = { ok: true; value: unknown } | { ok: false; message: string };

/** A schema as the runtime uses it. */
export interface Schema {
  /** What `tools/list` shows (JSON Schema). */
  readonly json: Json;
  /** Validates a value and returns what the handler gets; null: passed through unvalidated (plain JSON Schema). */
  readonly parse: ((value: unknown) => Parsed | Promise<Parsed>) | null;
  /** The object's top-level fields as the module wrote them (prompt arguments, completions); undefined when unknown. */
  readonly fields: Readonly<Record<string, unknown>> | undefined;
  /** Prompt arguments: name, description, required. */
  readonly arguments: ReadonlyArray<{ name: string; description?: string; required: boolean }> | undefined;
}

const TARGET = 'draft-2020-12';
/** The key both SDKs' `completable(schema, cb)` set on the schema (a registered symbol, so any copy of either SDK matches). */
const COMPLETABLE = Symbol.for('mcp.completable');
const EMPTY_OBJECT_SCHEMA: Json = Object.freeze({ type: 'object', properties: {} });
const NONE: Schema = Object.freeze({ json: EMPTY_OBJECT_SCHEMA, parse: null, fields: undefined, arguments: undefined });

function isObjectLike(v: unknown): v is object {
  return (typeof v === 'object' && v !== null) || typeof v === 'function';
}

export function isStandardSchema(v: unknown): v is StandardSchemaV1 {
  if (!isObjectLike(v) || !('~standard' in v)) return false;
  const std = (v as { '~standard'?: { validate?: unknown } })['~standard'];
  return typeof std?.validate === 'function';
}

/** A zod 4 schema (classic or mini): its internals live under `_zod`. */
function isZod4(v: unknown): v is StandardSchemaV1 {
  return isStandardSchema(v) && '_zod' in v;
}

function hasSafeParse(v: unknown): boolean {
  return isObjectLike(v) && typeof (v as { safeParse?: unknown }).safeParse === 'function';
}

/** A zod 3 schema: zod's parse API without zod 4's internals. */
export function isZod3(v: unknown): boolean {
  return hasSafeParse(v) && !('_zod' in (v as object));
}

function issueText(issue: StandardIssue): string {
  if (!issue.path?.length) return issue.message;
  return `${issue.path.map((p) => String(typeof p === 'object' ? p.key : p)).join('.')}: ${issue.message}`;
}

function settle(r: StandardResult): Parsed {
  return r.issues ? { ok: false, message: r.issues.map(issueText).join(', ') } : { ok: true, value: r.value };
}

/** Validates with `~standard.validate`; synchronous when the schema is. */
export function parseStandard(schema: StandardSchemaV1, value: unknown): Parsed | Promise<Parsed> {
  const r = schema['~standard'].validate(value);
  return r instanceof Promise ? r.then(settle) : settle(r);
}

/** The JSON Schema of a Standard Schema; an input schema must describe an object. */
export function standardJsonSchema(schema: StandardSchemaV1, io: 'input' | 'output'): Json {
  const std = schema['~standard'];
  let json: Json;
  if (std.jsonSchema) json = std.jsonSchema[io]({ target: TARGET });
  else if (isZod4(schema)) json = z4.toJSONSchema(schema as never, { target: TARGET, io });
  else
    throw new TypeError(
      `schema library "${std.vendor}" does not produce JSON Schema (no ~standard.jsonSchema): use zod 4, a library that implements Standard JSON Schema, or a plain JSON Schema`,
    );
  if (json.type === undefined) return io === 'input' || 'properties' in json ? { type: 'object', ...json } : json;
  // MCP: a tool's inputSchema and a prompt's arguments are objects.
  if (io === 'input' && json.type !== 'object')
    throw new TypeError(`an input schema must describe an object (got type ${JSON.stringify(json.type)}): wrap it in z.object({...})`);
  return json;
}

/** The fields of a zod 4 object (`shape`, or `_zod.def.shape` for zod mini). */
function zod4Fields(schema: unknown): Record<string, unknown> | undefined {
  const s = schema as { shape?: unknown; _zod?: { def?: { shape?: unknown } } };
  const shape = s.shape ?? s._zod?.def?.shape;
  return typeof shape === 'object' && shape !== null ? (shape as Record<string, unknown>) : undefined;
}

function fromStandard(schema: StandardSchemaV1, io: 'input' | 'output'): Schema {
  const json = standardJsonSchema(schema, io);
  const props = (typeof json.properties === 'object' && json.properties !== null ? json.properties : {}) as Record<
    string,
    { description?: unknown }
  >;
  const required = Array.isArray(json.required) ? json.required : [];
  return {
    json,
    parse: (value) => parseStandard(schema, value),
    fields: isZod4(schema) ? zod4Fields(schema) : undefined,
    arguments: Object.entries(props).map(([name, p]) => ({
      name,
      description: typeof p?.description === 'string' ? p.description : undefined,
      required: required.includes(name),
    })),
  };
}

type Zod3Result = { success: boolean; data?: unknown; error?: unknown };

function settleZod3(r: Zod3Result): Parsed {
  return r.success ? { ok: true, value: r.data } : { ok: false, message: getParseErrorMessage(r.error) };
}

/** What zod 3's synchronous parse throws on a schema with an async refinement or transform ("... encountered ..."). */
function isAsyncParseError(err: unknown): boolean {
  return err instanceof Error && /encountered/i.test(err.message);
}

function fromZod3(zod: unknown, io: 'input' | 'output'): Schema {
  const fields = getObjectShape(zod as never) as Record<string, { description?: string; isOptional?: () => boolean }> | undefined;
  const sync = zod as { safeParse(value: unknown): Zod3Result };
  // Synchronous first (no promise, no extra turn per call); a schema found to need async parsing
  // goes the async way from then on.
  let async = typeof sync.safeParse !== 'function';
  const parseAsync = async (value: unknown): Promise<Parsed> => settleZod3(await safeParseAsync(zod as never, value));
  return {
    json: toJsonSchemaCompat(zod as never, { strictUnions: true, pipeStrategy: io }),
    parse: (value) => {
      if (async) return parseAsync(value);
      let r: Zod3Result;
      try {
        r = sync.safeParse(value);
      } catch (err) {
        if (!isAsyncParseError(err)) throw err;
        async = true;
        return parseAsync(value);
      }
      return settleZod3(r);
    },
    fields,
    arguments: fields
      ? Object.entries(fields).map(([name, field]) => ({
          name,
          description: field?.description,
          required: !(typeof field?.isOptional === 'function' && field.isOptional()),
        }))
      : undefined,
  };
}

/**
 * Resolves what a module passed as `inputSchema`, `outputSchema` or `argsSchema`. Throws (at
 * registration) on a schema that cannot be listed.
 */
export function schemaOf(schema: unknown, io: 'input' | 'output'): Schema {
  if (schema === undefined || schema === null) return NONE;
  if (!isObjectLike(schema)) throw new TypeError(`a schema must be an object, not ${typeof schema}`);
  if (isStandardSchema(schema) && !isZod3(schema)) return fromStandard(schema, io);
  const values = Object.values(schema);
  if (values.length > 0 && values.every(isZod4)) return fromStandard(z4.object(schema as never), io);
  if (isZod3(schema) || (values.length > 0 && values.every(hasSafeParse))) {
    const zod = normalizeObjectSchema(schema as never);
    if (zod) return fromZod3(zod, io);
  }
  return { json: schema as Json, parse: null, fields: undefined, arguments: undefined };
}

/** An optional field's inner schema (zod 4 and zod 3), or the field itself. */
function unwrapOptional(field: unknown): unknown {
  const f = field as { _zod?: { def?: { type?: string; innerType?: unknown } }; _def?: { typeName?: string; innerType?: unknown } };
  if (f._zod?.def?.type === 'optional') return f._zod.def.innerType;
  if (f._def?.typeName === 'ZodOptional') return f._def.innerType;
  return field;
}

type Completer = (value: string, context?: { arguments?: Record<string, string> }) => unknown;

function completerAt(field: unknown): Completer | undefined {
  if (!isObjectLike(field) || !(COMPLETABLE in field)) return undefined;
  const meta = (field as Record<symbol, { complete?: unknown } | undefined>)[COMPLETABLE];
  return typeof meta?.complete === 'function' ? (meta.complete as Completer) : undefined;
}

/** The completion callback of a field wrapped in `completable(x, cb)`, also as `completable(x, cb).optional()`. */
export function completerOf(field: unknown): Completer | undefined {
  return completerAt(field) ?? completerAt(unwrapOptional(field));
}
