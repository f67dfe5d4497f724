import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import type { ConfigSchema, PrismaClient } from '../generated/prisma/client.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { SCHEMA_CHANNEL } from '../protocol/changes.ts';
import { type JsonObject, type JsonValue, documentText, escapeKey, isJsonObject, requireObject } from './documents.ts';
import { findSecrets } from './secretGuard.ts';
import { ValidationError, type ValidationIssue } from './errors.ts';
import { configKey } from './names.ts';
import { NOT_SECRET_KEYWORD, compileInDialect } from '../protocol/schemaDialect.ts';
import { PATTERN_WORK_BUDGET, PatternBudgetError, PatternCompiler, PatternMeter, UnsupportedPatternError } from '../protocol/schemaPatterns.ts';

export type { ConfigSchema };

export { NOT_SECRET_KEYWORD };

/** One documented setting, read from a schema's `properties`. */
export interface ConfigField {
  /** JSON pointer of the setting; `*` stands for any array index. */
  pointer: string;
  type: string | null;
  description: string | null;
  default: JsonValue | null;
  notSecret: boolean;
  /** Listed in its parent's `required`. */
  required: boolean;
  minimum: number | null;
  maximum: number | null;
  exclusiveMinimum: number | null;
  exclusiveMaximum: number | null;
  /** The values `enum` allows (null: any). */
  allowed: JsonValue[] | null;
}

/** The most JSON objects (subschemas, and any object inside them) a new schema may hold: compiling grows with them. */
export const MAX_SCHEMA_OBJECTS = 1_000;

/** A compiled schema: whether a document passes it, and Ajv's errors when it does not. */
export interface SchemaValidator {
  /**
   * Throws a ValidationError (pointer "") when checking `document` would exceed the pattern work budget;
   * with a smaller `budget`, a PatternBudgetError when it would exceed that one (to be checked elsewhere).
   */
  (document: unknown, budget?: number): boolean;
  errors?: ErrorObject[] | null;
}

/** A stored schema, compiled to check documents. */
export interface SchemaCheck {
  validate: SchemaValidator;
  /** Pointers (with `*` for indexes) the schema marks as not secret. */
  notSecret: Set<string>;
}

/** A service's newest schema and its compiled checks. */
export interface StoredSchema {
  row: ConfigSchema;
  /** Null for a schema of WORKER_SCHEMA_CHARS or more: compiled and run on the worker thread only. */
  check: SchemaCheck | null;
}

/**
 * A stored schema whose JSON is at least this long is compiled on the worker thread only
 * (documentChecks.ts): compiling one with many patterns would hold the event loop. A smaller
 * one is compiled here too, once per version, for the checks of small documents. New schemas are
 * compiled on the worker whatever their size.
 */
export const WORKER_SCHEMA_CHARS = 4 * 1024;

/** The most refused patterns one answer lists. */
const MAX_PATTERN_ISSUES = 20;

/** A compiled Ajv function behind the pattern work budget. */
function budgeted(validate: ValidateFunction, meter: PatternMeter): SchemaValidator {
  const check: SchemaValidator = (document, budget) => {
    meter.reset(budget);
    try {
      const valid = validate(document) as boolean;
      check.errors = validate.errors;
      return valid;
    } catch (error) {
      if (!(error instanceof PatternBudgetError)) throw error;
      check.errors = null;
      if (budget !== undefined && budget < PATTERN_WORK_BUDGET) throw error;
      throw ValidationError.at('', `${error.message} (pattern sizes times text lengths); make the document or the schema's patterns smaller`);
    }
  };
  return check;
}

/** Keywords whose value maps names to schemas, holds a list of schemas, or is a schema (JSON Schema 2020-12 and earlier drafts). */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas', 'dependencies']);
const SCHEMA_LISTS = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems', 'items']);
const SCHEMA_VALUES = new Set([
  'not', 'if', 'then', 'else', 'items', 'additionalItems', 'contains', 'propertyNames',
  'additionalProperties', 'unevaluatedProperties', 'unevaluatedItems', 'contentSchema',
]);

