import { Ajv2020, _ } from 'ajv/dist/2020.js';
import type { SchemaValidateFunction, ValidateFunction } from 'ajv/dist/types/index.js';
import addFormats from 'ajv-formats';
import { type JsonObject, type JsonValue, isJsonObject } from './json.ts';
import { PatternCompiler, PatternMeter, UnsupportedPatternError } from './schemaPatterns.ts';

// The hub's JSON Schema dialect: draft 2020-12 as Ajv checks it, with formats, patterns on the linear-time
// engine, and `enum`/`uniqueItems` by canonical JSON. The hub and the client both compile schemas here, so
// that a service checking a config with its hub's schema (@confighub/client/json-schema) agrees with the hub.

/** A schema keyword that marks a field as not secret, silencing the hub's secret guard there. */
export const NOT_SECRET_KEYWORD = 'x-confighub-not-secret';

/**
 * Compiles `schema` in the dialect, its patterns through `patterns`; unless `checked` already, throws Ajv's
 * own error ("schema is invalid: ...") when it does not follow the JSON Schema meta-schema. Each schema gets
 * an Ajv of its own (versions of a schema may share an `$id`); the check is made by one Ajv kept for it,
 * whose meta-schema is compiled once (that costs many times a small schema's own compile).
 */
export function compileInDialect(schema: JsonObject, patterns: PatternCompiler, checked = false): ValidateFunction {
  if (!checked) {
    metaChecker ??= createAjv(new PatternCompiler(metaMeter));
    metaMeter.reset();
    metaChecker.validateSchema(schema, true);
  }
  return createAjv(patterns).compile(schema);
}

const metaMeter = new PatternMeter();
let metaChecker: Ajv2020 | undefined;

/** An Ajv instance for the dialect that does not check schemas against the meta-schema, running patterns through `patterns`. */
function createAjv(patterns: PatternCompiler): Ajv2020 {
  const regExp = Object.assign(
    (source: string) => {
      try {
        return patterns.compile(source);
      } catch (error) {
        // A pattern the walk in `patternIssues` did not reach (under an unknown keyword, through a $ref).
        if (error instanceof UnsupportedPatternError) throw new UnsupportedPatternError(`pattern ${JSON.stringify(source)}: ${error.message}`);
        throw error;
      }
    },
    { code: 'schemaPatterns' },
  );
  const ajv = new Ajv2020({
    allErrors: true,
    strict: false,
    // Every `pattern` and `patternProperties` key runs on the linear-time engine (schemaPatterns.ts).
    code: { regExp },
    // A referenced schema is compiled once and called: inlining would copy it into every place that refers to it.
    inlineRefs: false,
    // Ajv prints the generated code of a schema that fails to compile to the console; the error goes
    // back to whoever set the schema instead.
    logger: false,
    // compileInDialect checks the schema first, with an Ajv that has compiled the meta-schema already.
    validateSchema: false,
  });
  addFormats.default(ajv);
  ajv.addKeyword({ keyword: NOT_SECRET_KEYWORD, schemaType: 'boolean' });
  // Ajv compares items pairwise unless they are typed as scalars; this one keys each item by its canonical JSON.
  ajv.removeKeyword('uniqueItems');
  ajv.addKeyword({ keyword: 'uniqueItems', type: 'array', schemaType: 'boolean', errors: true, validate: uniqueItems });
  // Ajv compares a value with each allowed one in turn; this one looks it up, by its canonical JSON, in a set
  // made at compile time (generated code: a function keyword's errors are concatenated, quadratically).
  ajv.removeKeyword('enum');
  ajv.addKeyword({
    keyword: 'enum',
    schemaType: 'array',
    error: { message: 'must be equal to one of the allowed values', params: ({ schemaCode }) => _`{allowedValues: ${schemaCode}}` },
    code(cxt) {
      const allowed = cxt.gen.scopeValue('func', { ref: enumOf(cxt.schema as JsonValue[]) });
      cxt.fail(_`!${allowed}(${cxt.data})`);
    },
  });
  return ajv;
}

const uniqueItems: SchemaValidateFunction = (unique: boolean, items: JsonValue[]) => {
  if (!unique) return true;
  const seen = new Map<string, number>();
  for (const [i, item] of items.entries()) {
    const key = canonicalJson(item);
    const j = seen.get(key);
    if (j !== undefined) {
      uniqueItems.errors = [
        { keyword: 'uniqueItems', message: `must NOT have duplicate items (items ## ${j} and ${i} are identical)`, params: { i, j } },
      ];
      return false;
    }
    seen.set(key, i);
  }
  return true;
};

/** Whether a value is one of `allowed`: scalars looked up as they are, objects and arrays by canonical JSON. */
function enumOf(allowed: JsonValue[]): (value: JsonValue) => boolean {
  const scalars = new Set(allowed.filter((value) => typeof value !== 'object' || value === null));
  const composites = new Set(allowed.filter((value) => typeof value === 'object' && value !== null).map(canonicalJson));
  return (value) => (typeof value !== 'object' || value === null ? scalars.has(value) : composites.has(canonicalJson(value)));
}

/** JSON text with object keys sorted: equal for JSON values exactly when they are deeply equal. */
function canonicalJson(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (!isJsonObject(value)) return JSON.stringify(value);
  const keys = Object.keys(value).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key]!)}`).join(',')}}`;
}

