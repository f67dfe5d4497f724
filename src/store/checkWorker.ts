// The worker thread of DocumentChecker (documentChecks.ts): the same checks, off the event loop.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { compileStoredSchema, type SchemaCheck, vetNewSchema } from './configSchemas.ts';
import { type CheckTask, type UnusableSchema, diffTexts, documentProblems } from './documentChecks.ts';
import { requireObject } from './documents.ts';
import { writePatch } from './patchText.ts';

/**
 * This thread yields the CPU to the event loop's, so that a long check does not take a core from it. On
 * Linux a thread has a priority of its own (its id is the last part of /proc/thread-self).
 */
try {
  setPriority(Number(readlinkSync('/proc/thread-self').split('/').at(-1)), 10);
} catch {
  // Not Linux, or not allowed: the same checks, at the process's priority.
}

/** Compiled schemas by service and version; a new version of a service replaces the old one. */
const compiled = new Map<string, SchemaCheck>();

export default function check(task: CheckTask) {
  if (task.kind === 'schema') return vetNewSchema(task.schema, task.configs);
  if (task.kind === 'diff') return writePatch(diffTexts(task.from, task.to));
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
