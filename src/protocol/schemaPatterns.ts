import { RE2JS } from 're2js';

// JSON Schema `pattern`s and `patternProperties` keys run on RE2JS (linear time) instead of backtracking
// RegExp, so a pattern such as `^(a+)+$` cannot hold the event loop. Each ECMAScript pattern is translated
// to RE2 keeping its meaning; one RE2 cannot express is refused with the reason. Since time is linear in the
// text times the compiled pattern's size, pattern sizes are capped and each validation has a work budget.

/** The longest pattern a new schema may hold, in UTF-16 code units. */
export const MAX_PATTERN_LENGTH = 1_000;

/**
 * The largest compiled pattern (RE2 instructions) a new schema may hold. `^[a-z0-9-]{1,63}$` is ~130,
 * `^.{1,255}$` ~510; each counted repetition multiplies what it repeats.
 */
export const MAX_PATTERN_SIZE = 600;

/** The most instructions all of a new schema's patterns may compile to (compiling costs time per instruction). */
export const MAX_TOTAL_PATTERN_SIZE = 10_000;

/** The most different patterns a new schema may hold: Ajv's code generation grows with their square. */
export const MAX_PATTERNS = 100;

/** Work one validation may spend in patterns: a match costs the pattern's size (at least 32) times the
 * text's length, plus 32 for the call, charged before it runs; this bounds a validation's pattern time. */
export const PATTERN_WORK_BUDGET = 2 ** 25;

/** A pattern that cannot run here; the message says why, for whoever wrote the schema. */
export class UnsupportedPatternError extends Error {
  override name = 'UnsupportedPatternError';
  constructor(
    message: string,
    /** The schema's patterns together are over a limit, rather than this one being unusable. */
    readonly schemaWide = false,
  ) {
    super(message);
  }
}

/** Thrown out of a validation whose pattern checks would exceed `PATTERN_WORK_BUDGET`. */
export class PatternBudgetError extends Error {
  override name = 'PatternBudgetError';
  constructor(readonly limit = PATTERN_WORK_BUDGET) {
    super(`checking the document against the schema's patterns would take more than ${limit} steps`);
  }
}

/** Counts the work of one validation's pattern checks; `reset()` before each validation. */
export class PatternMeter {
  private spent = 0;
  private limit = PATTERN_WORK_BUDGET;

  /** Starts a validation with `limit` units to spend. */
  reset(limit = PATTERN_WORK_BUDGET): void {
    this.spent = 0;
    this.limit = limit;
  }

  charge(units: number): void {
    this.spent += units;
    if (this.spent > this.limit) throw new PatternBudgetError(this.limit);
  }
}

/** A compiled schema pattern, in the shape Ajv's `code.regExp` option wants (`test`, and `toString` as its cache key). */
export interface SchemaPattern {
  readonly source: string;
  /** RE2 instructions. */
  readonly size: number;
  test(text: string): boolean;
  toString(): string;
}

/**
 * Compiles a schema's patterns, each once, for Ajv's `code.regExp` option and for the check of a new
 * schema, charging every match to `meter`. After `applyLimits()` (new schemas; stored ones load as
 * they were accepted) it holds each pattern and all of them together to the limits above, so that
 * compiling a hostile schema stays short.
 */
export class PatternCompiler {
  private readonly compiled = new Map<string, SchemaPattern>();
  private limited = 0;
  private limitedSize = 0;
  private capped = false;

  constructor(private readonly meter: PatternMeter) {}

  /** Holds every pattern compiled from now on to the limits (a new schema's; a stored one is loaded as it was accepted). */
  applyLimits(): void {
    this.capped = true;
  }

