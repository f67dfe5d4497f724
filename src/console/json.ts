// JSON documents as the console shows and edits them: settings by JSON pointer.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

const unescape = (token: string) => token.replace(/~1/g, '/').replace(/~0/g, '~');
const escape = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

export const pointerOf = (path: string[]) => path.map((key) => `/${escape(key)}`).join('');
export const pathOf = (pointer: string) => (pointer === '' ? [] : pointer.slice(1).split('/').map(unescape));
/** How a setting is named to people: `operational.batch_size`. */
export const settingName = (pointer: string) => pathOf(pointer).join('.');

export function valueAt(document: Json | undefined, pointer: string): Json | undefined {
  let value = document;
  for (const key of pathOf(pointer)) {
    if (Array.isArray(value)) value = value[Number(key)];
    else if (isObject(value)) value = value[key];
    else return undefined;
  }
  return value;
}

/** A copy of `document` with `value` at `pointer` (objects made on the way). */
export function withValue(document: JsonObject, pointer: string, value: Json): JsonObject {
  const copy = structuredClone(document);
  const path = pathOf(pointer);
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
  for (const [key, value] of Object.entries(document)) found.push(...leaves(value, `${prefix}/${escape(key)}`));
  return found;
}

export const show = (value: Json | undefined): string => (value === undefined ? '—' : typeof value === 'string' ? value : JSON.stringify(value));
