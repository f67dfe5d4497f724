// A patch written out (store/patchText.ts) reads back, whole or any page of it, as the operations it was
// written from: the diffs of random pairs of documents, with keys and values holding commas, brackets,
// quotes, escapes and characters outside the BMP.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type JsonValue, diffDocuments } from '../src/store/documents.ts';
import { patchLength, readPatch, writePatch } from '../src/store/patchText.ts';

const text = fc.string({ unit: fc.constantFrom('a', ',', '[', ']', '{', '}', '"', '\\', '/', '~', '\n', 'é', '😀', ' ') });
const json = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    text,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(text, tie('value'), { maxKeys: 5 }),
  ),
})).value;
const document = fc.dictionary(text, json, { maxKeys: 12 });

describe('patches written out', () => {
  it('read back whole and page by page as the operations they were written from', () => {
    fc.assert(
      fc.property(document, document, fc.nat(20), fc.nat(20), (from, to, start, size) => {
        const operations = diffDocuments(from, to);
        const asJson = JSON.parse(JSON.stringify(operations)) as unknown[];
        const written = writePatch(operations);
        expect(patchLength(written)).toBe(operations.length);
        expect(readPatch(written)).toEqual(asJson);
        expect(readPatch(written, start, start + size)).toEqual(asJson.slice(start, start + size));
        for (let index = 0; index < operations.length; index++) expect(readPatch(written, index, index + 1)).toEqual([asJson[index]]);
      }),
      { numRuns: 300 },
    );
  });

  it('read an empty patch, and pages past the end, as no operations', () => {
    const empty = writePatch([]);
    expect(patchLength(empty)).toBe(0);
    expect(readPatch(empty)).toEqual([]);
    const one = writePatch([{ op: 'remove', path: '/a,b' }]);
    expect(readPatch(one, 1, 5)).toEqual([]);
    expect(readPatch(one, 0, 0)).toEqual([]);
    expect(readPatch(one)).toEqual([{ op: 'remove', path: '/a,b' }]);
  });
});
