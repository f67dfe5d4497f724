// JSON documents as the console shows and edits them: settings by JSON pointer, with the hub's own JSON
// types and pointer rules (src/protocol/json.ts).
import { type JsonObject, type JsonValue as Json, escapeKey, isJsonObject as isObject, pointerSegments } from '../protocol/json.ts';

export { type Json, type JsonObject, isObject };

/** How a setting is named to people: `operational.batch_size`. */
export const settingName = (pointer: string) => pointerSegments(pointer).join('.');

export function valueAt(document: Json | undefined, pointer: string): Json | undefined {
  let value = document;
  for (const key of pointerSegments(pointer)) {
    if (Array.isArray(value)) value = value[Number(key)];
    else if (isObject(value)) value = value[key];
    else return undefined;
  }
  return value;
}

/** A copy of `document` with `value` at `pointer` (objects made on the way). */
export function withValue(document: JsonObject, pointer: string, value: Json): JsonObject {
  const copy = structuredClone(document);
  const path = pointerSegments(pointer);
  let parent: JsonObject = copy;
  for (const key of path.slice(0, -1)) {
    const next = parent[key];
    parent = isObject(next) ? next : (parent[key] = {});
  }
  parent[path.at(-1)!] = value;
  return copy;
}

/** The settings of a document: every value that is not an object, by pointer. */
export function leaves(document: Json, prefix = ''): { pointer: string; value: Json }[] {
  if (!isObject(document)) return prefix === '' ? [] : [{ pointer: prefix, value: document }];
  const found: { pointer: string; value: Json }[] = [];
  for (const [key, value] of Object.entries(document)) found.push(...leaves(value, `${prefix}/${escapeKey(key)}`));
  return found;
}

export const show = (value: Json | undefined): string => (value === undefined ? '—' : typeof value === 'string' ? value : JSON.stringify(value));
