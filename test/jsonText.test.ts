// The check of a request's JSON text before it is parsed: the pass that takes turns of the event loop
// on a long text finds what the one-piece pass finds, wherever its parts end. And a document's text, kept on it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isDeepStrictEqual } from 'node:util';
import { MAX_REQUEST_NESTING, MAX_REQUEST_STRUCTURE, documentText, jsonTextProblem, jsonTextProblemInTurns, keptOn } from '../src/store/documents.ts';
import { sameValue } from '../src/protocol/json.ts';

/** Pieces of JSON text whose joins cross the 64 KiB parts of the pass in turns at every kind of token. */
const piece = fc.oneof(
  fc.constantFrom('{', '}', '[', ']', ',', ':', '"a\\"b"', '" [ { "', '0.1', '-1.50', '1e2', '12345678901234567890', '1e400', '0.30000000000000004'),
  fc.string({ maxLength: 40 }).map((text) => JSON.stringify(text)),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((value) => String(value)),
);

describe('the JSON text check', () => {
  it('answers the same in turns as in one piece, for long texts of random tokens', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { minLength: 1, maxLength: 40 }), fc.integer({ min: 60_000, max: 140_000 }), async (pieces, padding) => {
        // A long string in front moves the pieces across the boundaries of the parts.
        const text = `["${'x'.repeat(padding)}",${pieces.join(' ')}`;
        expect(await jsonTextProblemInTurns(text)).toEqual(jsonTextProblem(text));
      }),
      { numRuns: 150 },
    );
  });

  it('finds each kind of problem past the first part of a long text', async () => {
    const long = (tail: string) => `{"pad":"${'p'.repeat(200_000)}",${tail}}`;
    expect(await jsonTextProblemInTurns(long('"n":12345678901234567890'))).toMatchObject({ kind: 'number', message: expect.stringContaining('12345678901234567890') });
    expect(await jsonTextProblemInTurns(long('"d":' + '['.repeat(MAX_REQUEST_NESTING + 1)))).toMatchObject({ kind: 'nesting' });
    expect(await jsonTextProblemInTurns(long(`"a":[${'1,'.repeat(MAX_REQUEST_STRUCTURE)}1]`))).toMatchObject({ kind: 'size' });
    // Nesting and members counted across parts.
    const spread = `${'['.repeat(40)}"${'q'.repeat(100_000)}",${'['.repeat(MAX_REQUEST_NESTING - 40 + 1)}`;
    expect(jsonTextProblem(spread)).toMatchObject({ kind: 'nesting' });
    expect(await jsonTextProblemInTurns(spread)).toMatchObject({ kind: 'nesting' });
    expect(await jsonTextProblemInTurns(long('"ok":[0.1,1.5e300,"12345678901234567890"]'))).toBeNull();
  });
});

describe('JSON equality (sameValue)', () => {
  it('is equality of the JSON texts once keys are sorted, whatever the prototype, 0 and -0 alike', () => {
    const sortedText = (value: unknown): string =>
      JSON.stringify(value, (_key, item: unknown) =>
        item !== null && typeof item === 'object' && !Array.isArray(item) ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : 1))) : item,
      );
    const json = fc.jsonValue({ maxDepth: 3 });
    fc.assert(
      fc.property(json, json, (a, b) => {
        expect(sameValue(a, b)).toBe(sortedText(a) === sortedText(b));
        expect(sameValue(a, structuredClone(a))).toBe(true);
      }),
    );
    expect(sameValue(Object.assign(Object.create(null), { a: [1, { b: 0 }] }), { a: [1, { b: -0 }] })).toBe(true);
    expect(sameValue({ toString: 1 }, { x: 1 })).toBe(false);
    expect(sameValue({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(sameValue([1, 2], { 0: 1, 1: 2 })).toBe(false);
  });
});

describe('a document text kept on the document (documentText)', () => {
  it('is worked out once, and neither JSON, keys, spreads nor equality see where it is kept', () => {
    const document = { b: [1, { c: 'x' }], a: null };
    const text = documentText(document);
    expect(text).toBe(JSON.stringify({ b: [1, { c: 'x' }], a: null }));
    (document as Record<string, unknown>).d = 1; // documents are never changed: a change is not seen
    expect(documentText(document)).toBe(text);
    expect(JSON.stringify(document)).toBe('{"b":[1,{"c":"x"}],"a":null,"d":1}');
    expect(Object.keys(document)).toEqual(['b', 'a', 'd']);
    expect({ ...document }).toStrictEqual({ b: [1, { c: 'x' }], a: null, d: 1 });
    expect(isDeepStrictEqual(document, { b: [1, { c: 'x' }], a: null, d: 1 })).toBe(true);
    expect(structuredClone(document)).toStrictEqual({ b: [1, { c: 'x' }], a: null, d: 1 });
  });

  it('is worked out each time for a document that cannot be extended', () => {
    const document = Object.freeze({ a: 1 });
    expect(documentText(document)).toBe('{"a":1}');
    expect(keptOn(document, Symbol('x'), () => 2)).toBe(2);
    expect(Object.getOwnPropertySymbols(document)).toEqual([]);
  });
});
