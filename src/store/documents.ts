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

/** The largest config document the hub keeps (serialised as JSON). */
export const MAX_DOCUMENT_BYTES = 256 * 1024;
/** The deepest nesting of objects and arrays a document may have. */
export const MAX_DOCUMENT_DEPTH = 32;

/** A config document must be a JSON object, at most 256 KiB and 32 levels deep; `pointer` names the input. */
export function requireObject(value: unknown, pointer: string, what: string): JsonObject {
  if (!isJsonObject(value)) {
    const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    throw ValidationError.at(pointer, `${what} must be a JSON object, not ${kind}`);
  }
  const tooDeep = pointerDeeperThan(value, MAX_DOCUMENT_DEPTH);
  if (tooDeep !== null) {
    throw ValidationError.at(`${pointer}${tooDeep}`, `${what} nests deeper than ${MAX_DOCUMENT_DEPTH} levels`);
  }
  const bytes = Buffer.byteLength(JSON.stringify(value));
  if (bytes > MAX_DOCUMENT_BYTES) {
    throw ValidationError.at(pointer, `${what} is ${bytes} bytes as JSON; the limit is ${MAX_DOCUMENT_BYTES} (256 KiB)`);
  }
  return value;
}

/** The pointer of the first value nested deeper than `limit`, or null (walked without recursion). */
function pointerDeeperThan(root: unknown, limit: number): string | null {
  const stack: { value: unknown; pointer: string; depth: number }[] = [{ value: root, pointer: '', depth: 1 }];
  while (stack.length > 0) {
    const { value, pointer, depth } = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > limit) return pointer;
    for (const [key, child] of Object.entries(value)) {
      stack.push({ value: child, pointer: `${pointer}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`, depth: depth + 1 });
    }
  }
  return null;
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
