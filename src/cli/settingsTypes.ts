import { type JsonObject, type JsonValue, escapeKey, isJsonObject } from '@confighub/client';

// Typed settings from a service's JSON Schema on the hub: the TypeScript type (json-schema-to-typescript),
// the schema itself for `jsonSchemaSettings` (@confighub/client/json-schema) and the defaults the schema
// gives, in one module the service commits. `confighub types` writes it; `--check` tells when it is out of date.

/** A service's schema as the hub serves it. */
export interface SchemaVersion {
  service: string;
  version: number;
  schema: JsonObject;
}

/** `polygon-historical-downloader` -> `PolygonHistoricalDownloaderSettings`. */
export function settingsTypeName(service: string): string {
  const words = service.split(/[^A-Za-z0-9]+/).filter(Boolean);
  const name = words.map((word) => word[0]!.toUpperCase() + word.slice(1)).join('');
  return `${/^[0-9]/.test(name) ? `S${name}` : name || 'Service'}Settings`;
}

/**
 * The defaults a schema gives: each property's `default`, and for an object property without one, the
 * object its own properties' defaults make. `missing` lists the required settings left without a value.
 */
export function schemaDefaults(schema: JsonObject, pointer = ''): { value: JsonObject; missing: string[] } {
  const value: JsonObject = {};
  const missing: string[] = [];
  const properties = isJsonObject(schema.properties) ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? schema.required.filter((name) => typeof name === 'string') : []);
  for (const [name, child] of Object.entries(properties)) {
    if (!isJsonObject(child)) continue;
    const at = `${pointer}/${escapeKey(name)}`;
    if (child.default !== undefined) {
      value[name] = child.default;
    } else if (isJsonObject(child.properties)) {
      const inner = schemaDefaults(child, at);
      if (inner.missing.length === 0 || required.has(name)) value[name] = inner.value;
      if (required.has(name)) missing.push(...inner.missing);
    } else if (required.has(name)) {
      missing.push(at);
    }
  }
  return { value, missing };
}

const json = (value: JsonValue) => JSON.stringify(value, null, 2);

const BOUNDS = [
  ['minimum', '>='], ['exclusiveMinimum', '>'], ['maximum', '<='], ['exclusiveMaximum', '<'],
  ['minLength', 'length >='], ['maxLength', 'length <='], ['minItems', 'items >='], ['maxItems', 'items <='],
  ['pattern', 'matches'],
] as const;

/** Keywords whose values are values (not schemas), and keywords whose values map names to schemas. */
const VALUE_KEYWORDS = new Set(['default', 'const', 'enum', 'examples', 'required']);
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);

/**
 * A copy of the schema for typing: descriptions also say each setting's bounds and default (they become the
 * type's doc comments), and a setting the defaults always fill (it has a default, or is an object whose
 * settings all have one) counts as required, since the client overlays the defaults under every config.
 */
function documented(schema: JsonValue): JsonValue {
  if (Array.isArray(schema)) return schema.map(documented);
  if (!isJsonObject(schema)) return schema;
  const copy: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) {
    if (VALUE_KEYWORDS.has(key)) copy[key] = value;
    else if (SCHEMA_MAPS.has(key) && isJsonObject(value)) copy[key] = Object.fromEntries(Object.entries(value).map(([name, child]) => [name, documented(child)]));
    else copy[key] = documented(value);
  }
  const notes = BOUNDS.filter(([keyword]) => schema[keyword] !== undefined).map(([keyword, word]) => `${word} ${JSON.stringify(schema[keyword])}`);
  if (schema.default !== undefined) notes.push(`default ${JSON.stringify(schema.default)}`);
  if (notes.length > 0) copy.description = [typeof schema.description === 'string' ? schema.description : '', `(${notes.join(', ')})`].filter(Boolean).join(' ');
  if (isJsonObject(schema.properties)) {
    const filled = Object.keys(schemaDefaults(schema).value);
    const required = Array.isArray(schema.required) ? schema.required.filter((name) => typeof name === 'string') : [];
    if (filled.length > 0) copy.required = [...new Set([...required, ...filled])];
  }
  return copy;
}

/** The settings module for a service's schema: its type, schema, schema version and (when complete) defaults. */
export async function settingsModule(source: SchemaVersion): Promise<string> {
  // Loaded here only: the other commands start without it.
  const { compile } = await import('json-schema-to-typescript');
  const typeName = settingsTypeName(source.service);
  // The type is named after the service, whatever the schema's title says.
  const { title: _title, ...typed } = documented(source.schema) as JsonObject;
  const declarations = await compile(typed as Parameters<typeof compile>[0], typeName, {
    bannerComment: '',
    // A setting the schema does not name is a typo in the service's code, not a setting.
    additionalProperties: false,
    strictIndexSignatures: true,
    unknownAny: true,
    // Only what the schema holds: no files, no URLs.
    $refOptions: { resolve: { external: false } },
    style: { singleQuote: true, printWidth: 120 },
  });
  const defaults = schemaDefaults(source.schema);
  const defaultsBlock =
    defaults.missing.length === 0
      ? `/** The defaults the schema gives: a value for every required setting. */\nexport const defaults: ${typeName} = ${json(defaults.value)};\n`
      : `// No \`defaults\`: the schema gives no default for ${defaults.missing.join(', ')}.\n`;
  return `// Generated by \`confighub types ${source.service}\` from version ${source.version} of its schema on the hub.
// Do not edit: run it again after the schema changes (\`confighub types ${source.service} --check <file>\` tells).
import type { JsonObject } from '@confighub/client';

${declarations.trim()}

export type Settings = ${typeName};

/** The version of the hub's schema this module was generated from. */
export const schemaVersion = ${source.version};

/** The hub's JSON Schema for these settings: \`jsonSchemaSettings(schema)\` checks a config as the hub does. */
export const schema: JsonObject = ${json(source.schema)};

${defaultsBlock}`;
}
