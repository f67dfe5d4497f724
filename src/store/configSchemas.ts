import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { ConfigSchema, PrismaClient } from '../generated/prisma/client.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { type JsonObject, type JsonValue, documentText, requireObject } from './documents.ts';
import { ValidationError, type ValidationIssue } from './errors.ts';
import { configKey } from './names.ts';

export type { ConfigSchema };

/** A schema keyword that marks a field as not secret, silencing the secret guard there. */
export const NOT_SECRET_KEYWORD = 'x-confighub-not-secret';

/** One documented setting, read from a schema's `properties`. */
export interface ConfigField {
  /** JSON pointer of the setting; `*` stands for any array index. */
  pointer: string;
  type: string | null;
  description: string | null;
  default: JsonValue | null;
  notSecret: boolean;
}

interface CompiledSchema {
  row: ConfigSchema;
  validate: ValidateFunction;
  /** Pointers (with `*` for indexes) the schema marks as not secret. */
  notSecret: Set<string>;
}

function createAjv(): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats.default(ajv);
  ajv.addKeyword({ keyword: NOT_SECRET_KEYWORD, schemaType: 'boolean' });
  return ajv;
}

const escapePointer = (segment: string) => segment.replaceAll('~', '~0').replaceAll('/', '~1');

/** Every setting a schema describes, depth first. */
export function schemaFields(schema: JsonObject, pointer = ''): ConfigField[] {
  const fields: ConfigField[] = [];
  const properties = schema.properties;
  if (properties && typeof properties === 'object' && !Array.isArray(properties)) {
    for (const [name, child] of Object.entries(properties)) {
      if (!child || typeof child !== 'object' || Array.isArray(child)) continue;
      const childPointer = `${pointer}/${escapePointer(name)}`;
      fields.push({
        pointer: childPointer,
        type: typeof child.type === 'string' ? child.type : Array.isArray(child.type) ? child.type.join('|') : null,
        description: typeof child.description === 'string' ? child.description : null,
        default: child.default ?? null,
        notSecret: child[NOT_SECRET_KEYWORD] === true,
      });
      fields.push(...schemaFields(child, childPointer));
    }
  }
  const items = schema.items;
  if (items && typeof items === 'object' && !Array.isArray(items)) fields.push(...schemaFields(items, `${pointer}/*`));
  return fields;
}

function issuesOf(errors: ErrorObject[] | null | undefined, prefix: string): ValidationIssue[] {
  return (errors ?? []).map((error) => {
    // A missing required property is reported on its parent; point at the property itself.
    const missing = error.keyword === 'required' ? `/${escapePointer(String(error.params.missingProperty))}` : '';
    return { pointer: `${prefix}${error.instancePath}${missing}`, message: error.message ?? 'is invalid' };
  });
}

/**
 * The services' JSON Schemas: versioned, compiled once per version, dropped when any instance adds a
 * version (NOTIFY config_schemas). A service without a schema accepts any JSON object.
 */
export class ConfigSchemas {
  private readonly prisma: PrismaClient;
  /** Newest compiled schema per service; null caches "no schema". */
  private readonly current = new Map<string, CompiledSchema | null>();
  private stopListening: (() => Promise<void>) | undefined;

  constructor(
    private readonly db: Database,
    private readonly logger?: Logger,
  ) {
    this.prisma = db.prisma;
  }

  async start(): Promise<void> {
    this.stopListening = await this.db.listen(
      'config_schemas',
      (service) => this.current.delete(service),
      () => this.current.clear(),
    );
  }

  async stop(): Promise<void> {
    await this.stopListening?.();
  }

  /** The newest schema of a service, or null. */
  async schemaOf(service: string): Promise<ConfigSchema | null> {
    return (await this.compiled(service))?.row ?? null;
  }

  async versions(service: string): Promise<ConfigSchema[]> {
    return this.prisma.configSchema.findMany({ where: { serviceName: configKey(service).service }, orderBy: { version: 'desc' } });
  }

  /** Every way `document` breaks the service's schema, pointers prefixed with `prefix`. */
  async violations(service: string, document: JsonValue, prefix = ''): Promise<ValidationIssue[]> {
    const compiled = await this.compiled(service);
    if (!compiled || compiled.validate(document)) return [];
    return issuesOf(compiled.validate.errors, prefix);
  }

  /** Pointers the service's schema marks as not secret. */
  async notSecret(service: string): Promise<Set<string>> {
    return (await this.compiled(service))?.notSecret ?? new Set();
  }

  /** Compiles a schema, refusing an invalid one with pointers into `/schema`. */
  compile(schema: JsonObject): ValidateFunction {
    try {
      // One Ajv per schema: versions of a schema may share an $id.
      return createAjv().compile(schema);
    } catch (error) {
      throw ValidationError.at('/schema', `not a valid JSON Schema (draft 2020-12): ${(error as Error).message}`);
    }
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

  private async compiled(service: string): Promise<CompiledSchema | null> {
    if (this.current.has(service)) return this.current.get(service)!;
    const row = await this.prisma.configSchema.findFirst({ where: { serviceName: service }, orderBy: { version: 'desc' } });
    let compiled: CompiledSchema | null = null;
    if (row) {
      const schema = requireObject(row.schema, '/schema', 'schema');
      try {
        compiled = {
          row,
          validate: createAjv().compile(schema),
          notSecret: new Set(schemaFields(schema).filter((field) => field.notSecret).map((field) => field.pointer)),
        };
      } catch (error) {
        // Only possible if someone inserted a broken schema by hand: refuse writes rather than skip checks.
        this.logger?.error({ err: error, service, version: row.version }, 'stored schema does not compile');
        throw ValidationError.at('', `the stored schema version ${row.version} of "${service}" does not compile; set a new one`);
      }
    }
    this.current.set(service, compiled);
    return compiled;
  }
}
