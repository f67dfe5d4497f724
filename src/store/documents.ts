import jsonPatch from 'fast-json-patch';
import type { PatchOperation } from '../protocol/changes.ts';
import { type JsonObject, type JsonValue, escapeKey, isJsonObject } from '../protocol/json.ts';
import { nextTurn } from '../turns.ts';
import { ValidationError } from './errors.ts';

export type { JsonObject, JsonValue, PatchOperation };
export { escapeKey, isJsonObject };

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
  const text = documentText(value);
  const refuse = (size: string) => ValidationError.at(pointer, `${what} is ${size} as JSON; the limit is ${MAX_DOCUMENT_BYTES} (256 KiB)`);
  // A character is a byte or more: a text longer than the limit is over it without its bytes counted
  // (counting them costs milliseconds a MiB).
  if (text.length > MAX_DOCUMENT_BYTES) throw refuse(`${text.length} characters`);
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_DOCUMENT_BYTES) throw refuse(`${bytes} bytes`);
}

/**
 * `compute(object)`, worked out once and kept on the object itself under the symbol `key`, not enumerable
 * (JSON, spreads and equality checks do not see it); not in a WeakMap, whose values V8's young-generation
 * collector keeps alive whatever their keys. An object that cannot be extended keeps nothing.
 */
export function keptOn<O extends object, V>(object: O, key: symbol, compute: (object: O) => V): V {
  if (Object.hasOwn(object, key)) return (object as Record<symbol, V>)[key]!;
  const value = compute(object);
  if (Object.isExtensible(object)) Object.defineProperty(object, key, { value });
  return value;
}

const TEXT = Symbol('documentText');

/** `JSON.stringify(document)`, worked out once per document: documents are never changed once made. */
export function documentText(document: JsonObject): string {
  return keptOn(document, TEXT, JSON.stringify);
}

/** Text jsonb can hold: well-formed UTF-16 (no lone surrogate), no NUL. */
const storable = (text: string) => text.isWellFormed() && !text.includes('\u0000');

/**
 * The first value nested deeper than `limit`, or holding text jsonb refuses, or null. Recursive, but it
 * goes no deeper than `limit` + 1; the pointer is made only for a problem found.
 */
function firstProblem(root: unknown, limit: number): { pointer: string; kind: 'depth' | 'text' } | null {
  const path: string[] = [];
  const walk = (value: unknown, depth: number): 'depth' | 'text' | null => {
    if (typeof value === 'string') return storable(value) ? null : 'text';
    if (typeof value !== 'object' || value === null) return null;
    if (depth > limit) return 'depth';
    if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) {
        path.push(String(index));
        const problem = walk(value[index], depth + 1);
        if (problem) return problem;
        path.pop();
      }
      return null;
    }
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      path.push(key);
      const problem = storable(key) ? walk((value as Record<string, unknown>)[key], depth + 1) : 'text';
      if (problem) return problem;
      path.pop();
    }
    return null;
  };
  const kind = walk(root, 1);
  return kind === null ? null : { pointer: path.map((segment) => `/${escapeKey(segment)}`).join(''), kind };
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
 * throws or drops them; here every key is data.
 */
function mergeValue(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isJsonObject(patch)) return patch;
  // A spread copies every own member as data (`__proto__` included), and only own members are read.
  const merged: JsonObject = isJsonObject(target) ? { ...target } : {};
  for (const key in patch) {
    if (!Object.hasOwn(patch, key)) continue;
    const value = patch[key]!;
    if (value === null) delete merged[key];
    else setOwn(merged, key, mergeValue(Object.hasOwn(merged, key) ? merged[key] : undefined, value));
  }
  return merged;
}

/** `object[key] = value` as data, also for `__proto__` (which an assignment would take as the prototype). */
function setOwn(object: JsonObject, key: string, value: JsonValue): void {
  if (key === '__proto__') Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  else object[key] = value;
}

/** The RFC 6902 operations that turn `from` into `to`. */
export function diffDocuments(from: JsonValue | null, to: JsonValue | null): PatchOperation[] {
  return jsonPatch.compare((from ?? {}) as object, (to ?? {}) as object) as PatchOperation[];
}

/**
 * Whether a JSON number, as written, is the number the hub keeps: it is parsed into an IEEE 754 double
 * and written back as the shortest text of that double, so `0.1`, `1.50` and `1e2` keep their value,
 * while `12345678901234567890` (would become ...567000), `1e400` (Infinity, then null) and `1e-400` (0)
 * do not and are refused rather than silently changed.
 */
export function numberRoundTrips(written: string): boolean {
  // The common case: JavaScript writes the number back exactly as it came.
  const value = Number(written);
  if (String(value) === written) return true;
  const decimal = decimalOf(written);
  // Up to 15 significant digits in the normal range always survive a double.
  if (decimal.digits.length <= 15 && Math.abs(decimal.magnitude) < 300) return true;
  if (!Number.isFinite(value)) return false;
  if (value === 0) return decimal.digits === '';
  const kept = decimalOf(String(value));
  return kept.negative === decimal.negative && kept.digits === decimal.digits && kept.magnitude === decimal.magnitude;
}

/**
 * A decimal number's text (a JSON number, or JavaScript's own output) as its sign, significant digits
 * (no leading or trailing zeros) and the power of ten of the first of them; one pass.
 */