  /** The pattern compiled, or `UnsupportedPatternError` saying why it cannot run here. */
  compile(source: string): SchemaPattern {
    const known = this.compiled.get(source);
    if (known) return known;
    if (this.capped && this.limited >= MAX_PATTERNS) {
      throw new UnsupportedPatternError(`the schema has more than ${MAX_PATTERNS} different patterns`, true);
    }
    if (this.capped && source.length > MAX_PATTERN_LENGTH) {
      throw new UnsupportedPatternError(`the pattern is ${source.length} characters long; the limit is ${MAX_PATTERN_LENGTH}`);
    }
    try {
      // Only parsed, never run: refuses what is not an ECMAScript pattern, so that the translation can
      // rely on the grammar.
      new RegExp(source, 'u');
    } catch (error) {
      throw new UnsupportedPatternError(`not a valid regular expression: ${(error as Error).message}`);
    }
    const { source: translated, estimatedSize } = translatePattern(source);
    // The estimate (a few instructions over the engine's count, or more where RE2 folds `a|b` into
    // `[ab]`) stops `(?:[a-z]{1000}){1000}` before the engine spends seconds building it.
    if (this.capped && estimatedSize > 4 * MAX_PATTERN_SIZE) throw tooLarge(estimatedSize > 1e6 ? 'over a million' : `about ${estimatedSize}`);
    let engine: RE2JS;
    try {
      engine = RE2JS.compile(translated);
    } catch (error) {
      throw new UnsupportedPatternError(`the linear-time engine (RE2) cannot run it: ${(error as Error).message}`);
    }
    const size = engine.programSize();
    if (this.capped) {
      if (size > MAX_PATTERN_SIZE) throw tooLarge(String(size));
      if (this.limitedSize + size > MAX_TOTAL_PATTERN_SIZE) {
        throw new UnsupportedPatternError(`the schema's patterns together compile to more than ${MAX_TOTAL_PATTERN_SIZE} instructions`, true);
      }
      this.limited++;
      this.limitedSize += size;
    }
    const meter = this.meter;
    const pattern: SchemaPattern = {
      source,
      size,
      test(text: string) {
        meter.charge(Math.max(size, 32) * text.length + 32);
        return engine.test(text);
      },
      toString: () => `/${source}/u`,
    };
    this.compiled.set(source, pattern);
    return pattern;
  }
}

const tooLarge = (size: string) =>
  new UnsupportedPatternError(
    `the pattern compiles to ${size} instructions; the limit is ${MAX_PATTERN_SIZE} (each counted repetition such as {1,255} multiplies ` +
      `the size of what it repeats: bound lengths with minLength/maxLength instead)`,
  );

const unsupported = (what: string) =>
  new UnsupportedPatternError(
    `${what} is not supported: patterns run on a linear-time engine (RE2) so that no pattern can stall the hub, and it has no lookaround or backreferences`,
  );

const ANY = '\\x00-\\x{10FFFF}';
/** What `.` does not match in ECMAScript (RE2's `.` only leaves out \n). */
const LINE_TERMINATORS = '\\n\\r\\x{2028}\\x{2029}';
/** ECMAScript's `\s` (RE2's is ASCII only). */
const SPACE = '\\t\\n\\x0B\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}';
/** ECMAScript's `\S`: the ranges between those of SPACE. */
const NON_SPACE =
  '\\x00-\\x08\\x0E-\\x1F\\x21-\\x9F\\x{A1}-\\x{167F}\\x{1681}-\\x{1FFF}\\x{200B}-\\x{2027}\\x{202A}-\\x{202E}' +
  '\\x{2030}-\\x{205E}\\x{2060}-\\x{2FFF}\\x{3001}-\\x{FEFE}\\x{FF00}-\\x{10FFFF}';

const hex = (code: number) => `\\x{${code.toString(16).toUpperCase()}}`;

/** A group being read: its estimated size, and that of its last atom (what a quantifier repeats). */
interface Frame {
  size: number;
  last: number;
}

/**
 * Rewrites a valid Unicode-mode ECMAScript pattern in RE2 syntax with the same meaning, estimating the
 * compiled size on the way. Groups become non-capturing: only `test` is ever asked.
 */
export function translatePattern(pattern: string): { source: string; estimatedSize: number } {
  let out = '';
  const frames: Frame[] = [{ size: 0, last: 0 }];
  const top = () => frames[frames.length - 1]!;
  const atom = (text: string, size = 1) => {
    out += text;
    top().size += size;
    top().last = size;
  };
  let i = 0;
  while (i < pattern.length) {
    const char = pattern[i]!;
    if (char === '\\') {
      const [text, next] = translateEscape(pattern, i, false);
      atom(text);
      i = next;
    } else if (char === '[') {
      const [text, next] = translateClass(pattern, i);
      atom(text);
      i = next;
    } else if (char === '.') {
      atom(`[^${LINE_TERMINATORS}]`);
      i++;
    } else if (char === '(') {
      if (pattern.startsWith('(?=', i) || pattern.startsWith('(?!', i)) throw unsupported('a lookahead ((?=...) or (?!...))');
      if (pattern.startsWith('(?<=', i) || pattern.startsWith('(?<!', i)) throw unsupported('a lookbehind ((?<=...) or (?<!...))');
      if (pattern.startsWith('(?:', i)) i += 3;
      else if (pattern.startsWith('(?<', i)) i = pattern.indexOf('>', i) + 1;
      else if (pattern.startsWith('(?', i)) throw unsupported('a group modifier ((?i:...))');
      else i++;
      out += '(?:';
      frames.push({ size: 0, last: 0 });
    } else if (char === ')') {
      const group = frames.pop()!;
      atom(')', group.size + 1);
      i++;
    } else if (char === '|') {
      out += '|';
      top().size += 1;
      top().last = 0;
      i++;
    } else if (char === '*' || char === '+' || char === '?') {
      out += char;
      top().size += 1;
      i++;
      if (pattern[i] === '?') out += pattern[i++];
    } else if (char === '{') {
      // Unicode mode allows `{` only as a quantifier.
      const quantifier = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i, pattern.indexOf('}', i) + 1))!;
      const least = Number(quantifier[1]);
      const most = quantifier[2] === undefined ? least : quantifier[3] === '' ? least + 1 : Number(quantifier[3]);
      out += quantifier[0];
      top().size += top().last * Math.max(most - 1, 0) + (most - least);
      i += quantifier[0].length;
      if (pattern[i] === '?') out += pattern[i++];
    } else {
      // `^`, `$` and literal characters mean the same in both.
      const literal = String.fromCodePoint(pattern.codePointAt(i)!);
      atom(literal);
      i += literal.length;
    }
  }
  return { source: out, estimatedSize: top().size };
}

