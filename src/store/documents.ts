import jsonPatch, { type Operation } from 'fast-json-patch';
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

/**
 * A config document must be a JSON object, at most 256 KiB and 32 levels deep, with no text PostgreSQL's
 * jsonb cannot hold (NUL characters, lone UTF-16 surrogates); `pointer` names the input.
 */
export function requireObject(value: unknown, pointer: string, what: string): JsonObject {
  if (!isJsonObject(value)) {
    const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    throw ValidationError.at(pointer, `${what} must be a JSON object, not ${kind}`);
  }
  const problem = firstProblem(value, MAX_DOCUMENT_DEPTH);
  if (problem !== null) {
    throw ValidationError.at(
      `${pointer}${problem.pointer}`,
      problem.kind === 'depth'
        ? `${what} nests deeper than ${MAX_DOCUMENT_DEPTH} levels`
        : `${what} holds text JSON documents here cannot: a NUL character (\\u0000) or a lone UTF-16 surrogate`,
    );
  }
  requireSize(value, pointer, what);
  return value;
}

function requireSize(value: JsonObject, pointer: string, what: string): void {
  const bytes = Buffer.byteLength(documentText(value));
  if (bytes > MAX_DOCUMENT_BYTES) {
    throw ValidationError.at(pointer, `${what} is ${bytes} bytes as JSON; the limit is ${MAX_DOCUMENT_BYTES} (256 KiB)`);
  }
}

/** Documents are never changed once made: the JSON text of each is worked out once (size check, write). */
const texts = new WeakMap<object, string>();

/** `JSON.stringify(document)`, remembered for the document. */
export function documentText(document: JsonObject): string {
  let text = texts.get(document);
  if (text === undefined) {
    text = JSON.stringify(document);
    texts.set(document, text);
  }
  return text;
}

const escapeKey = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');
const storable = (text: string) => text.isWellFormed() && !text.includes('\u0000');

/** The first value nested deeper than `limit`, or holding text jsonb refuses, or null (walked without recursion). */
function firstProblem(root: unknown, limit: number): { pointer: string; kind: 'depth' | 'text' } | null {
  const stack: { value: unknown; pointer: string; depth: number }[] = [{ value: root, pointer: '', depth: 1 }];
  while (stack.length > 0) {
    const { value, pointer, depth } = stack.pop()!;
    if (typeof value === 'string' && !storable(value)) return { pointer, kind: 'text' };
    if (typeof value !== 'object' || value === null) continue;
    if (depth > limit) return { pointer, kind: 'depth' };
    for (const [key, child] of Object.entries(value)) {
      const childPointer = `${pointer}/${escapeKey(key)}`;
      if (!storable(key)) return { pointer: childPointer, kind: 'text' };
      stack.push({ value: child, pointer: childPointer, depth: depth + 1 });
    }
  }
  return null;
}

/**
 * Applies an RFC 7396 merge patch without touching `target`. The patch has passed `requireObject` and the
 * target is a stored document: every value of the result comes from one of them, so only its size is
 * left to check, not its text or depth again.
 */
export function applyMergePatch(target: JsonObject, patch: JsonObject): JsonObject {
  const merged = mergeValue(target, patch) as JsonObject;
  requireSize(merged, '/patch', 'the patched config');
  return merged;
}

/**
 * RFC 7396, section 2. Written here rather than taken from json-merge-patch, which treats keys named
 * after Object.prototype members (`hasOwnProperty`, `constructor`, `__proto__`) as the prototype's and
 * throws or drops them; here every key is data (own entries in, `Object.fromEntries` out).
 */
function mergeValue(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isJsonObject(patch)) return patch;
  const merged = new Map<string, JsonValue>(isJsonObject(target) ? Object.entries(target) : []);
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) merged.delete(key);
    else merged.set(key, mergeValue(merged.get(key), value));
  }
  return Object.fromEntries(merged);
}

/** The RFC 6902 operations that turn `from` into `to`. */
export function diffDocuments(from: JsonValue | null, to: JsonValue | null): PatchOperation[] {
  return jsonPatch.compare((from ?? {}) as object, (to ?? {}) as object);
}