/** Every pattern of a schema (`pattern` values, `patternProperties` keys), with its pointer, in document order. */
function schemaPatterns(schema: JsonValue, pointer = ''): { pointer: string; source: string }[] {
  if (!isJsonObject(schema)) return [];
  const found: { pointer: string; source: string }[] = [];
  for (const [keyword, value] of Object.entries(schema)) {
    const at = `${pointer}/${escapeKey(keyword)}`;
    if (keyword === 'pattern' && typeof value === 'string') found.push({ pointer: at, source: value });
    if (keyword === 'patternProperties' && isJsonObject(value)) {
      for (const key of Object.keys(value)) found.push({ pointer: `${at}/${escapeKey(key)}`, source: key });
    }
    if (SCHEMA_MAPS.has(keyword) && isJsonObject(value)) {
      for (const [name, child] of Object.entries(value)) found.push(...schemaPatterns(child, `${at}/${escapeKey(name)}`));
    } else if (SCHEMA_LISTS.has(keyword) && Array.isArray(value)) {
      for (const [index, child] of value.entries()) found.push(...schemaPatterns(child, `${at}/${index}`));
    } else if (SCHEMA_VALUES.has(keyword)) {
      found.push(...schemaPatterns(value, at));
    }
  }
  return found;
}

/** Why each of the schema's patterns that cannot run here cannot, with pointers prefixed with `prefix`. */
function patternIssues(schema: JsonObject, patterns: PatternCompiler, prefix: string): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const { pointer, source } of schemaPatterns(schema)) {
    try {
      patterns.compile(source);
    } catch (error) {
      if (!(error instanceof UnsupportedPatternError)) throw error;
      issues.push({ pointer: `${prefix}${pointer}`, message: error.message });
      if (error.schemaWide || issues.length === MAX_PATTERN_ISSUES) break;
    }
  }
  return issues;
}

/** How many JSON objects `value` holds, itself included; stops counting past `limit`. */
function countObjects(value: JsonValue, limit: number): number {
  let count = 0;
  const stack: JsonValue[] = [value];
  while (stack.length > 0 && count <= limit) {
    const next = stack.pop()!;
    if (Array.isArray(next)) stack.push(...next);
    else if (isJsonObject(next)) {
      count++;
      stack.push(...Object.values(next));
    }
  }
  return count;
}

/** The first line of an error, cut short: Ajv's messages can carry whole generated functions. */
const briefly = (error: unknown) => {
  const message = (error as Error)?.message ?? String(error);
  return message.length > 500 ? `${message.slice(0, 500)}…` : message;
};

/** Every setting a schema describes, depth first. */
export function schemaFields(schema: JsonObject, pointer = ''): ConfigField[] {
  const fields: ConfigField[] = [];
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  const numberOrNull = (value: JsonValue | undefined) => (typeof value === 'number' ? value : null);
  if (isJsonObject(schema.properties)) {
    for (const [name, child] of Object.entries(schema.properties)) {
      if (!isJsonObject(child)) continue;
      const childPointer = `${pointer}/${escapeKey(name)}`;
      fields.push({
        pointer: childPointer,
        type: typeof child.type === 'string' ? child.type : Array.isArray(child.type) ? child.type.join('|') : null,
        description: typeof child.description === 'string' ? child.description : null,
        default: child.default ?? null,
        notSecret: child[NOT_SECRET_KEYWORD] === true,
        required: required.has(name),
        minimum: numberOrNull(child.minimum),
        maximum: numberOrNull(child.maximum),
        exclusiveMinimum: numberOrNull(child.exclusiveMinimum),
        exclusiveMaximum: numberOrNull(child.exclusiveMaximum),
        allowed: Array.isArray(child.enum) ? child.enum : null,
      });
      fields.push(...schemaFields(child, childPointer));
    }
  }
  if (isJsonObject(schema.items)) fields.push(...schemaFields(schema.items, `${pointer}/*`));
  return fields;
}

/** The keywords whose values are config values (examples of the settings, not schemas). */
const VALUE_KEYWORDS = ['default', 'const', 'examples', 'enum'] as const;

/**
 * What looks like a secret among the values a schema holds as examples of settings (`default`, `const`,
 * `examples`, `enum`): a schema is read back through the API and documents the service, so it must not
 * carry one either. A value under a named property is judged with its name (`api_key` default `x`).
 * Pointers lead into the schema. Fields marked `x-confighub-not-secret` are let through.
 */
