import type { JsonValue } from './documents.ts';
import type { ValidationIssue } from './errors.ts';

/**
 * Secrets never go in the hub. This finds what looks like one in a config document: keys named like
 * secrets and values shaped like credentials, each located by its JSON pointer. A JSON pointer listed
 * in `allowed` (fields a service's schema marks as not secret) is let through.
 */

/** Words that name a secret on their own (matched against whole words of a key, any case or style). */
const SECRET_WORDS = new Set([
  'password', 'passwd', 'pwd', 'passphrase', 'secret', 'secrets', 'credential', 'credentials',
  'apikey', 'privatekey', 'accesskey', 'secretkey', 'clientsecret', 'authtoken', 'accesstoken',
  'refreshtoken', 'bearertoken', 'sessiontoken', 'apitoken', 'jwt', 'dsn', 'connectionstring',
]);
/** `token` names a secret as the last word of a key (`github_token`), not as a count (`max_tokens`). */
const LAST_WORD_SECRETS = new Set(['token', 'cookie']);

/** Credential shapes; each is specific enough not to fire on ordinary settings. */
const SECRET_VALUES: { pattern: RegExp; what: string }[] = [
  { pattern: /-----BEGIN [A-Z0-9 ]*(PRIVATE KEY|CERTIFICATE|PGP PRIVATE KEY BLOCK)-----/, what: 'a PEM block' },
  { pattern: /^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:[^/\s@]+@/i, what: 'a URL with a user name and password' },
  { pattern: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/, what: 'a JSON Web Token' },
  { pattern: /\b(AKIA|ASIA)[0-9A-Z]{16}\b/, what: 'an AWS access key id' },
  { pattern: /\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b/, what: 'a GitHub token' },
  { pattern: /\bxox[abposr]-[A-Za-z0-9-]{10,}/, what: 'a Slack token' },
  { pattern: /\b[sr]k_(live|test)_[A-Za-z0-9]{16,}/, what: 'a Stripe key' },
  { pattern: /\bAIza[0-9A-Za-z_-]{35}\b/, what: 'a Google API key' },
  { pattern: /\bsk-(proj-|ant-)?[A-Za-z0-9_-]{32,}/, what: 'an API secret key' },
  { pattern: /^(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{16,}$/i, what: 'an HTTP authorization credential' },
];

/** Splits `dbPassword`, `DB_PASSWORD`, `db-password`, `db.password` into lower-case words. */
function wordsOf(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/** Keys recur from write to write: what was decided about one is kept (bounded). */
const keyReasons = new Map<string, string | null>();
const KEY_REASONS_KEPT = 10_000;

/** Why a key names a secret, or null. */
export function secretKeyReason(key: string): string | null {
  let reason = keyReasons.get(key);
  if (reason === undefined) {
    reason = judgeKey(key);
    if (keyReasons.size >= KEY_REASONS_KEPT) keyReasons.clear();
    keyReasons.set(key, reason);
  }
  return reason;
}

function judgeKey(key: string): string | null {
  const words = wordsOf(key);
  const candidates = new Set(words);
  for (let i = 0; i + 1 < words.length; i++) candidates.add(words[i]! + words[i + 1]!);
  candidates.add(words.join(''));
  for (const candidate of candidates) {
    if (SECRET_WORDS.has(candidate)) return `the key "${key}" names a secret (${candidate})`;
  }
  const last = words.at(-1);
  if (last && LAST_WORD_SECRETS.has(last)) return `the key "${key}" names a secret (${last})`;
  return null;
}

/**
 * Values recur too (a merge patch changes a field or two; the rest of the document is checked again):
 * strings up to this long found clean are remembered, a bounded number. What looks like a secret is
 * judged afresh each time, so that no refused secret stays in memory.
 */
const cleanValues = new Set<string>();
const CLEAN_VALUES_KEPT = 10_000;
const VALUE_KEPT_UP_TO = 256;

/** What kind of credential a string looks like, or null. */
export function secretValueReason(value: string): string | null {
  const keepable = value.length <= VALUE_KEPT_UP_TO;
  if (keepable && cleanValues.has(value)) return null;
  const reason = judgeValue(value);
  if (reason === null && keepable) {
    if (cleanValues.size >= CLEAN_VALUES_KEPT) cleanValues.clear();
    cleanValues.add(value);
  }
  return reason;
}

function judgeValue(value: string): string | null {
  for (const { pattern, what } of SECRET_VALUES) if (pattern.test(value)) return `the value looks like ${what}`;
  return null;
}

const escapePointer = (segment: string) =>
  segment.includes('~') || segment.includes('/') ? segment.replaceAll('~', '~0').replaceAll('/', '~1') : segment;

/**
 * Every place in `document` that looks like a secret (none means it may be stored). A field is let
 * through when `allowed` holds its pointer or its pattern (the pointer with `*` for each array index).
 */
export function findSecrets(document: JsonValue, allowed: ReadonlySet<string> = new Set()): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  // The way down to the value at hand, array indexes as numbers; made into pointers only when needed.
  const path: (string | number)[] = [];
  const pointer = () => path.map((segment) => `/${typeof segment === 'number' ? segment : escapePointer(segment)}`).join('');
  const pattern = () => path.map((segment) => `/${typeof segment === 'number' ? '*' : escapePointer(segment)}`).join('');
  const isAllowed = () => allowed.size > 0 && (allowed.has(pattern()) || allowed.has(pointer()));
  const visit = (value: JsonValue) => {
    if (typeof value === 'string') {
      const reason = secretValueReason(value);
      if (reason) issues.push({ pointer: pointer(), message: reason });
    } else if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) {
        path.push(index);
        if (!isAllowed()) visit(value[index]!);
        path.pop();
      }
    } else if (value !== null && typeof value === 'object') {
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        const child = value[key]!;
        path.push(key);
        if (!isAllowed()) {
          const reason = secretKeyReason(key);
          // A flag or an empty slot under such a name (enable_secret_rotation: true) holds no secret.
          if (reason && child !== null && typeof child !== 'boolean' && child !== '') issues.push({ pointer: pointer(), message: reason });
          else visit(child);
        }
        path.pop();
      }
    }
  };
  if (!isAllowed()) visit(document);
  return issues;
}

/** Where secrets belong instead; part of every refusal. */
export const SECRET_ADVICE =
  "secrets never go in the hub: keep them in the service's environment (environment variables or its secret store) and keep only non-secret settings here";
