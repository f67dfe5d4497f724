import { type JsonObject, type JsonValue, isJsonObject } from '@confighub/client';
import { usageError } from './errors.ts';

/**
 * A value as typed on the command line: JSON when it parses (`8`, `true`, `null`, `[1,2]`,
 * `{"a":1}`, `"8"`), otherwise the text itself (`sp500`).
 */
export function parseValue(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

/** Splits `a.b\.c.d` into `['a', 'b.c', 'd']` (a backslash keeps a dot in a key). */
export function splitKeyPath(path: string): string[] {
  const keys = path.split(/(?<!\\)\./).map((key) => key.replaceAll('\\.', '.'));
  if (keys.some((key) => key === '')) throw usageError(`"${path}" is not a key path (write keys joined by dots: operational.batch_size)`);
  return keys;
}

/**
 * An RFC 7396 merge patch from `key.path=value` assignments (`null` removes a key), e.g.
 * `operational.batch_size=2000` gives `{"operational": {"batch_size": 2000}}`.
 */
export function mergePatchFromAssignments(assignments: string[]): JsonObject {
  if (assignments.length === 0) throw usageError('nothing to set: give one or more key.path=value');
  const patch: JsonObject = {};
  for (const assignment of assignments) {
    const equals = assignment.indexOf('=');
    if (equals <= 0) throw usageError(`"${assignment}" is not key.path=value`);
    const keys = splitKeyPath(assignment.slice(0, equals));
    const value = parseValue(assignment.slice(equals + 1));
    let node = patch;
    for (const key of keys.slice(0, -1)) {
      const next = node[key];
      if (next !== undefined && !isJsonObject(next)) throw usageError(`"${assignment}" conflicts with an earlier assignment of ${key}`);
      node = (node[key] ??= {}) as JsonObject;
    }
    const last = keys.at(-1)!;
    if (node[last] !== undefined) throw usageError(`"${assignment}" sets a key that another assignment sets too`);
    node[last] = value;
  }
  return patch;
}