export function schemaSecrets(schema: JsonObject): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const stack: { node: JsonObject; pointer: string; name: string | null }[] = [{ node: schema, pointer: '', name: null }];
  while (stack.length > 0) {
    const { node, pointer, name } = stack.pop()!;
    if (node[NOT_SECRET_KEYWORD] === true) continue;
    for (const keyword of VALUE_KEYWORDS) {
      if (!(keyword in node)) continue;
      const given = node[keyword]!;
      const values = keyword === 'examples' || keyword === 'enum' ? (Array.isArray(given) ? given.map((value, index) => ({ value, at: `/${index}` })) : []) : [{ value: given, at: '' }];
      for (const { value, at } of values) {
        for (const issue of findSecrets(name === null ? value : { [name]: value })) {
          const inner = name === null ? issue.pointer : issue.pointer.slice(`/${escapeKey(name)}`.length);
          issues.push({ pointer: `${pointer}/${keyword}${at}${inner}`, message: issue.message });
        }
      }
    }
    for (const [key, child] of Object.entries(node)) {
      if ((VALUE_KEYWORDS as readonly string[]).includes(key)) continue;
      const childPointer = `${pointer}/${escapeKey(key)}`;
      const isNamedMap = key === 'properties' || key === 'patternProperties' || key === '$defs' || key === 'definitions' || key === 'dependentSchemas';
      if (isJsonObject(child) && isNamedMap) {
        for (const [member, subschema] of Object.entries(child)) {
          if (isJsonObject(subschema)) stack.push({ node: subschema, pointer: `${childPointer}/${escapeKey(member)}`, name: key === 'properties' ? member : null });
        }
      } else if (isJsonObject(child)) {
        stack.push({ node: child, pointer: childPointer, name: key === 'items' || key === 'additionalProperties' ? name : null });
      } else if (Array.isArray(child)) {
        child.forEach((item, index) => isJsonObject(item) && stack.push({ node: item, pointer: `${childPointer}/${index}`, name: null }));
      }
    }
  }
  return issues;
}

/**
 * Compiles a new schema, refusing with pointers into `/schema` one that is invalid, larger than a
 * document may be, holds more than MAX_SCHEMA_OBJECTS objects, or has a pattern that cannot run on
 * the linear-time engine or is too large for it (schemaPatterns.ts).
 */
export function compileNewSchema(schema: JsonObject): SchemaValidator {
  requireObject(schema, '/schema', 'schema');
  if (countObjects(schema, MAX_SCHEMA_OBJECTS) > MAX_SCHEMA_OBJECTS) {
    throw ValidationError.at('/schema', `schema holds more than ${MAX_SCHEMA_OBJECTS} JSON objects (subschemas and the objects inside them)`);
  }
  const meter = new PatternMeter();
  const patterns = new PatternCompiler(meter);
  patterns.applyLimits();
  const issues = patternIssues(schema, patterns, '/schema');
  if (issues.length > 0) throw new ValidationError(issues);
  try {
    return budgeted(compileInDialect(schema, patterns), meter);
  } catch (error) {
    if (error instanceof UnsupportedPatternError) throw ValidationError.at('/schema', error.message);
    throw ValidationError.at('/schema', `not a valid JSON Schema (draft 2020-12): ${briefly(error)}`);
  }
}

/**
 * Compiles a stored schema as it was accepted (without the limits on new schemas, and without checking it
 * against the meta-schema again: compiling that in the event loop's thread would hold it at the first write
 * to a service with a schema), on the same engine; throws the reason when it cannot (a pattern
 * the linear-time engine cannot run, a schema inserted by hand that Ajv cannot compile).
 */
export function compileStoredSchema(schema: JsonObject): SchemaCheck {
  const meter = new PatternMeter();
  const patterns = new PatternCompiler(meter);
  const issues = patternIssues(schema, patterns, '');
  if (issues.length > 0) throw new ValidationError(issues);
  return {
    validate: budgeted(compileInDialect(schema, patterns, true), meter),
    notSecret: new Set(schemaFields(schema).filter((field) => field.notSecret).map((field) => field.pointer)),
  };
}

/** Every way `document` breaks a schema, pointers prefixed with `prefix`. */
export function schemaViolations(validate: SchemaValidator, document: JsonValue, prefix = '', budget?: number): ValidationIssue[] {
  try {
    if (validate(document, budget)) return [];
  } catch (error) {
    if (error instanceof ValidationError) return error.issues.map((issue) => ({ ...issue, pointer: `${prefix}${issue.pointer}` }));
    throw error;
  }
  return (validate.errors ?? []).map((error) => {
    // A missing required property is reported on its parent; point at the property itself.
    const missing = error.keyword === 'required' ? `/${escapeKey(String(error.params.missingProperty))}` : '';
    return { pointer: `${prefix}${error.instancePath}${missing}`, message: error.message ?? 'is invalid' };
  });
}

/** What is wrong with a new schema: why it cannot be compiled or breaks a live config (`validation`), or what looks like a secret among its values. */
export interface SchemaVetting {
  validation: ValidationIssue[];
  secrets: ValidationIssue[];
}

/**
 * Checks a new schema the way setConfigSchema must before storing it: it compiles within the limits,
 * holds no secret among its values, and every live config of the service (`configs`) passes it.
 * Returns the problems, pointers into `/schema` (or into the config that breaks it), rather than throwing.
 */
