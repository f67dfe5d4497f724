import { SecretRejectedError, ValidationError, type ValidationIssue } from './errors.ts';
import { SECRET_ADVICE, secretInText } from './secretGuard.ts';

/** The longest reason a change may give (UTF-8 bytes): the audit log keeps it forever. */
export const MAX_REASON_BYTES = 1024;
/** The longest description of a config. */
export const MAX_DESCRIPTION_BYTES = 4096;
/** The longest error an instance may report. */
export const MAX_INSTANCE_ERROR_BYTES = 2048;

/**
 * What is wrong with a free text the hub would keep (a reason, a description, an instance's error), or
 * null: over `maxBytes` of UTF-8, or holding what PostgreSQL's text cannot (NUL) or what is not text at
 * all (a lone UTF-16 surrogate).
 */
export function textIssue(text: string, pointer: string, maxBytes: number): ValidationIssue | null {
  if (text.length > maxBytes || Buffer.byteLength(text) > maxBytes) {
    return { pointer, message: `is ${Buffer.byteLength(text)} bytes; the limit is ${maxBytes}` };
  }
  if (text.includes('\u0000')) return { pointer, message: 'holds a NUL character (\\u0000), which text here cannot' };
  if (!text.isWellFormed()) return { pointer, message: 'holds a lone UTF-16 surrogate: not text' };
  return null;
}

/**
 * Refuses the texts given (null and undefined pass), every issue at once: a ValidationError for texts
 * that are too long or not text, then a SecretRejectedError for texts that hold what looks like a
 * credential (the audit log keeps reasons forever: a secret in one could never be removed).
 */
export function requireTexts(texts: { text: string | null | undefined; pointer: string; maxBytes: number }[]): void {
  const given = texts.filter((entry): entry is { text: string; pointer: string; maxBytes: number } => entry.text != null);
  const issues = given.map(({ text, pointer, maxBytes }) => textIssue(text, pointer, maxBytes)).filter((issue) => issue !== null);
  if (issues.length > 0) throw new ValidationError(issues);
  const secrets = given.flatMap(({ text, pointer }) => {
    const message = secretInText(text);
    return message === null ? [] : [{ pointer, message }];
  });
  if (secrets.length > 0) throw new SecretRejectedError(secrets, SECRET_ADVICE);
}

/**
 * A reason made of the hub's own words around a caller's text, within MAX_REASON_BYTES: the caller's
 * text is cut (ending in "…") when the whole would not fit.
 */
export function reasonWithin(before: string, text: string, after = ''): string {
  const room = MAX_REASON_BYTES - Buffer.byteLength(before) - Buffer.byteLength(after);
  let cut = text;
  if (Buffer.byteLength(cut) > room) {
    const characters = [...text];
    while (characters.length > 0 && Buffer.byteLength(`${characters.join('')}…`) > room) characters.splice(-Math.max(1, Math.ceil(characters.length / 16)));
    cut = `${characters.join('')}…`;
  }
  return `${before}${cut}${after}`;
}
