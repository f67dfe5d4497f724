import type { PatchOperation } from '../protocol/changes.ts';

/**
 * A long list of RFC 6902 operations kept written out: one JSON text (the operations joined by commas)
 * and where each operation ends in it. The worker thread hands large diffs over in this form. Held as one
 * string, a diff of ten thousand operations is one object to the garbage collector instead of some forty
 * thousand, and an answer that shows a page of it parses that page alone.
 */
export interface PatchText {
  text: string;
  /** `ends[i]`: the offset just past operation i; operation i starts one past `ends[i - 1]` (the comma). */
  ends: Uint32Array;
}

/** The operations, written out. */
export function writePatch(operations: readonly PatchOperation[]): PatchText {
  const ends = new Uint32Array(operations.length);
  const parts: string[] = [];
  let offset = -1;
  for (let index = 0; index < operations.length; index++) {
    const part = JSON.stringify(operations[index]);
    parts.push(part);
    offset += part.length + 1;
    ends[index] = offset;
  }
  return { text: parts.join(','), ends };
}

/** How many operations a patch holds, in either form. */
export const patchLength = (patch: readonly PatchOperation[] | PatchText): number => ('ends' in patch ? patch.ends.length : patch.length);

/** Operations `start` (inclusive) to `end` (exclusive) of a patch in either form; parsed when written out. */
export function readPatch(patch: readonly PatchOperation[] | PatchText, start = 0, end = patchLength(patch)): PatchOperation[] {
  if (!('ends' in patch)) return patch.slice(start, end);
  const count = patch.ends.length;
  const [from, to] = [Math.max(0, Math.min(start, count)), Math.max(0, Math.min(end, count))];
  if (from >= to) return [];
  const begin = from === 0 ? 0 : patch.ends[from - 1]! + 1;
  return JSON.parse(`[${patch.text.slice(begin, patch.ends[to - 1])}]`) as PatchOperation[];
}
