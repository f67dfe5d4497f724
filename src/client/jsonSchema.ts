import { type JsonObject, pointerSegments } from '../protocol/json.ts';
import { compileInDialect } from '../protocol/schemaDialect.ts';
import { PatternBudgetError, PatternCompiler, PatternMeter } from '../protocol/schemaPatterns.ts';
import type { SettingsSchema } from './configClient.ts';

// The entry `@confighub/client/json-schema`: a service's settings checked with its hub's JSON Schema, by the
// validator the hub itself uses (the dialect in protocol/schemaDialect.ts). It needs Ajv and RE2JS beside
// the client (`npm install ajv ajv-formats re2js`): they are optional, so the client alone stays small.

/**
 * A settings schema for `ConfigClient` (its `schema` option) from the service's JSON Schema on the hub,
 * as `confighub types <service>` writes it into the service: every config the client would apply is
 * checked exactly as the hub checks a write, and one that fails is refused (the client keeps what it runs).
 */
export function jsonSchemaSettings<T>(schema: JsonObject): SettingsSchema<T> {
  const meter = new PatternMeter();
  const validate = compileInDialect(schema, new PatternCompiler(meter));
  return {
    safeParse(value: unknown) {
      meter.reset();
      try {
        if (validate(value)) return { success: true, data: value as T };
      } catch (error) {
        if (!(error instanceof PatternBudgetError)) throw error;
        return { success: false, error: { issues: [{ path: [], message: error.message }] } };
      }
      const issues = (validate.errors ?? []).map((error) => ({
        path: pointerSegments(error.instancePath),
        message: error.message ?? `fails ${error.keyword}`,
      }));
      return { success: false, error: { issues } };
    },
  };
}
