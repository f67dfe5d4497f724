// Plain JSON documents: the overlay of defaults, snapshot and hub config, what changed between two
// configs, and reading a dotted path.

import { type JsonObject, type JsonValue, isJsonObject, sameValue } from '../protocol/json.ts';

/** `overlay` on top of `base`: objects merge key by key, anything else (arrays included) replaces. */
export function overlay<T>(base: T, overlayValue: unknown): T {
  if (!isJsonObject(base) || !isJsonObject(overlayValue)) return (overlayValue === undefined ? base : overlayValue) as T;
  const merged: JsonObject = { ...base };
  for (const [key, value] of Object.entries(overlayValue)) merged[key] = overlay<JsonValue | undefined>(merged[key], value)!;
  return merged as T;
}

/**
 * The dotted paths whose values differ between two documents, leaves and every object above them
 * (`a.b.c` changed reports `a`, `a.b` and `a.b.c`), sorted. Arrays compare as whole values.
 */
export function changedPaths(previous: unknown, next: unknown): string[] {
  const paths = new Set<string>();
  collect(previous, next, '', paths);
  return [...paths].sort();
}

function collect(previous: unknown, next: unknown, prefix: string, paths: Set<string>): boolean {
  if (isJsonObject(previous) && isJsonObject(next)) {
    let changed = false;
    for (const key of new Set([...Object.keys(previous), ...Object.keys(next)])) {
      const path = prefix ? `${prefix}.${key}` : key;
      if (collect(previous[key], next[key], path, paths)) changed = true;
    }
    if (changed && prefix) paths.add(prefix);
    return changed;
  }
  if (sameValue(previous, next)) return false;
  if (prefix) paths.add(prefix);
  return true;
}

/** The value at a dotted path (`operational.batch_size`); undefined when any step is missing. */
export function valueAt(document: unknown, path: string): unknown {
  if (path === '') return document;
  let value = document;
  for (const key of path.split('.')) {
    if (!isJsonObject(value) && !Array.isArray(value)) return undefined;
    value = (value as JsonObject)[key];
  }
  return value;
}

/** Freezes a document all the way down, so readers cannot change what others read. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

type Depth = [never, 0, 1, 2, 3, 4, 5, 6, 7];

/** The dotted paths into a settings type (objects only, up to 8 levels), for typed watchers. */
export type ConfigPath<T, D extends number = 8> = [D] extends [never]
  ? never
  : T extends readonly unknown[]
    ? never
    : T extends object
      ? { [K in keyof T & string]: K | (ConfigPath<T[K], Depth[D]> extends infer P extends string ? `${K}.${P}` : never) }[keyof T & string]
      : never;

/** The type of the value at a dotted path (possibly undefined below an optional setting). */
export type ConfigPathValue<T, P extends string> = P extends `${infer K}.${infer Rest}`
  ? K extends keyof NonNullable<T>
    ? ConfigPathValue<NonNullable<T>[K], Rest> | (undefined extends T ? undefined : never)
    : unknown
  : P extends keyof NonNullable<T>
    ? NonNullable<T>[P] | (undefined extends T ? undefined : never)
    : unknown;