function decimalOf(written: string): { negative: boolean; digits: string; magnitude: number } {
  const negative = written.charCodeAt(0) === 0x2d;
  const start = negative ? 1 : 0;
  // The mantissa runs to the exponent, if any; a point, if any, splits it.
  let end = start;
  let pointAt = -1;
  for (; end < written.length; end++) {
    const char = written.charCodeAt(end);
    if (char === 0x2e) pointAt = end;
    else if (char < 0x30 || char > 0x39) break;
  }
  const exponent = end < written.length ? Number(written.slice(end + 1)) : 0;
  const mantissa = pointAt === -1 ? written.slice(start, end) : written.slice(start, pointAt) + written.slice(pointAt + 1, end);
  let first = 0;
  while (first < mantissa.length && mantissa.charCodeAt(first) === 0x30) first++;
  let last = mantissa.length;
  while (last > first && mantissa.charCodeAt(last - 1) === 0x30) last--;
  const wholeDigits = (pointAt === -1 ? end : pointAt) - start;
  return { negative, digits: mantissa.slice(first, last), magnitude: first === last ? 0 : exponent + wholeDigits - 1 - first };
}

/** How deep a request's JSON may nest: a document's 32 levels and the request around it, with room to spare. */
export const MAX_REQUEST_NESTING = 64;
/**
 * How many members, elements and containers a request's JSON may hold (its commas, colons and opening
 * brackets): parsing and checking cost much per object or key, so this bounds how long the worst request
 * holds the event loop (`npm run bench:abuse`). A 256 KiB document of ordinary settings has fewer.
 */
export const MAX_REQUEST_STRUCTURE = 32_000;


export interface JsonTextProblem {
  kind: 'nesting' | 'size' | 'number';
  message: string;
}

/**
 * Why a request's JSON text is refused before it is parsed, or null: it nests deeper than
 * MAX_REQUEST_NESTING, holds more than MAX_REQUEST_STRUCTURE members, or holds a number that would not
 * keep its value (see `numberRoundTrips`; once parsed, `1e-400` is just 0). One linear pass, strings
 * skipped; malformed JSON is left to the parser.
 */
export function jsonTextProblem(text: string): JsonTextProblem | null {
  const scan = new JsonTextScan(text);
  scan.run(text.length);
  return scan.problem;
}

/** How much of a text `jsonTextProblemInTurns` checks in one turn of the event loop. */
const TEXT_CHARS_PER_TURN = 64 * 1024;

/**
 * The same, a part of a long text a turn of the event loop (turns.ts): checking the numbers of a
 * MiB of them costs tens of milliseconds.
 */
export async function jsonTextProblemInTurns(text: string): Promise<JsonTextProblem | null> {
  const scan = new JsonTextScan(text);
  while (!scan.run(TEXT_CHARS_PER_TURN)) await nextTurn();
  return scan.problem;
}

/** The pass of `jsonTextProblem`, resumable at the end of any token. */
class JsonTextScan {
  problem: JsonTextProblem | null = null;
  private index = 0;
  private depth = 0;
  private structure = 0;

  constructor(private readonly text: string) {}

  /** Checks about `chars` more characters; true when the text is done (or refused). */
  run(chars: number): boolean {
    const text = this.text;
    const stop = Math.min(text.length, this.index + chars);
    let { index, depth, structure } = this;
    for (; index < stop; index++) {
      const char = text.charCodeAt(index);
      if (char === 0x22 /* " */) {
        for (index++; index < text.length; index++) {
          const inner = text.charCodeAt(index);
          if (inner === 0x5c /* \ */) index++;
          else if (inner === 0x22) break;
        }
      } else if (char === 0x7b /* { */ || char === 0x5b /* [ */) {
        structure++;
        if (++depth > MAX_REQUEST_NESTING) return this.refuse({ kind: 'nesting', message: `the JSON nests deeper than ${MAX_REQUEST_NESTING} levels` });
      } else if (char === 0x7d /* } */ || char === 0x5d /* ] */) {
        depth--;
      } else if (char === 0x2c /* , */ || char === 0x3a /* : */) {
        structure++;
      } else if (char === 0x2d /* - */ || (char >= 0x30 && char <= 0x39)) {
        // The number's characters (the parser refuses a malformed one); up to 15 without an exponent always keep their value.
        let end = index + 1;
        let exponent = false;
        for (; end < text.length; end++) {
          const inner = text.charCodeAt(end);
          if (inner === 0x65 || inner === 0x45) exponent = true;
          else if (!((inner >= 0x30 && inner <= 0x39) || inner === 0x2e || inner === 0x2b || inner === 0x2d)) break;
        }
        if ((end - index > 15 || exponent) && !numberRoundTrips(text.slice(index, end))) {
          return this.refuse({ kind: 'number', message: `the number ${text.slice(index, Math.min(end, index + 40))} cannot be kept exactly (JSON numbers are IEEE 754 doubles): send it as a string` });
        }
        index = end - 1;
      }
      if (structure > MAX_REQUEST_STRUCTURE) return this.refuse({ kind: 'size', message: `the JSON holds more than ${MAX_REQUEST_STRUCTURE} members and elements` });
    }
    this.index = index;
    this.depth = depth;
    this.structure = structure;
    return index >= text.length;
  }

  private refuse(problem: JsonTextProblem): true {
    this.problem = problem;
    return true;
  }
}