/** A character class `[...]` starting at `start`; returns its RE2 text and the index after it. */
function translateClass(pattern: string, start: number): [string, number] {
  let i = start + 1;
  const negated = pattern[i] === '^';
  if (negated) i++;
  let body = '';
  while (pattern[i] !== ']') {
    const char = pattern[i]!;
    if (char === '\\') {
      const [text, next] = translateEscape(pattern, i, true);
      body += text;
      i = next;
    } else if (char === '[' || char === '^') {
      // Literal in ECMAScript; `[:alpha:]` would be a POSIX class in RE2.
      body += `\\${char}`;
      i++;
    } else {
      const literal = String.fromCodePoint(pattern.codePointAt(i)!);
      body += literal;
      i += literal.length;
    }
  }
  // `[]` matches nothing and `[^]` anything; RE2 has no empty class.
  if (body === '') return [negated ? `[${ANY}]` : `[^${ANY}]`, i + 1];
  return [`[${negated ? '^' : ''}${body}]`, i + 1];
}

/** An escape `\...` starting at `start`, inside a class or not; returns its RE2 text and the index after it. */
function translateEscape(pattern: string, start: number, inClass: boolean): [string, number] {
  const char = pattern[start + 1]!;
  switch (char) {
    case 'd':
    case 'D':
    case 'w':
    case 'W':
    case 'f':
    case 'n':
    case 'r':
    case 't':
    case 'v':
      return [`\\${char}`, start + 2];
    case 'b':
      return [inClass ? '\\x08' : '\\b', start + 2];
    case 'B':
      // JavaScript also finds a non-boundary inside a surrogate pair (in 'a😀a'), where RE2 sees one character.
      throw new UnsupportedPatternError('\\B (not a word boundary) is not supported here: its meaning next to characters outside the BMP differs');
    case 's':
      return [inClass ? SPACE : `[${SPACE}]`, start + 2];
    case 'S':
      return [inClass ? NON_SPACE : `[${NON_SPACE}]`, start + 2];
    case '0':
      return ['\\x00', start + 2];
    case 'c':
      return [hex(pattern.charCodeAt(start + 2) % 32), start + 3];
    case 'x':
      return [`\\x{${pattern.slice(start + 2, start + 4)}}`, start + 4];
    case 'u': {
      if (pattern[start + 2] === '{') {
        const end = pattern.indexOf('}', start);
        return [`\\x{${pattern.slice(start + 3, end)}}`, end + 1];
      }
      const code = Number.parseInt(pattern.slice(start + 2, start + 6), 16);
      // In Unicode mode an escaped surrogate pair is one code point.
      if (code >= 0xd800 && code <= 0xdbff && /^\\u[dD][c-fC-F][0-9a-fA-F]{2}/.test(pattern.slice(start + 6, start + 12))) {
        const low = Number.parseInt(pattern.slice(start + 8, start + 12), 16);
        return [hex((code - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000), start + 12];
      }
      return [hex(code), start + 6];
    }
    case 'p':
    case 'P': {
      const end = pattern.indexOf('}', start);
      const [name, value] = pattern.slice(start + 3, end).split('=') as [string, string | undefined];
      // ECMAScript spells categories and scripts `gc=Lu`, `Script=Greek`; RE2 takes the value alone.
      if (value !== undefined && !['General_Category', 'gc', 'Script', 'sc'].includes(name)) {
        throw unsupported(`the Unicode property ${name}`);
      }
      return [`\\${char}{${value ?? name}}`, end + 1];
    }
    case 'k':
      throw unsupported('a named backreference (\\k<name>)');
    default:
      if (char >= '1' && char <= '9') throw unsupported(`a backreference (\\${char})`);
      // A syntax character (or `-` in a class): RE2 takes any escaped punctuation literally.
      return [`\\${char}`, start + 2];
  }
}
