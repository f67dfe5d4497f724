import jsonPatch, { type Operation } from 'fast-json-patch';
import mergePatch from 'json-merge-patch';
import { ValidationError } from './errors.ts';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };
/** One RFC 6902 operation. */
export type PatchOperation = Operation;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A config document must be a JSON object; `pointer` names the input that held it. */
export function requireObject(value: unknown, pointer: string, what: string): JsonObject {
  if (!isJsonObject(value)) {
    const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    throw ValidationError.at(pointer, `${what} must be a JSON object, not ${kind}`);
  }
  return value;
}

/** Applies an RFC 7396 merge patch without touching `target`. */
export function applyMergePatch(target: JsonObject, patch: JsonObject): JsonObject {
  const result: unknown = mergePatch.apply(structuredClone(target), patch);
  return requireObject(result, '/patch', 'the patched config');
}

/** The RFC 6902 operations that turn `from` into `to`. */
export function diffDocuments(from: JsonValue | null, to: JsonValue | null): PatchOperation[] {
  return jsonPatch.compare((from ?? {}) as object, (to ?? {}) as object);
}
