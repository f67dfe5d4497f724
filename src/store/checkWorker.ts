// The worker thread of DocumentChecker (documentChecks.ts): the same checks, off the event loop.
import { compileStoredSchema, type SchemaCheck, vetNewSchema } from './configSchemas.ts';
import { type CheckTask, type UnusableSchema, diffTexts, documentProblems } from './documentChecks.ts';
import { requireObject } from './documents.ts';

/** Compiled schemas by service and version; a new version of a service replaces the old one. */
const compiled = new Map<string, SchemaCheck>();

export default function check(task: CheckTask) {
  if (task.kind === 'schema') return vetNewSchema(task.schema, task.configs);
  if (task.kind === 'diff') return diffTexts(task.from, task.to);
  let schemaCheck: SchemaCheck | null = null;
  if (task.schemaKey !== null && task.schema !== null) {
    schemaCheck = compiled.get(task.schemaKey) ?? null;
    if (!schemaCheck) {
      const service = task.schemaKey.slice(0, task.schemaKey.lastIndexOf('@'));
      for (const key of compiled.keys()) if (key.startsWith(`${service}@`)) compiled.delete(key);
      try {
        schemaCheck = compileStoredSchema(requireObject(task.schema, '/schema', 'schema'));
      } catch (error) {
        return { unusable: error instanceof Error ? error.message : String(error) } satisfies UnusableSchema;
      }
      compiled.set(task.schemaKey, schemaCheck);
    }
  }
  return documentProblems(schemaCheck, JSON.parse(task.text));
}