export function vetNewSchema(schema: JsonObject, configs: readonly { environment: string; config: JsonValue }[]): SchemaVetting {
  let validate: SchemaValidator;
  try {
    validate = compileNewSchema(schema);
  } catch (error) {
    if (error instanceof ValidationError) return { validation: error.issues, secrets: [] };
    throw error;
  }
  const secrets = schemaSecrets(schema).map((issue) => ({ ...issue, pointer: `/schema${issue.pointer}` }));
  if (secrets.length > 0) return { validation: [], secrets };
  const validation = configs.flatMap(({ environment, config }) =>
    schemaViolations(validate, config).map((issue) => ({ pointer: issue.pointer, message: `the config of environment "${environment}" breaks it: ${issue.message}` })),
  );
  return { validation, secrets: [] };
}

/**
 * The services' JSON Schemas: versioned, compiled once per version, dropped when any instance adds a
 * version (NOTIFY config_schemas). A service without a schema accepts any JSON object.
 */
export class ConfigSchemas {
  private readonly prisma: PrismaClient;
  /** Newest compiled schema per service; null caches "no schema". */
  private readonly current = new Map<string, StoredSchema | null>();
  private stopListening: (() => Promise<void>) | undefined;

  constructor(
    private readonly db: Database,
    private readonly logger?: Logger,
  ) {
    this.prisma = db.prisma;
  }

  async start(): Promise<void> {
    this.stopListening = await this.db.listen(
      SCHEMA_CHANNEL,
      (service) => this.current.delete(service),
      () => this.current.clear(),
    );
  }

  async stop(): Promise<void> {
    await this.stopListening?.();
  }

  /** The newest schema of a service, or null. */
  async schemaOf(service: string): Promise<ConfigSchema | null> {
    return (await this.stored(service))?.row ?? null;
  }

  /** The newest version of a service's schema in the database (0 when it has none). */
  async newestVersion(service: string): Promise<number> {
    const { _max } = await this.prisma.configSchema.aggregate({ where: { serviceName: service }, _max: { version: true } });
    return _max.version ?? 0;
  }

  /** The newest schema of each service (of `services` only, when given), by service name. */
  async newestOfEach(services?: readonly string[]): Promise<ConfigSchema[]> {
    return this.prisma.configSchema.findMany({
      where: services ? { serviceName: { in: [...services] } } : {},
      distinct: ['serviceName'],
      orderBy: [{ serviceName: 'asc' }, { version: 'desc' }],
    });
  }

  async versions(service: string): Promise<ConfigSchema[]> {
    return this.prisma.configSchema.findMany({ where: { serviceName: configKey(service).service }, orderBy: { version: 'desc' } });
  }

  /** The newest schema of a service, compiled (once per version), or null when it has none. */
  async stored(service: string): Promise<StoredSchema | null> {
    if (this.current.has(service)) return this.current.get(service)!;
    const row = await this.prisma.configSchema.findFirst({ where: { serviceName: service }, orderBy: { version: 'desc' } });
    let compiled: StoredSchema | null = null;
    if (row) {
      try {
        const schema = requireObject(row.schema, '/schema', 'schema');
        compiled = { row, check: documentText(schema).length >= WORKER_SCHEMA_CHARS ? null : compileStoredSchema(schema) };
      } catch (error) {
        // A schema inserted by hand, or one with a pattern accepted before patterns ran on the linear-time
        // engine that this engine cannot run: refuse writes rather than skip checks.
        throw this.unusable(service, row.version, briefly(error));
      }
    }
    this.current.set(service, compiled);
    return compiled;
  }

  /** The refusal of a write whose stored schema does not compile (logged: someone must set a new one). */
  unusable(service: string, version: number, reason: string): ValidationError {
    this.logger?.error({ err: reason, service, version }, 'stored schema does not compile');
    return ValidationError.at('', `the stored schema version ${version} of "${service}" does not compile (${reason}); set a new one`);
  }

  /** Stores a new schema version for a service (validation of its configs is the caller's). */
  async insert(service: string, schema: JsonObject, createdBy: string, reason: string | null, expectedVersion: number): Promise<ConfigSchema | null> {
    const rows = await this.prisma.$queryRaw<ConfigSchema[]>`
      INSERT INTO config_schemas (service_name, version, schema, created_by, reason)
      SELECT ${service}, ${expectedVersion + 1}, ${documentText(schema)}::jsonb, ${createdBy}, ${reason}
       WHERE coalesce((SELECT max(version) FROM config_schemas WHERE service_name = ${service}), 0) = ${expectedVersion}
      ON CONFLICT (service_name, version) DO NOTHING
      RETURNING id, service_name AS "serviceName", version, schema, created_by AS "createdBy", reason, created_at AS "createdAt"`;
    this.current.delete(service);
    return rows[0] ?? null;
  }
}
