import { type JsonValue, escapeKey } from './documents.ts';
import type { ValidationIssue } from './errors.ts';

// The secret guard: finds what looks like a secret in a config document (key names, credential-shaped
// values and keys) and in free text. Rules and exceptions are in docs/secret-guard.md; every pass is
// linear in the text, see "Linear time, by construction" there.

// ---------------------------------------------------------------------------------------------------
// The rules

/**
 * The rules, grouped by the pass that applies them, in the order the passes run (keys, then PEM, base64
 * blobs, token formats, URLs, assignments, then the rules that need the key above a value); within a pass
 * the first match in the text wins. `what` names what fired, never the secret.
 */
export const SECRET_RULES = [
  { id: 'secret-key-name', what: 'a key that names a secret' },
  { id: 'private-key-pem', what: 'a PEM block holding a private key' },
  { id: 'private-key-base64', what: 'a base64-wrapped PEM private key' },
  { id: 'private-key-der', what: 'a bare (base64 DER) private key' },
  { id: 'encoded-secret', what: 'base64- or hex-encoded text holding a credential' },
  { id: 'aws-secret-key', what: 'an AWS secret access key' },
  { id: 'jwt', what: 'a JSON Web Token' },
  { id: 'aws-access-key-id', what: 'an AWS access key id' },
  { id: 'github-token', what: 'a GitHub token' },
  { id: 'gitlab-token', what: 'a GitLab token' },
  { id: 'slack-token', what: 'a Slack token' },
  { id: 'stripe-key', what: 'a Stripe key (secret, restricted or webhook signing)' },
  { id: 'google-api-key', what: 'a Google API key' },
  { id: 'google-oauth', what: 'a Google OAuth client secret or token' },
  { id: 'ai-api-key', what: 'an API secret key (OpenAI, Anthropic)' },
  { id: 'npm-token', what: 'an npm token' },
  { id: 'pypi-token', what: 'a PyPI token' },
  { id: 'sendgrid-key', what: 'a SendGrid API key' },
  { id: 'twilio-key', what: 'a Twilio API key or auth token' },
  { id: 'mailgun-key', what: 'a Mailgun API key' },
  { id: 'mailchimp-key', what: 'a Mailchimp API key' },
  { id: 'huggingface-token', what: 'a Hugging Face token' },
  { id: 'shopify-token', what: 'a Shopify token' },
  { id: 'digitalocean-token', what: 'a DigitalOcean token' },
  { id: 'databricks-token', what: 'a Databricks token' },
  { id: 'vault-token', what: 'a HashiCorp Vault token' },
  { id: 'doppler-token', what: 'a Doppler token' },
  { id: 'grafana-token', what: 'a Grafana token' },
  { id: 'linear-key', what: 'a Linear API key' },
  { id: 'postman-key', what: 'a Postman API key' },
  { id: 'atlassian-token', what: 'an Atlassian API token' },
  { id: 'newrelic-key', what: 'a New Relic key' },
  { id: 'sentry-token', what: 'a Sentry auth token' },
  { id: 'square-token', what: 'a Square token' },
  { id: 'age-secret-key', what: 'an age secret key' },
  { id: 'telegram-bot-token', what: 'a Telegram bot token' },
  { id: 'discord-bot-token', what: 'a Discord bot token' },
  { id: 'firebase-key', what: 'a Firebase Cloud Messaging server key' },
  { id: 'facebook-token', what: 'a Facebook access token' },
  { id: 'heroku-key', what: 'a Heroku API key' },
  { id: 'supabase-token', what: 'a Supabase token' },
  { id: 'dropbox-token', what: 'a Dropbox token' },
  { id: 'airtable-token', what: 'an Airtable token' },
  { id: 'notion-token', what: 'a Notion token' },
  { id: 'terraform-token', what: 'a Terraform Cloud token' },
  { id: 'azure-client-secret', what: 'an Azure AD client secret' },
  { id: 'docker-hub-token', what: 'a Docker Hub access token' },
  { id: 'pulumi-token', what: 'a Pulumi access token' },
  { id: 'mapbox-token', what: 'a Mapbox secret token' },
  { id: 'datadog-api-key', what: 'a Datadog API or application key' },
  { id: 'http-authorization', what: 'an HTTP authorization credential (Bearer or Basic)' },
  { id: 'url-userinfo-password', what: 'a URL with a user name and password' },
  { id: 'url-userinfo-token', what: 'a URL carrying a token as its user name' },
  { id: 'webhook-url', what: 'a webhook URL whose path is its credential' },
  { id: 'url-secret-parameter', what: 'a URL with a secret query parameter' },
  { id: 'connection-string-password', what: 'a connection string with a password' },
  { id: 'azure-storage-key', what: 'an Azure account or shared access key' },
  { id: 'secret-assignment', what: 'a secret assigned a value (name=value or name: value)' },
  { id: 'basic-auth-credentials', what: 'user:password credentials (plain or base64)' },
  { id: 'secret-element', what: 'an XML element named like a secret holding a value' },
  { id: 'command-line-password', what: 'a password on a command line (mysql -p…)' },
  { id: 'secret-in-prose', what: 'a secret named in prose and followed by a credential ("new password is …", "key to …")' },
  { id: 'seed-phrase', what: 'a wallet seed phrase (12 to 24 mnemonic words)' },
  { id: 'jwk-private-key', what: 'a private JSON Web Key' },
  { id: 'secret-name-value-pair', what: 'a name/value pair (or a flag and its argument) whose name names a secret' },
  { id: 'pagerduty-key', what: 'a PagerDuty routing (integration) key' },
  { id: 'secret-entropy', what: 'a random-looking credential under a key that names a secret-ish thing' },
] as const;

export type SecretRuleId = (typeof SECRET_RULES)[number]['id'];

const WHAT = new Map<string, string>(SECRET_RULES.map((rule) => [rule.id, rule.what]));
const what = (rule: SecretRuleId) => WHAT.get(rule)!;

/** Where secrets belong instead; part of every refusal. */
export const SECRET_ADVICE =
  "secrets never go in the hub: keep them in the service's environment (environment variables or its secret store) and keep only non-secret settings here";

// ---------------------------------------------------------------------------------------------------
// Characters

const UPPER = 1, LOWER = 2, DIGIT = 4, UNDERSCORE = 8, DASH = 16, PLUS = 32, SLASH = 64, DOT = 128;
const HEX = 256, EQUALS = 512, TILDE = 1024;
const LETTERS = UPPER | LOWER;
const ALNUM = LETTERS | DIGIT;
const WORD = ALNUM | UNDERSCORE;
const B64URL = WORD | DASH;
const B64 = ALNUM | PLUS | SLASH;
/** Characters of a base64 (either alphabet) blob. */
const BLOB = B64URL | PLUS | SLASH;
/** Characters of a name in `name=value`. */
const NAME = B64URL | DOT;
/** Characters of a bearer token (RFC 6750 b64token). */
const B64TOKEN = B64URL | DOT | TILDE | PLUS | SLASH | EQUALS;

/** The classes of each ASCII character, by character code. */
const CLASSES = new Uint16Array(128);
for (const [members, bits] of [
  ['ABCDEFGHIJKLMNOPQRSTUVWXYZ', UPPER], ['abcdefghijklmnopqrstuvwxyz', LOWER], ['0123456789', DIGIT | HEX], ['abcdefABCDEF', HEX],
  ['_', UNDERSCORE], ['-', DASH], ['+', PLUS], ['/', SLASH], ['.', DOT], ['=', EQUALS], ['~', TILDE],
] as const) {
  for (const ch of members) CLASSES[ch.charCodeAt(0)]! |= bits;
}

const is = (code: number, mask: number) => code < 128 && (CLASSES[code]! & mask) !== 0;

/** How many characters of `mask` follow `from`, counting at most `limit`. */
function run(text: string, from: number, mask: number, limit = Infinity): number {
  const end = Math.min(text.length, from + limit);
  let at = from;
  while (at < end && is(text.charCodeAt(at), mask)) at++;
  return at - from;
}

const isSpace = (code: number) => code === 32 || code === 9 || code === 10 || code === 13;

/** Character codes the scanners compare with. */
const AMPERSAND = 38;
const APOSTROPHE = 39;
const AT_SIGN = 64;
const BACKTICK = 96;
const COLON = 58;
const EQUALS_SIGN = 61;
const GREATER_THAN = 62;
const HYPHEN = 45;
const LESS_THAN = 60;
const NUMBER_SIGN = 35;
const PERIOD = 46;
const QUESTION = 63;
const QUOTE = 34;
const SEMICOLON = 59;
const SOLIDUS = 47;
const VERTICAL_BAR = 124;

/** Shannon entropy in bits per character. */
function entropy(text: string): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    counts.set(code, (counts.get(code) ?? 0) + 1);
  }
  let bits = 0;
  for (const count of counts.values()) {
    const p = count / text.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** Which of upper case letters, lower case letters and digits `text` holds. */
function letterKinds(text: string): { upper: boolean; lower: boolean; digit: boolean } {
  let upper = false, lower = false, digit = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (is(code, UPPER)) upper = true;
    else if (is(code, LOWER)) lower = true;
    else if (is(code, DIGIT)) digit = true;
  }
  return { upper, lower, digit };
}

/** The bytes a base64 (or base64url) text stands for, as latin1; invalid characters are skipped. */
const decodeBase64 = (text: string) => Buffer.from(text, 'base64').toString('latin1');

// ---------------------------------------------------------------------------------------------------
// Folding: what is compared is what a reader sees

/** Cyrillic, Greek and other letters drawn like Latin ones. */
const LOOKALIKES = new Map<string, string>(
  Object.entries({
    а: 'a', в: 'b', е: 'e', к: 'k', м: 'm', н: 'h', о: 'o', р: 'p', с: 'c', т: 't', у: 'y', х: 'x', ѕ: 's', і: 'i',
    ј: 'j', ԁ: 'd', ԛ: 'q', ԝ: 'w', һ: 'h', ӏ: 'l', ɡ: 'g', ı: 'i', ɑ: 'a', ο: 'o', α: 'a', ν: 'v', ρ: 'p', τ: 't',
    κ: 'k', ι: 'i', υ: 'u', χ: 'x', ϲ: 'c', ε: 'e', ѡ: 'w', օ: 'o', ս: 'u',
    А: 'A', В: 'B', Е: 'E', К: 'K', М: 'M', Н: 'H', О: 'O', Р: 'P', С: 'C', Т: 'T', Х: 'X', У: 'Y', Ѕ: 'S', І: 'I',
    Ј: 'J', Α: 'A', Β: 'B', Ε: 'E', Ζ: 'Z', Η: 'H', Ι: 'I', Κ: 'K', Μ: 'M', Ν: 'N', Ο: 'O', Ρ: 'P', Τ: 'T', Υ: 'Y',
    Χ: 'X', ł: 'l', Ł: 'L', ø: 'o', Ø: 'O', đ: 'd', Đ: 'D',
  }),
);
const ASCII = /^[\x00-\x7f]*$/;
/**
 * Characters outside the blocks whose compatibility forms can fold to Latin letters and digits (Latin,
 * IPA, Greek, Cyrillic, Armenian, general punctuation, letterlike and enclosed forms, fullwidth forms,
 * mathematical alphanumerics, variation selectors and tags). They are replaced by a middle dot before NFKD,
 * so that no character expands much (U+FDFA alone would become 18).
 */
const UNFOLDABLE = new RegExp(
  `[^${[
    '\\x00-\\u058f', '\\u1d00-\\u1dbf', '\\u1e00-\\u1fff', '\\u2000-\\u218f', '\\u2460-\\u24ff', '\\u2c60-\\u2c7f',
    '\\ua720-\\ua7ff', '\\ufb00-\\ufb06', '\\ufe00-\\ufe0f', '\\ufeff', '\\uff00-\\uffef', '\\u{1d400}-\\u{1d7ff}',
    '\\u{1f100}-\\u{1f1ff}', '\\u{e0000}-\\u{e01ef}',
  ].join('')}]`,
  'gu',
);

/** What folding does with each UTF-16 code unit: 0 keeps it, 1 drops it, other values are the ASCII letter it becomes. */
let foldings: Uint8Array | null = null;
const KEEP = 0, DROP = 1;
/** Lookalikes that fold to two letters. */
const DIGRAPHS = new Map<number, string>([[0xdf, 'ss'], [0xe6, 'ae'], [0x153, 'oe'], [0xc6, 'AE'], [0x152, 'OE']]);

function foldingTable(): Uint8Array {
  if (foldings === null) {
    foldings = new Uint8Array(65_536);
    const invisible = /^[\p{M}\p{Cf}]$/u;
    for (let code = 128; code < 65_536; code++) {
      const ch = String.fromCharCode(code);
      const lookalike = LOOKALIKES.get(ch);
      if (lookalike?.length === 1) foldings[code] = lookalike.charCodeAt(0);
      else if (invisible.test(ch)) foldings[code] = DROP;
    }
  }
  return foldings;
}

/**
 * `text` with compatibility forms (fullwidth, mathematical, ligatures), accents, invisible characters
 * (zero-width space and joiners, soft hyphen, BOM, tags) and lookalike letters folded away: one
 * replacement, one NFKD (expanding a character a few times at most), one scan.
 */
function fold(text: string): string {
  if (ASCII.test(text)) return text;
  const decomposed = text.replace(UNFOLDABLE, '\u00b7').normalize('NFKD');
  const table = foldingTable();
  const out = new Uint16Array(decomposed.length * 2);
  let length = 0;
  for (let at = 0; at < decomposed.length; at++) {
    const code = decomposed.charCodeAt(at);
    if (code < 128) {
      out[length++] = code;
      continue;
    }
    // Tags and variation selectors of plane 14 (U+E0000 to U+E01EF, invisible): the pair DB40 DC00-DDEF.
    if (code === 0xdb40) {
      at++;
      continue;
    }
    const action = table[code]!;
    if (action === DROP) continue;
    const digraph = action === KEEP ? DIGRAPHS.get(code) : undefined;
    if (digraph !== undefined) for (let i = 0; i < digraph.length; i++) out[length++] = digraph.charCodeAt(i);
    else out[length++] = action === KEEP ? code : action;
  }
  return UTF16.decode(out.subarray(0, length));
}
const UTF16 = new TextDecoder('utf-16le');

// ---------------------------------------------------------------------------------------------------
// Keys: which name a secret

/**
 * The lower-case words of a key: `dbPassword`, `DB_PASSWORD`, `db-password`, `db.password`, `HTTPServer` split
 * alike, digits with the letters before them (`s3`, `sha256`). Upper case starts a word after lower case or a
 * digit, and the last of a run of capitals starts one before lower case.
 */
const KEY_WORD = /[A-Z]+(?=[A-Z][a-z])|[A-Z]*[a-z0-9]+|[A-Z]+/g;
const wordsOf = (key: string) => (key.match(KEY_WORD) ?? []).map((word) => word.toLowerCase());

const set = (words: string) => new Set(words.split(/\s+/).filter(Boolean));

/** `[word, label]` for each of `words`, labelled `label` or itself. */
const labelled = (words: string, label?: string) => [...set(words)].map((word): [string, string] => [word, label ?? word]);
/** Words, or two adjacent words joined, that name a secret (spelling → the name used in messages). */
const SECRET_NOUNS = new Map<string, string>([
  ...labelled(`password passwd pwd passphrase passcode pincode secret secrets credential credentials creds connectionstring
    dsn basicauth salt pepper mnemonic seedphrase pw idrsa ided25519 idecdsa iddsa recoverycodes backupcodes psk`),
  ['passwords', 'password'], ['cred', 'creds'], ['connstr', 'connectionstring'], ['connstring', 'connectionstring'],
  ['htpasswd', 'passwd'],
  // The same in a few other languages (accents are folded away: contraseña, hasło, şifre, jelszó; mot_de_passe
  // is three words joined). Other scripts are matched apart, by NON_LATIN_NOUNS.
  ...labelled(`passwort kennwort contrasena senha wachtwoord losenord haslo motdepasse passord adgangskode salasana jelszo
    heslo lozinka sifre katasandi matkhau contrasenya`, 'password'),
  ...labelled('secreto segredo segreto geheimnis', 'secret'),
]);
/**
 * The word for password (or secret key) in scripts that do not fold to Latin letters: Russian/Ukrainian,
 * Chinese, Japanese, Korean, Greek, Hebrew, Arabic, Hindi, Thai. A key ending in one names a secret.
 */
const NON_LATIN_NOUNS: readonly [word: string, label: string][] = [
  ...['пароль', '密码', '密碼', '口令', 'パスワード', '暗証番号', '비밀번호', '암호', 'κωδικός', 'κωδικος', 'סיסמה', 'סיסמא',
    'كلمة المرور', 'كلمة السر', 'كلمة_المرور', 'पासवर्ड', 'รหัสผ่าน'].map((word): [string, string] => [word, 'password']),
  ...['секрет', '密钥', '秘钥', '密鑰', '秘密鍵'].map((word): [string, string] => [word, 'secret']),
];
/** Nouns also found at the end of a single word: `pgpassword`, `clientsecret`, `awscredentials`. */
const SUFFIX_NOUNS = [
  'password', 'passwords', 'passwd', 'passphrase', 'secret', 'secrets', 'credential', 'credentials', 'creds', 'pwd', 'pw',
  'connectionstring', 'passwort', 'kennwort',
];
const NEGATIONS = set('no non not un');

/** `<word>_key` names a secret after these words (`api_key`, `signing_key`, `AccountKey`). */
const SECRET_KEY_QUALIFIERS = set(`
  api private secret signing sign encryption encrypt decryption decrypt master access account shared hmac aes crypto
  cipher ssh gpg pgp sas auth license licence subscription jwt webhook admin root deploy wrapping rsa ed25519 ecdsa dsa
  tls ssl pkcs8 pem recovery backup unseal totp otp mfa sa preshared`);
/** `<word>_key` is an identifier after these words (`sort_key`, `partition_key`, `stripe_publishable_key`). */
const INNOCENT_KEY_QUALIFIERS = set(`
  sort partition cache object s3 gcs blob idempotency dedup dedupe routing primary foreign unique hash shard sharding
  cluster group grouping lookup map index row column record message event bucket redis kafka topic order ordering
  public pub publishable join natural composite lock translation i18n label metric feature flag field json yaml
  config setting settings registry kms file image asset rate ratelimit throttle correlation trace tenant cursor hot
  dictionary dict mapping dimension attribute attr property prop state build commit revision release checksum digest
  sha etag content source git version`);
/** `<word>_token` is not a credential after these words (`next_page_token`, `max_tokens`, `stop_tokens`). */
const INNOCENT_TOKEN_QUALIFIERS = set(`
  page pagination continuation cursor next prev previous sync resume max min num number total count input output prompt
  completion context special stop eos bos pad unk mask sep cls start end lexer parser word sub subword cancel cancellation
  idempotency bucket design css theme reasoning generated cached limit rate budget quota`);
/**
 * `<word>_token` is an asset after these words, or alone (`token: USDC`, `quote_token`): in trading a token is
 * a coin. Such a key names a secret only when its value looks like a credential, not like a ticker.
 */
const ASSET_TOKEN_QUALIFIERS = set(`
  quote base stable stablecoin native gas fee fees reward rewards collateral margin settlement settle payment pay
  governance wrapped underlying deposit withdrawal withdraw pool lp pair trade traded trading target from to in out
  sell buy bridge bridged erc20 erc721 spl mint asset utility wrapped coin reserve debt borrow lend supply stake
  staking staked vault`);
/** `<word>_pass` is a stage, not a password (`first_pass`). */
const INNOCENT_PASS_QUALIFIERS = set('first second third single multi one two three final last each per by');
/** `<word>_seed` is a secret after these (`totp_seed`), a random seed otherwise. */
const SECRET_SEED_QUALIFIERS = set('totp otp mfa wallet recovery');

/** Words before a secret's name that make the key a setting about it (`max_tokens`, `enable_secret_rotation`). */
const PREFIX_METADATA = set(`
  max min maximum minimum num number count total enable enabled disable disabled require required allow allowed use uses
  is has rotate rotation expire expires reset forgot forgotten change verify validate validation mask masked hide show
  no non not without skip ignore redact redacted strip log existing external`);
/**
 * Words after a secret's name that make the key a setting about it (`password_min_length`,
 * `private_key_path`, `api_key_header`, `jwt_issuer`).
 */
const METADATA = set(`
  length len size min max minimum maximum ttl ttls days day hours hour h minutes minute mins seconds second secs sec
  s ms millis milliseconds us ns weeks week months month years year timeout timeouts expiry expires expire expiration
  expired lifetime life age validity duration interval period window leeway skew jitter delay backoff grace path
  paths file files filename filepath dir directory folder location loc name names header headers param parameter
  field column col attribute attr claim claims issuer iss audience aud subject sub algorithm algorithms alg algo
  policy policies rule rules rotation rotate rotated manager mgr store vault provider providers backend engine mount
  source sources ref refs reference references env var vars variable variables enabled enable disabled disable
  required require optional allowed allow enforced enforce strict mode type types kind format encoding charset chars
  characters digits symbols uppercase lowercase complexity strength history reuse attempts retries tries lockout
  threshold limit limits quota rate count counter counts number num total url urls uri uris endpoint endpoints host
  hostname port domain arn arns id ids identifier version versions label labels tag tags prefix suffix pattern regex
  regexp template description desc hint hints help message msg prompt reset change changed update updated updates
  created create last at date time timestamp ts scope scopes role roles permission permissions acl group check checks
  validation validator verify verification verifier cache caching refresh region zone bucket table collection
  namespace project generator gen lock locked status state flag flags output input used usage mask masked masking
  redact redaction log logging audit metric metrics rounds cost iterations work factor in where alias fingerprint
  thumbprint helper process command exec program plugin key encryption hashing storage handler loader reader resolver
  client server api sync separator delimiter schema spec config configuration settings options opts params
  requirements constraints reminder notice warning error errors placeholder visible visibility toggle feature support
  supported authentication grant flow method methods mechanism scheme strategy service realm scanning scanner
  detection detector sharing link links callback redirect ui page form fields login username user email principal
  owner owners account`);
/** METADATA words that name who, not how: under a secret (`credentials: { user: ... }`) they are part of it. */
const IDENTITY = set('login username user email principal owner owners account');
/** Words after a secret's name that still name the secret itself (`password_value`, `api_key_prod`, `private_key_pem`). */
const VALUE_WORDS = set(`
  value val values string str data raw plain plaintext text content contents b64 base64 hex pem der bytes blob hash hashed
  enc encrypted encoded json yaml yml toml ini literal override primary secondary old new current previous prev next
  backup fallback alt alternate main temp tmp default initial static fixed prod production staging stage stg dev
  development test testing qa uat live sandbox local demo`);
/** Last words of keys whose random-looking values are credentials (`app_key`, `webhook_signature`, `hmac`). */
const SECRETISH = set(`
  key keys sig signature hmac auth authorization bearer license licence seed token tokens cookie jwt nonce pat pats`);

const stripDigits = (word: string) => word.replace(/\d+$/, '') || word;
const isValueWord = (word: string) => VALUE_WORDS.has(word) || /^(?:\d+|[a-z]|v\d+)$/.test(word);

interface Noun {
  /** How the secret is named in messages (`password`, `apikey`). */
  label: string;
  /** Index of the noun's first word. */
  start: number;
  /** A strict noun names a secret only when nothing but value words follow it (`token`, not `token_endpoint`). */
  strict: boolean;
  /** An ambiguous noun (`token` alone, `quote_token`) names a secret only over a credential-looking value. */
  ambiguous?: boolean;
}

/** The secret named by the word at `at`, alone or joined with the word before it, or null. */
function nounEndingAt(words: readonly string[], at: number): Noun | null {
  const raw = words[at]!;
  const word = stripDigits(raw);
  const previous = at > 0 ? stripDigits(words[at - 1]!) : '';
  if (previous) {
    const joined = SECRET_NOUNS.get(previous + word);
    if (joined) return { label: joined, start: at - 1, strict: false };
  }
  if (at > 1 && word === 'passe') {
    // `mot_de_passe`, the one noun of three words.
    const joined = SECRET_NOUNS.get(stripDigits(words[at - 2]!) + previous + word);
    if (joined) return { label: joined, start: at - 2, strict: false };
  }
  const noun = SECRET_NOUNS.get(word);
  if (noun) return { label: noun, start: at, strict: false };
  for (const suffix of SUFFIX_NOUNS) {
    if (word.length > suffix.length && word.endsWith(suffix) && !NEGATIONS.has(word.slice(0, -suffix.length))) {
      return { label: SECRET_NOUNS.get(suffix)!, start: at, strict: false };
    }
  }
  if (word === 'key' || word === 'keys') {
    if (SECRET_KEY_QUALIFIERS.has(previous) || SECRET_KEY_QUALIFIERS.has(words[at - 1] ?? '')) {
      return { label: `${previous}key`, start: at - 1, strict: false };
    }
    return null;
  }
  const keyed = word.endsWith('keys') ? word.slice(0, -4) : word.endsWith('key') ? word.slice(0, -3) : null;
  if (keyed) {
    for (const qualifier of SECRET_KEY_QUALIFIERS) {
      if (keyed.endsWith(qualifier)) return { label: `${keyed}key`, start: at, strict: false };
    }
    return null;
  }
  if (word === 'token' || word === 'tokens' || word.endsWith('token') || word.endsWith('tokens')) {
    const inWord = word.slice(0, word.length - (word.endsWith('s') ? 6 : 5));
    const qualifier = inWord || previous;
    for (const innocent of INNOCENT_TOKEN_QUALIFIERS) if (qualifier === innocent || (inWord && inWord.endsWith(innocent))) return null;
    // `tokens` alone counts things; `api_tokens` holds them.
    if (word.endsWith('s') && (!qualifier || PREFIX_METADATA.has(qualifier))) return null;
    const ambiguous = !qualifier || ASSET_TOKEN_QUALIFIERS.has(qualifier);
    return { label: `${qualifier}token`, start: at, strict: true, ambiguous };
  }
  if (word === 'pass' && !INNOCENT_PASS_QUALIFIERS.has(previous)) return { label: 'pass', start: at, strict: true };
  if (word === 'jwt') return { label: word, start: at, strict: true };
  if (word === 'seed' && SECRET_SEED_QUALIFIERS.has(previous)) return { label: `${previous}seed`, start: at - 1, strict: false };
  return null;
}

/** What a key's words say about the value under it. */
interface KeyVerdict {
  /** The secret the key names (`password`, `apikey`), or null (also when the key is a setting about one). */
  secret: string | null;
  /** Random-looking values under it are credentials (`app_key`, `webhook_signature`). */
  secretish: boolean;
  /** Its last word names a setting, not who (`min_length`, `path`; not `user`): harmless under a secret. */
  describesSetting: boolean;
  /** It names AWS: a 40-character key below it is a secret access key. */
  aws: boolean;
  /** Its last word is `auth`: `user:password` (plain or base64) under it is a credential. */
  auth: boolean;
  /** It names secrets in the plural (`api_keys`, `secrets`): a number under it counts them. */
  plural: boolean;
  /** It names an HTTP Authorization header: `<scheme> <credential>` under it is a credential. */
  authorization: boolean;
  /** Its last word (`api` in `{ api: { key } }` makes the inner `key` an API key). */
  last: string;
  /** It is just `key` (or `keys`): its parent's last word may name the secret. */
  bareKey: boolean;
  /** The secret it names is ambiguous (`token` alone, `quote_token`): only a credential-looking value is one. */
  ambiguous: boolean;
  /** A secret's name is among its words, even if the key is a setting about it (`password_min_length`). */
  named: boolean;
  /** It is a PagerDuty-style `routing_key` or `integration_key`: a random 32-character value is a credential. */
  routingKey: boolean;
  /** It names Datadog (`datadog`, `dd_api_key`). */
  datadog: boolean;
}

function judgeWords(words: readonly string[]): KeyVerdict {
  const last = words.length > 0 ? stripDigits(words[words.length - 1]!) : '';
  const verdict: KeyVerdict = {
    secret: null,
    secretish: false,
    describesSetting: METADATA.has(last) && !IDENTITY.has(last),
    aws: words.includes('aws') || words.includes('amazon'),
    auth: last === 'auth',
    plural: false,
    authorization: last === 'authorization',
    last,
    bareKey: words.length === 1 && (last === 'key' || last === 'keys'),
    ambiguous: false,
    named: false,
    routingKey: last === 'key' && words.length > 1 && ROUTING_KEY_QUALIFIERS.has(words[words.length - 2]!),
    datadog: words.includes('datadog') || words[0] === 'dd',
  };
  for (let at = words.length - 1; at >= 0; at--) {
    const noun = nounEndingAt(words, at);
    if (!noun) continue;
    verdict.named = true;
    const tail = words.slice(at + 1).map(stripDigits);
    const prefix = words.slice(0, noun.start);
    if (prefix.some((word) => PREFIX_METADATA.has(word))) return verdict;
    const tailLast = tail.at(-1);
    if (tailLast === undefined || tail.every(isValueWord)) verdict.secret = noun.label;
    else if (METADATA.has(tailLast) || tail.some((word) => METADATA.has(word))) return verdict;
    else if (!noun.strict) verdict.secret = noun.label;
    verdict.secretish = verdict.secret !== null;
    verdict.ambiguous = verdict.secret !== null && noun.ambiguous === true;
    verdict.plural = /(?:passwords|secrets|credentials|keys|tokens)$/.test(stripDigits(words[at]!));
    return verdict;
  }
  if (SECRETISH.has(last) && !words.slice(0, -1).some((word) => PREFIX_METADATA.has(word))) {
    const qualifier = words.length > 1 ? words[words.length - 2]! : '';
    const innocent = (word: string) => INNOCENT_KEY_QUALIFIERS.has(word) || INNOCENT_TOKEN_QUALIFIERS.has(word);
    verdict.secretish = !innocent(qualifier) && !innocent(stripDigits(qualifier));
  }
  return verdict;
}

/** Names are judged by their end (the last secret named and what follows it): 512 characters are plenty. */
function lastPart(name: string): string {
  if (name.length <= 512) return name;
  const part = name.slice(-512);
  // Drop the word the cut went through.
  return part.slice(run(part, 0, ALNUM));
}

/**
 * Keeps `value` under `key`, when the key is at most 256 characters, in a cache of at most 10,000 (emptied
 * when full): names, keys and strings recur from write to write and text to text.
 */
function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  if (key.length > 256) return;
  if (cache.size >= 10_000) cache.clear();
  cache.set(key, value);
}

/** Verdicts on names (names are not secrets). */
const nameVerdicts = new Map<string, KeyVerdict>();

/** `<word>_key` holds a PagerDuty-style integration key after these words. */
const ROUTING_KEY_QUALIFIERS = set('routing integration');

/** What the name of a key (or of a `name=value` in text, or of a query parameter) says about its value. */
function keyVerdict(name: string): KeyVerdict {
  let verdict = nameVerdicts.get(name);
  if (verdict === undefined) {
    const folded = lastPart(fold(name));
    const words = wordsOf(folded);
    verdict = judgeWords(words);
    if (!verdict.named) verdict = judgeDisguised(name, folded, words) ?? verdict;
    remember(nameVerdicts, name, verdict);
  }
  return verdict;
}

/**
 * A key whose words name nothing, looked at again for disguises: odd casing (`PaSsWoRd`, split into
 * two-letter words by its case changes), leetspeak (`passw0rd`, `p4ssword`, `s3cr3t`, `p@ssword`), and the
 * word for password in another script (`пароль`, `密码`, `パスワード`, `비밀번호`). Only a verdict that names
 * a secret is returned.
 */
function judgeDisguised(name: string, folded: string, words: readonly string[]): KeyVerdict | null {
  if (!ASCII.test(name)) {
    let end = name.length;
    while (end > 0 && name.length - end < 512 && TRAILING_IN_NAMES.includes(name[end - 1]!)) end--;
    const tail = name.slice(Math.max(0, end - 512), end);
    for (const [noun, label] of NON_LATIN_NOUNS) {
      if (tail.endsWith(noun)) return { ...judgeWords([]), secret: label, secretish: true, named: true };
    }
  }
  const leet = LEET_SIGN.test(folded);
  if (!leet && !(MIXED_CASE.test(folded) && isOddlyCased(folded, words))) return null;
  let plain = folded.toLowerCase();
  if (leet) plain = plain.replace(LEET_RUN, (signs) => [...signs].map((sign) => LEET[sign] ?? sign).join(''));
  const verdict = judgeWords(wordsOf(plain));
  return verdict.secret !== null ? verdict : null;
}

/**
 * Odd casing splits a word into bits of one or two letters (`PaSsWoRd`: `pa ss wo rd`), or hides a whole
 * word (`PASSword`); camelCase (`compassWord`) does neither and is left alone.
 */
function isOddlyCased(folded: string, words: readonly string[]): boolean {
  for (let at = 0; at + 1 < words.length; at++) if (words[at]!.length <= 2 && words[at + 1]!.length <= 2) return true;
  return (folded.match(/[A-Za-z]+/g) ?? []).some((letters) => letters.length <= 16 && SECRET_NOUNS.has(letters.toLowerCase()));
}
const MIXED_CASE = /[a-z][A-Z]|[A-Z]{2}[a-z]/;
/** Leetspeak: digits, `@` or `$` between letters (`passw0rd`, `p@ss`; not `s3_bucket`, `sha256`). */
const LEET_SIGN = /[a-zA-Z][0-9@$]{1,3}[a-zA-Z]/;
const LEET_RUN = /[@$]|(?<=[a-z])\d+(?=[a-z])/g;
/** What may follow a secret's word at the end of a non-Latin key (`пароль_2`, `密码 1`). */
const TRAILING_IN_NAMES = ' \t_.:-0123456789';
const LEET: Record<string, string> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', $: 's' };

// ---------------------------------------------------------------------------------------------------
// Values that stand for a secret without being one

const LITERALS = set('true false null none nil undefined yes no on off empty unset required optional disabled enabled n/a na');
const PLACEHOLDERS = [
  /^\$\{[A-Za-z_][\w.]*\}$/, // ${DB_PASSWORD}
  /^\$[A-Za-z_]\w*$/, // $DB_PASSWORD
  /^\{\{\s*[\w.-]+\s*\}\}$/, // {{ db_password }}
  /^\$\{\{\s*[\w.-]+\s*\}\}$/, // ${{ secrets.DB_PASSWORD }} (GitHub Actions)
  /^<[\w .-]+>$/, // <password>
  /^%[A-Za-z_]\w*%$/, // %DB_PASSWORD%
  /^\*+$/, // ****
  /^x{3,}$/i, // xxxx
  /^\.{3,}$/, // ...
  /^\[?redacted\]?$/i,
];
/** The characters placeholders and masks start with. */
const STAND_IN_STARTS = new Set([...'${<%*xX.[rR'].map((ch) => ch.charCodeAt(0)));

/** A placeholder, a mask or a literal such as `none`: no secret in it. */
function isStandIn(value: string): boolean {
  if (value.length > 64) return false;
  if (LITERALS.has(value.toLowerCase())) return true;
  return STAND_IN_STARTS.has(value.charCodeAt(0)) && PLACEHOLDERS.some((placeholder) => placeholder.test(value));
}

const REFERENCES = [
  /^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{0,12}:\S+$/, // arn:aws:secretsmanager:…:secret:prod/db
  /^(?:~|\.{1,2})?\/[\w.@/-]*$/, // /run/secrets/db_password
  /^projects\/[\w-]+\/secrets\/[\w-]+(?:\/versions\/\w+)?$/, // GCP Secret Manager
  /^(?:vault|ssm|secretsmanager|env|file|k8s|kubernetes|azurekeyvault|gcpsm):[\w./#:-]+$/, // vault:secret/data/db#password
];
/**
 * Where a credential comes from, not what it is (`credentials: application-default`, `auth: instance-profile`):
 * the ambient credential sources of cloud SDKs and of the service's environment.
 */
const CREDENTIAL_SOURCES = set(`
  default application-default application_default applicationdefault adc env environment environ
  instance-profile instance_profile instanceprofile instance-metadata imds metadata iam iam-role iam_role
  managed-identity managed_identity managedidentity msi workload-identity workload_identity workloadidentity
  aws-sdk-default-chain default-chain default_chain sdk ambient keyring keychain inherit inherited auto
  service-account service_account web-identity irsa`);
/** A URL, its authority apart. */
const URL_SHAPE = /^[a-z][a-z0-9+.-]*:\/\/([^\s/?#]*)\S*$/i;

/**
 * Where a secret is (a file path, an ARN, a secret manager's reference, a URL without credentials —
 * whatever else it holds is the URL rules' business), or a stand-in for one.
 */
function isReference(value: string): boolean {
  if (isStandIn(value)) return true;
  if (value.length > 2048) return false;
  if (value.length <= 32 && CREDENTIAL_SOURCES.has(value.toLowerCase())) return true;
  if (REFERENCES.some((reference) => reference.test(value))) return true;
  const authority = URL_SHAPE.exec(value)?.[1];
  if (authority === undefined) return false;
  const at = authority.lastIndexOf('@');
  if (at === -1) return true;
  const colon = authority.indexOf(':');
  return colon !== -1 && colon < at && isStandIn(safeDecode(authority.slice(colon + 1, at)));
}

// ---------------------------------------------------------------------------------------------------
// Texts: the credential shapes

/**
 * Token formats: the vendor's documented prefix (or, for a few, a literal at a fixed offset) and length.
 * Every repeat is bounded and none nests; a run that must be exactly so long is not followed by another
 * character of its class. Within a word start, the first format listed that matches wins.
 */
const TOKEN_FORMATS: [SecretRuleId, RegExp][] = [
  ['github-token', /gh[pousr]_[A-Za-z0-9]{36}|github_pat_\w{40}/],
  ['gitlab-token', /(?:glpat-|gldt-|glrt-|glptt-|glcbt-|glimt-|glft-|glsoat-|GR1348941)[\w-]{20}/],
  ['slack-token', /(?:xox[bpaorse]|xapp)-[A-Za-z0-9-]{10}/],
  ['stripe-key', /(?:[sr]k_(?:live|test)_|whsec_)[A-Za-z0-9]{16}/],
  ['google-api-key', /AIza[\w-]{35}/],
  ['google-oauth', /GOCSPX-[\w-]{24}|ya29\.[\w-]{30}|1\/\/0[\w-]{30}/],
  ['aws-access-key-id', /A(?:KIA|SIA|BIA|CCA)[A-Z0-9]{16}(?![A-Z0-9])/],
  ['ai-api-key', /sk-(?:ant|proj|svcacct|admin)-[\w-]{32}|sk-[A-Za-z0-9]{32}/],
  ['npm-token', /npm_[A-Za-z0-9]{36}/],
  ['pypi-token', /pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[\w-]{50}/],
  ['sendgrid-key', /SG\.[\w-]{16,32}\.[\w-]{16}/],
  ['twilio-key', /SK[0-9A-Fa-f]{32}(?![0-9A-Fa-f])/],
  ['huggingface-token', /hf_[A-Za-z0-9]{30}/],
  ['docker-hub-token', /dckr_[po]at_[\w-]{20}/],
  ['pulumi-token', /pul-[0-9a-f]{40}(?![0-9a-f])/],
  ['mapbox-token', /sk\.eyJ[\w-]{16,160}\.[\w-]{16}/],
  ['mailgun-key', /key-[0-9a-f]{32}(?![0-9a-f])/],
  ['shopify-token', /shp(?:at|ss|ca|pa)_[0-9A-Fa-f]{32}/],
  ['digitalocean-token', /do[opr]_v1_[0-9A-Fa-f]{64}/],
  ['databricks-token', /dapi[0-9A-Fa-f]{32}(?![0-9A-Fa-f])/],
  ['vault-token', /hv[sbr]\.[\w-]{24}/],
  ['doppler-token', /dp\.st\.[\w-]{1,32}\.[A-Za-z0-9]{40}|dp\.(?:pt|ct|sa|scim|audit)\.[A-Za-z0-9]{40}/],
  ['grafana-token', /glc_[A-Za-z0-9+/]{32}|glsa_[A-Za-z0-9]{32}_[0-9A-Fa-f]{8}/],
  ['linear-key', /lin_api_[A-Za-z0-9]{32}/],
  ['postman-key', /PMAK-[0-9A-Fa-f]{24}-[A-Za-z0-9]{34}/],
  ['atlassian-token', /ATATT3[\w=-]{50}/],
  ['newrelic-key', /NR(?:AK|II|JS)-[A-Z0-9]{27}/],
  ['sentry-token', /sntrys_[\w+/=]{50}|sntryu_[0-9A-Fa-f]{64}/],
  ['square-token', /sq0(?:atp|csp)-[\w-]{22}|EAAA[\w-]{60}(?![\w-])/],
  ['age-secret-key', /AGE-SECRET-KEY-1[A-Z0-9]{50}/],
  ['firebase-key', /AAAA[\w-]{7}:APA91b[\w-]{100}/],
  ['facebook-token', /EAA[A-Za-z0-9]{90}/],
  ['heroku-key', /HRKU-[\w-]{58}/],
  ['supabase-token', /sbp_[0-9A-Fa-f]{40}/],
  ['dropbox-token', /sl\.[\w-]{130}/],
  ['airtable-token', /pat[A-Za-z0-9]{14}\.[0-9A-Fa-f]{64}/],
  ['notion-token', /ntn_[A-Za-z0-9]{40}|secret_[A-Za-z0-9]{43}(?![A-Za-z0-9])/],
  // Without a literal prefix: a literal at a fixed offset.
  ['mailgun-key', /[0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8}(?![0-9a-f])/],
  ['mailchimp-key', /[0-9a-f]{32}-us\d{1,2}(?!\d)/],
  ['telegram-bot-token', /\d{8,10}:AA[\w-]{33}/],
  ['discord-bot-token', /[MNO][A-Za-z0-9]{22,27}\.[\w-]{6,7}\.[\w-]{27}/],
  // Azure AD client secrets: three characters, a digit, `Q~`, then 31 to 34 more.
  ['azure-client-secret', /[A-Za-z0-9][\w~.]{2}\dQ~[\w~.-]{31}/],
  // Last: tried only in texts that hold `.atlasv1.` (at every word start it would cost as much as all the others).
  ['terraform-token', /[A-Za-z0-9]{14}\.atlasv1\.[\w-]{60}/],
];
/**
 * A search for the first of `patterns` at a word start (after the text's start or a character that is no
 * letter or digit): group `i + 1` holds a match of pattern `i`.
 */
const atWordStarts = (patterns: readonly RegExp[], flags = '') =>
  new RegExp(`(?:^|[^A-Za-z0-9])(?=[A-Za-z0-9])(?:${patterns.map((pattern) => `(${pattern.source})`).join('|')})`, flags);
const TOKEN_FORMAT = atWordStarts(TOKEN_FORMATS.slice(0, -1).map(([, format]) => format));
const TOKEN_FORMAT_TERRAFORM = atWordStarts(TOKEN_FORMATS.map(([, format]) => format));
/** Word starts `scanWords` reads further (no word starts inside any of them). */
const WORD_CANDIDATES = atWordStarts(
  [
    /AC[0-9A-Fa-f]{32}(?![0-9A-Fa-f])/, // a Twilio account SID
    /[0-9a-f]{32}(?:[0-9a-f]{8})?(?![A-Za-z0-9])/, // a lone 32- or 40-digit hex word
    /eyJ/, // a JWT's start
    /[Bb][A-Za-z]{4}/, // a word `Bearer` or `Basic` may start
  ],
  'g',
);
/** Where a word matched by one of the patterns above starts. */
const wordAt = (text: string, match: RegExpExecArray) => (is(text.charCodeAt(match.index), ALNUM) ? match.index : match.index + 1);

/** Whether `text` has `lowerWord` at `at`, in any case. */
function hasWordAt(text: string, at: number, lowerWord: string): boolean {
  for (let i = 0; i < lowerWord.length; i++) if ((text.charCodeAt(at + i) | 0x20) !== lowerWord.charCodeAt(i)) return false;
  return true;
}

/**
 * Token formats, JWTs and HTTP authorization credentials, tried where words start; the first in the text
 * wins, and a format before anything else at the same word. A JWT is a base64url run starting `eyJ`, a dot,
 * another starting `eyJ`, a dot and a signature; a start inside a run already read is skipped (it would reach
 * the same dot), so each run is read at most twice.
 */
function scanWords(text: string): SecretRuleId | null {
  const format = (text.includes('.atlasv1.') ? TOKEN_FORMAT_TERRAFORM : TOKEN_FORMAT).exec(text);
  const formatAt = format === null ? text.length : wordAt(text, format);
  let jwtReadUpTo = 0;
  let twilioSidEnd = -1;
  WORD_CANDIDATES.lastIndex = 0;
  for (let match = WORD_CANDIDATES.exec(text); match !== null; match = WORD_CANDIDATES.exec(text)) {
    const at = wordAt(text, match);
    if (at >= formatAt) break;
    const [, sid, hex, jwt] = match;
    if (sid !== undefined) {
      twilioSidEnd = at + sid.length;
    } else if (hex !== undefined) {
      const rule = contextualHex(text, at, hex, twilioSidEnd);
      if (rule) return rule;
    } else if (jwt !== undefined) {
      if (at < jwtReadUpTo) continue;
      const header = run(text, at, B64URL);
      jwtReadUpTo = at + header;
      const claims = jwtReadUpTo + 1;
      if (header >= 8 && text.charCodeAt(jwtReadUpTo) === PERIOD && text.startsWith('eyJ', claims)) {
        const claimsLength = run(text, claims, B64URL);
        const signature = claims + claimsLength + 1;
        if (claimsLength >= 8 && text.charCodeAt(signature - 1) === PERIOD && run(text, signature, B64URL, 8) >= 8) return 'jwt';
      }
    } else if (hasWordAt(text, at, 'bearer')) {
      BEARER_CREDENTIAL.lastIndex = at + 6;
      if (BEARER_CREDENTIAL.test(text)) return 'http-authorization';
    } else if (hasWordAt(text, at, 'basic')) {
      BASIC_CREDENTIAL.lastIndex = at + 5;
      const encoded = BASIC_CREDENTIAL.exec(text)?.[1];
      if (encoded !== undefined && isEncodedUserPassword(encoded)) return 'http-authorization';
    }
  }
  return format === null ? null : TOKEN_FORMATS[format.findIndex((group, index) => index > 0 && group !== undefined) - 1]![0];
}

/**
 * Hex credentials known only by what is near them: a Twilio auth token (32 hex digits within 80 characters
 * after an account SID, `AC` and 32 hex), a Datadog API key (32) or application key (40) with `datadog` or
 * `dd_api_key` at most 64 characters before it. Reads 64 characters back for a word.
 */
function contextualHex(text: string, at: number, hex: string, twilioSidEnd: number): SecretRuleId | null {
  const kinds = letterKinds(hex);
  if (!kinds.digit || !kinds.lower) return null;
  const before = text.slice(Math.max(0, at - 64), at);
  // `trace 7cad…`, `run id: 7cad…`: an identifier, whatever is near it.
  if (IDENTIFIER_BEFORE.test(before)) return null;
  if (hex.length === 32 && twilioSidEnd !== -1 && at - twilioSidEnd <= 80) return 'twilio-key';
  return DATADOG_HINT.test(before) ? 'datadog-api-key' : null;
}
const DATADOG_HINT = /datadog|\bdd[_-]?(?:api|app(?:lication)?)[_-]?key/i;
const IDENTIFIER_BEFORE =
  /\b(?:trace|span|request|run|job|commit|build|order|event|session|correlation|id|ids|hash|sha\d*|md5|digest|checksum|uuid|etag)[\s:=#-]*$/i;

/** After `Bearer`: blanks, then a token of 16 or more characters with a letter and a digit among its first 64. */
const BEARER_CREDENTIAL = /[ \t]{1,3}(?=[\w.~+/=-]{16})(?=[\w.~+/=-]{0,63}\d)(?=[\w.~+/=-]{0,63}[A-Za-z])/y;
/** After `Basic`: blanks, then (its group) what may be base64 of `user:password`. */
const BASIC_CREDENTIAL = /[ \t]{1,3}([A-Za-z0-9+/=]{8,256})/y;

/** Spaces and tabs at `from` (at most 3). */
function countBlanks(text: string, from: number): number {
  let count = 0;
  while (count < 3 && (text.charCodeAt(from + count) === 32 || text.charCodeAt(from + count) === 9)) count++;
  return count;
}

/** base64 (at most 256 characters) of printable `user:password`. */
function isEncodedUserPassword(encoded: string): boolean {
  if (encoded.length < 8 || encoded.length > 256 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded)) return false;
  const decoded = decodeBase64(encoded);
  const colon = decoded.indexOf(':');
  return colon > 0 && colon < decoded.length - 1 && /^[\x21-\x7e]+$/.test(decoded);
}

/** Starts of bare DER private keys in base64: PKCS#1 RSA, PKCS#8 (plain, encrypted, EC, Ed25519), SEC1 EC, OpenSSH. */
const DER_PRIVATE_KEY_STARTS: readonly [offset: number, start: string][] = [
  [6, 'IBAAK'], // MII?..IBAAKC: RSAPrivateKey (PKCS#1)
  [6, 'IBADANBgkqhkiG9w0BAQEFAAS'], // PrivateKeyInfo, rsaEncryption (PKCS#8)
  [0, 'MIGHAgEAMBMGByqGSM49'], // PrivateKeyInfo, EC P-256
  [0, 'MIG2AgEAMBAGByqGSM49'], // PrivateKeyInfo, EC P-384
  [0, 'MHcCAQEEI'], // ECPrivateKey P-256 (SEC1)
  [0, 'MIGkAgEBBDA'], // ECPrivateKey P-384
  [0, 'MIHcAgEBBEI'], // ECPrivateKey P-521
  [0, 'MC4CAQAwBQYDK2Vw'], // PrivateKeyInfo, Ed25519 / X25519
  [8, 'BgkqhkiG9w0BBQ'], // EncryptedPrivateKeyInfo (PKCS#5)
  [0, 'b3BlbnNzaC1rZXktdjE'], // "openssh-key-v1"
];

/**
 * Base64 blobs (maximal runs of base64 characters, each examined once): bare DER private keys,
 * base64-wrapped PEM private keys (a bounded prefix decoded), and AWS secret access keys in a text
 * that speaks of AWS or secrets.
 */
function scanBlobs(text: string): SecretRuleId | null {
  let awsContext: boolean | undefined;
  for (let at = 0; at < text.length; ) {
    const length = run(text, at, BLOB);
    if (length === 0) {
      at++;
      continue;
    }
    if (length >= 60) {
      // A PEM private key in the first 1,024 characters once decoded (a wrapped PEM, a service account's JSON).
      const decoded = decodeBase64(text.slice(at, at + Math.min(length, 1024) - (Math.min(length, 1024) % 4))).toLowerCase();
      const begin = decoded.indexOf('-----begin');
      if (begin !== -1 && /^[ a-z0-9]{0,24}private key/.test(decoded.slice(begin + 11, begin + 48))) return 'private-key-base64';
      if (text.startsWith('MII', at) || text.startsWith('MH', at) || text.startsWith('MC', at) || text.startsWith('b3Bl', at)) {
        if (DER_PRIVATE_KEY_STARTS.some(([offset, start]) => text.startsWith(start, at + offset))) return 'private-key-der';
      }
    }
    if (length >= 24) {
      const encoded = scanEncoded(text.slice(at, at + Math.min(length, 1024)));
      if (encoded) return encoded;
    }
    if (length === 40 && (awsContext ??= AWS_HINT.test(text)) && isAwsSecretShape(text.slice(at, at + 40))) return 'aws-secret-key';
    at += length;
  }
  return null;
}

/**
 * A base64 (or hex) run, at most 1,024 characters of it, decoded: when it is printable text (a URL, an env
 * file, JSON, XML), the text passes that hold credentials in words are run on it (token formats, URLs,
 * assignments, elements), once, never decoding again.
 */
function scanEncoded(run64: string): SecretRuleId | null {
  const hex = run64.length >= 32 && run(run64, 0, HEX) === run64.length;
  if (!(hex ? HEX_OF_TEXT : BASE64_OF_TEXT).test(run64)) return null;
  const decoded = hex
    ? Buffer.from(run64.slice(0, run64.length - (run64.length % 2)), 'hex').toString('latin1')
    : decodeBase64(run64.slice(0, run64.length - (run64.length % 4)));
  if (decoded.length < 12 || !PRINTABLE.test(decoded)) return null;
  return scanWordPasses(decoded) === null ? null : 'encoded-secret';
}
const PRINTABLE = /^[\t\n\r\x20-\x7e]+$/;

/**
 * Runs whose first three bytes may be ASCII (a run is at least 24 characters): in base64 a byte below 0x80
 * starts each 4-character group with `A`–`Z` or `a`–`f`; in hex it starts each pair with `0` or `2`–`7`.
 * Most runs (identifiers, host names, ids) fail at once and are never decoded.
 */
const BASE64_OF_TEXT = /^(?:[A-Za-f][^]{3}){3}/;
const HEX_OF_TEXT = /^(?:[02-7][^]){3}/;

/** A text that speaks of AWS or secrets: a 40-character base64 token in it is an AWS secret access key. */
const AWS_HINT = /aws|secret/i;

/** 40 characters of base64 with upper and lower case letters and digits, random-looking. */
function isAwsSecretShape(value: string): boolean {
  if (value.length !== 40 || run(value, 0, B64) !== 40) return false;
  const kinds = letterKinds(value);
  return kinds.upper && kinds.lower && kinds.digit && entropy(value) >= 4;
}

/** `-----BEGIN … PRIVATE KEY` in any case (RSA, EC, DSA, OPENSSH, ENCRYPTED, PGP … BLOCK), and PuTTY key files. */
function scanPem(lower: string): SecretRuleId | null {
  for (let begin = lower.indexOf('begin'); begin !== -1; begin = lower.indexOf('begin', begin + 5)) {
    let dash = begin - 1;
    if (lower.charCodeAt(dash) === 32) dash--;
    if (lower.charCodeAt(dash) !== HYPHEN || lower.charCodeAt(dash - 1) !== HYPHEN) continue;
    const header = lower.slice(begin + 5, begin + 48);
    const privateAt = header.indexOf('private');
    if (privateAt !== -1 && header.indexOf('key', privateAt + 7) !== -1) return 'private-key-pem';
  }
  return lower.includes('putty-user-key-file-') ? 'private-key-pem' : null;
}

const endsAuthority = (code: number) => code === SOLIDUS || endsPath(code);
const endsPath = (code: number) => code === QUESTION || code === NUMBER_SIGN || endsUrl(code);
const endsUrl = (code: number) =>
  isSpace(code) || code === QUOTE || code === APOSTROPHE || code === LESS_THAN || code === GREATER_THAN || code === BACKTICK ||
  code === 0x5c /* \ */;
const SCHEME = ALNUM | PLUS | DASH | DOT;

/**
 * URLs anywhere in a text, found by their `://`: a password (or a token as the user) in the userinfo, a
 * webhook whose path is its credential, a query parameter named like a secret. Each URL is read once,
 * and the search resumes after it.
 */
function scanUrls(text: string): SecretRuleId | null {
  for (let from = 0; ; ) {
    const separator = text.indexOf('://', from);
    if (separator === -1) return null;
    const authorityStart = separator + 3;
    let schemeStart = separator;
    while (schemeStart > 0 && separator - schemeStart < 32 && is(text.charCodeAt(schemeStart - 1), SCHEME)) schemeStart--;
    if (schemeStart === separator || !is(text.charCodeAt(schemeStart), LETTERS)) {
      from = authorityStart;
      continue;
    }
    let at = authorityStart;
    let userinfoEnd = -1;
    for (; at < text.length && !endsAuthority(text.charCodeAt(at)); at++) if (text.charCodeAt(at) === AT_SIGN) userinfoEnd = at;
    // A password pasted raw may hold `#` or `?` (`sftp://user:pa#ss@host`): after a `user:`, an `@` a little
    // further on, before any `/`, still ends the userinfo.
    if (userinfoEnd === -1 && (text.charCodeAt(at) === NUMBER_SIGN || text.charCodeAt(at) === QUESTION)) {
      const colon = text.slice(authorityStart, at).indexOf(':');
      if (colon !== -1) {
        let ahead = at + 1;
        for (; ahead < text.length && ahead - at < 128; ahead++) {
          const code = text.charCodeAt(ahead);
          if (code === AT_SIGN || code === SOLIDUS || endsUrl(code)) break;
        }
        if (text.charCodeAt(ahead) === AT_SIGN) {
          userinfoEnd = ahead;
          for (at = ahead + 1; at < text.length && !endsAuthority(text.charCodeAt(at)); at++);
        }
      }
    }
    const authorityEnd = at;
    if (userinfoEnd !== -1) {
      const rule = judgeUserinfo(text.slice(authorityStart, userinfoEnd));
      if (rule) return rule;
    }
    const hostStart = userinfoEnd === -1 ? authorityStart : userinfoEnd + 1;
    const host = text.slice(hostStart, authorityEnd).toLowerCase().replace(/:\d*$/, '');
    while (at < text.length && !endsPath(text.charCodeAt(at))) at++;
    const webhook = WEBHOOK_HOSTS.find((candidate) => candidate.host(host));
    if (webhook?.path.test(text.slice(authorityEnd, Math.min(at, authorityEnd + 256)))) return 'webhook-url';
    if (text.charCodeAt(at) === QUESTION) {
      const query = scanQuery(text, at + 1);
      if (query.rule) return query.rule;
      at = query.end;
    }
    while (at < text.length && !endsUrl(text.charCodeAt(at))) at++;
    from = Math.max(at, authorityStart);
  }
}

function judgeUserinfo(userinfo: string): SecretRuleId | null {
  const colon = userinfo.indexOf(':');
  if (colon !== -1) {
    const password = userinfo.slice(colon + 1);
    return password && !isStandIn(safeDecode(password)) ? 'url-userinfo-password' : null;
  }
  if (userinfo.length < 16 || run(userinfo, 0, B64URL | DOT | TILDE) !== userinfo.length) return null;
  const kinds = letterKinds(userinfo);
  return kinds.digit && (kinds.lower || kinds.upper) ? 'url-userinfo-token' : null;
}

const safeDecode = (text: string) => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

/** Hosts whose webhook URLs carry their credential in the path (query-string credentials are the query rule's). */
const WEBHOOK_HOSTS: { host: (host: string) => boolean; path: RegExp }[] = [
  { host: (host) => host === 'hooks.slack.com', path: /^\/(?:services|workflows|triggers)\/[\w/-]{16}/ },
  {
    host: (host) => host === 'discord.com' || host === 'discordapp.com' || host.endsWith('.discord.com'),
    path: /^\/api\/(?:v\d{1,2}\/)?webhooks\/\d{5,30}\/[\w-]{20}/,
  },
  {
    host: (host) => host.endsWith('.webhook.office.com') || host === 'outlook.office.com' || host === 'outlook.office365.com',
    path: /^\/webhook(?:b2)?\/[\w@/-]{20}/,
  },
  { host: (host) => host === 'hooks.zapier.com', path: /^\/hooks\/catch\/\d+\/\w{4}/ },
  { host: (host) => host === 'api.telegram.org', path: /^\/bot\d{6,12}:[\w-]{30}/ },
  { host: (host) => host === 'maker.ifttt.com', path: /^\/trigger\/[\w-]+\/(?:json\/)?with\/key\/[\w-]{16}/ },
];

/** Query parameters whose value is a credential although their name does not say "secret". */
const SIGNATURE_PARAMETERS = set('sig signature x-amz-signature x-goog-signature x-amz-security-token');

/** Reads a query string from `start`; a parameter named like a secret, with a real value, fires. */
function scanQuery(text: string, start: number): { rule: SecretRuleId | null; end: number } {
  let at = start;
  while (at < text.length) {
    const nameStart = at;
    while (at < text.length && !endsParameter(text.charCodeAt(at)) && text.charCodeAt(at) !== EQUALS_SIGN) at++;
    const nameEnd = at;
    if (text.charCodeAt(at) === EQUALS_SIGN) {
      const valueStart = ++at;
      while (at < text.length && !endsParameter(text.charCodeAt(at))) at++;
      // No secret's name is shorter than `pw` or longer than 64 characters; a value is read only under a secret's name.
      const nameLength = nameEnd - nameStart;
      if (at > valueStart && nameLength >= 2 && nameLength <= 64) {
        if (isSecretParameter(text.slice(nameStart, nameEnd), text.slice(valueStart, at))) {
          return { rule: 'url-secret-parameter', end: at };
        }
      }
    }
    const code = text.charCodeAt(at);
    if (code !== AMPERSAND && code !== SEMICOLON) break;
    at++;
  }
  return { rule: null, end: at };
}

const endsParameter = (code: number) =>
  code === AMPERSAND || code === SEMICOLON || code === NUMBER_SIGN || endsUrl(code) || Number.isNaN(code);

/** Whether a query parameter is named like a secret (or a signature, or `key`) and holds a real value. */
function isSecretParameter(name: string, encoded: string): boolean {
  const lowerName = name.toLowerCase();
  const signature = SIGNATURE_PARAMETERS.has(lowerName);
  if (!signature && lowerName !== 'key' && keyVerdict(name).secret === null) return false;
  const value = safeDecode(encoded);
  if (isStandIn(value)) return false;
  if (signature) return value.length >= 16;
  if (lowerName === 'key') return value.length >= 16 && letterKinds(value).digit;
  return true;
}

const COMPARISONS = [EQUALS_SIGN, COLON, 0x21 /* ! */, LESS_THAN, GREATER_THAN];
const PASSWORD_LABELS = set('password passwd pwd pass passphrase passcode');
const AZURE_KEY_NAMES = set('accountkey sharedaccesskey');
/** Characters that end an unquoted value in `name=value`. */
const endsValue = (code: number, templated: boolean) =>
  isSpace(code) || code === SEMICOLON || code === 0x2c /* , */ || code === AMPERSAND || code === QUOTE || code === APOSTROPHE ||
  code === 0x29 /* ) */ || (code === 0x7d /* } */ && !templated) || code === 0x5d /* ] */ || code === LESS_THAN ||
  code === GREATER_THAN || code === VERTICAL_BAR;

/**
 * `name=value` and `name: value` where the name names a secret: libpq and ADO.NET/ODBC connection
 * strings (`password=…`, `Pwd=…;`), Azure's `AccountKey=…`, env files, YAML and JSON inside text. Each
 * `=` or `:` looks at most 64 characters back (the name) and 256 forward (the value). After a colon an
 * unquoted value must look like a credential (a digit, a symbol, mixed case or 16+ characters), so that
 * prose ("password: reset by ops") passes.
 */
function scanAssignments(text: string): SecretRuleId | null {
  let fixMessage: boolean | undefined;
  for (let at = 1; at < text.length; at++) {
    const code = text.charCodeAt(at);
    if (code !== EQUALS_SIGN && code !== COLON) continue;
    const next = text.charCodeAt(at + 1);
    if (code === COLON && next === SOLIDUS && text.charCodeAt(at + 2) === SOLIDUS) continue;
    const before = text.charCodeAt(at - 1);
    // `==`, `:=` (read at the colon), `!=`, `<=`, `>=` are not assignments; but `NAME==x` after an environment
    // variable's name is `NAME` set to `=x` (a password may start with `=`).
    const doubled = code === EQUALS_SIGN && next === EQUALS_SIGN;
    if (code === EQUALS_SIGN && COMPARISONS.includes(before)) continue;
    let nameEnd = at;
    for (let skipped = 0; skipped < 2 && nameEnd > 0 && text.charCodeAt(nameEnd - 1) === 32; skipped++) nameEnd--;
    if (nameEnd > 0 && (text.charCodeAt(nameEnd - 1) === QUOTE || text.charCodeAt(nameEnd - 1) === APOSTROPHE)) nameEnd--;
    let nameStart = nameEnd;
    while (nameStart > 0 && nameEnd - nameStart < 64 && is(text.charCodeAt(nameStart - 1), NAME)) nameStart--;
    if (nameEnd - nameStart < 3 || (nameStart > 0 && is(text.charCodeAt(nameStart - 1), NAME))) continue;
    // `arn:aws:secretsmanager:…:secret:prod/db`, `urn:…`: a colon chain, not an assignment.
    if (code === COLON && nameStart > 0 && text.charCodeAt(nameStart - 1) === COLON) continue;
    // `curl -u user:password`, `--user=user:password`.
    if (code === COLON && USER_FLAG_BEFORE.test(text.slice(Math.max(0, nameStart - 8), nameStart))) {
      const password = assignedValue(text, at + 1);
      if (password.text && !isStandIn(password.text) && !/^\d+$/.test(password.text)) return 'basic-auth-credentials';
    }
    const name = text.slice(nameStart, nameEnd);
    if (doubled && !ENVIRONMENT_NAME.test(name)) continue;
    const verdict = keyVerdict(name);
    const signature = code === EQUALS_SIGN && SIGNATURE_PARAMETERS.has(name.toLowerCase());
    // FIX messages: tag 554 is Password, 925 NewPassword (`…\x01554=secret\x01…`).
    const fixPassword = code === EQUALS_SIGN && FIX_PASSWORD_TAGS.has(name) && (fixMessage ??= text.includes('8=FIX'));
    const secret = verdict.secret ?? (fixPassword ? 'password' : null);
    if (secret === null && !signature && !verdict.auth) continue;
    const value = assignedValue(text, at + (next === GREATER_THAN || (next === EQUALS_SIGN && !doubled) ? 2 : 1));
    if (!value.text) continue;
    const prose = code === COLON && !(value.quoted && !/\s/.test(value.text));
    if ((prose && !looksLikeCredential(value.text, !value.quoted)) || isStandIn(value.text)) continue;
    // A regular expression in a list of redaction patterns (`(?i)password=\S+`, `token=[A-Za-z0-9]{32}`).
    if (looksLikeRegex(value.text + text.slice(value.end, value.end + 8))) continue;
    let rule: SecretRuleId | null = null;
    if (secret === null) {
      if (signature && value.text.length >= 16) rule = 'secret-assignment';
      else if (verdict.auth && isEncodedUserPassword(value.text)) rule = 'basic-auth-credentials';
    } else if (!value.quoted && CODE.test(value.text)) {
      continue;
    } else if (verdict.ambiguous && !isCredentialToken(value.text)) {
      continue;
    } else if (prose && NUMERIC.test(value.text) && !PASSWORD_LABELS.has(secret)) {
      // A date, a time, a number (with a unit) after a colon is prose, unless a password or PIN is meant.
      continue;
    } else if (AZURE_KEY_NAMES.has(secret)) {
      rule = 'azure-storage-key';
    } else {
      const connectionString = code === EQUALS_SIGN && PASSWORD_LABELS.has(secret) && !fixPassword;
      rule = connectionString ? 'connection-string-password' : 'secret-assignment';
    }
    // Not a reference (`credentials: application-default`, a path, an ARN).
    if (rule === null || isReference(value.text)) continue;
    return rule;
  }
  return null;
}

/** A command-line user flag (`-u `, `--user `, `--user=`) at the end of the 8 characters before a name. */
const USER_FLAG_BEFORE = /(?:^-u| -u|--user) $|--user=$/;

/**
 * The value after `name=` (blanks skipped; quoted or up to a separator; at most 256 characters), and where
 * it ends in `text`.
 */
function assignedValue(text: string, from: number): { text: string; quoted: boolean; end: number } {
  const start = from + countBlanks(text, from);
  const quote = text.charCodeAt(start);
  if (quote === QUOTE || quote === APOSTROPHE || quote === BACKTICK) {
    const quoted = text.slice(start + 1, start + 257);
    const close = quoted.indexOf(String.fromCharCode(quote));
    const length = close === -1 ? quoted.length : close;
    return { text: quoted.slice(0, length), quoted: true, end: start + 1 + length };
  }
  let end = start;
  // A placeholder (`${DB_PASSWORD}`, `{{ password }}`) runs to its closing brace.
  const templated = quote === 0x24 /* $ */ || quote === 0x7b /* { */;
  while (end < text.length && end - start < 256 && !endsValue(text.charCodeAt(end), templated)) end++;
  return { text: text.slice(start, end).replace(/[.,;:!?]$/, ''), quoted: false, end };
}

/** An environment variable's name (`POSTGRES_PASSWORD`). */
const ENVIRONMENT_NAME = /^[A-Z][A-Z0-9_]{2,63}$/;
const FIX_PASSWORD_TAGS = set('554 925');

/**
 * A regular expression rather than a value: a character class escape or a bracket expression with a
 * quantifier, a wildcard with one, an inline flag group (`\S+`, `[0-9a-zA-Z]{24,}`, `.*`, `(?i)`).
 */
const REGEX_SIGNS = /\\[sSdDwW][+*{?]|\][+*?{]|\.[*+]|\(\?[imsx:=!<]|\{\d{1,4},\d{0,4}\}/;
const looksLikeRegex = (value: string) => value.length <= 512 && REGEX_SIGNS.test(value);

/** An Ethereum-style address: public, not a key (`0x` and 40 hex digits; a private key has 64). */
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
/** A ticker or a pair (`USDC`, `BTC-USD`, `wstETH`, `USDC.e`): what a `token` is in trading. */
const TICKER = /^[A-Za-z0-9]{1,10}(?:[.\-/:_][A-Za-z0-9]{1,10})?$/;

/**
 * Whether a value under an ambiguous name (`token` alone, `quote_token`) is a credential: long or random
 * enough (`looksLikeCredential`, 16+ characters), not a ticker, an address, a reference or prose.
 */
function isCredentialToken(raw: string): boolean {
  const value = raw.trim();
  if (value.length > 4096 || /\s/.test(value) || TICKER.test(value) || ADDRESS.test(value) || isReference(value)) return false;
  return looksLikeCredential(value, true);
}

/** An expression in code (`os.getenv('X')`, `config[...]`), not a value. */
const CODE = /^[A-Za-z_][\w.]*[([]/;
/** Numbers, dates, times, versions, durations. */
const NUMERIC = /^[\d.:/-]+[a-z%]{0,3}$/i;

/** A digit, a symbol, mixed case inside the word, or (when `long` counts) 16 or more characters. */
function looksLikeCredential(value: string, long: boolean): boolean {
  if (value.length < 4) return false;
  if (/[\d!@#$%^&*+=/~\\|]/.test(value) || /[a-z][A-Z]/.test(value)) return true;
  return long && value.length >= 16;
}

/**
 * `<name attributes>value</name>`: a name of 2 to 64 characters, attributes up to the first `>` at most 127
 * characters on, a value of at most 256 characters before its closing tag.
 */
const ELEMENT = /<([A-Za-z][\w.-]{1,63})(?![\w.-])(?: [^>]{0,126})?(?<!\/)>([^<]{0,256})<\/\1>/g;

/** `<password>…</password>`: an element named like a secret (attributes allowed) holding a value. */
function scanElements(text: string): SecretRuleId | null {
  for (const [, name, raw] of text.matchAll(ELEMENT)) {
    const verdict = keyVerdict(name!);
    const value = raw!.trim();
    if (verdict.secret === null || !value || isReference(value) || (verdict.ambiguous && !isCredentialToken(value))) continue;
    return 'secret-element';
  }
  return null;
}

/**
 * Command lines whose client takes a password glued to `-p` (`mysql -u root -pS3cret`, `mysqldump`,
 * `mariadb`; `-P` is the port) or after `sshpass -p`. From each client's name the rest of its line (at
 * most 256 characters) is read once; the search resumes after it. psql's `-p` is a port and is not read.
 */
function scanCommandLine(text: string): SecretRuleId | null {
  COMMAND_CLIENT.lastIndex = 0;
  for (let found = COMMAND_CLIENT.exec(text); found !== null; found = COMMAND_CLIENT.exec(text)) {
    const client = found.index;
    const glued = found[0].toLowerCase() !== 'sshpass';
    let end = client;
    while (end < text.length && end - client < 256 && !LINE_ENDS.includes(text.charCodeAt(end))) end++;
    const line = text.slice(client, end);
    for (let flag = line.indexOf(' -p'); flag !== -1; flag = line.indexOf(' -p', flag + 3)) {
      const start = flag + 3 + (glued ? 0 : countBlanks(line, flag + 3));
      if (!glued && start === flag + 3) continue;
      let stop = start;
      while (stop < line.length && !isSpace(line.charCodeAt(stop))) stop++;
      const password = line.slice(start, stop).replace(/^(["'])(.*)\1$/, '$2');
      if (password.length >= 4 && !/^[$%{<]/.test(password) && !isStandIn(password)) return 'command-line-password';
    }
    COMMAND_CLIENT.lastIndex = Math.max(end, client + 5);
  }
  return null;
}
const LINE_ENDS = [10, 13, SEMICOLON, VERTICAL_BAR, AMPERSAND];
const COMMAND_CLIENT = /mysql|mariadb|sshpass/gi;

/** Words in prose that, followed by a credential, name it (besides every key name that names a secret). */
const PROSE_NAMES = set('key keys pk privkey seed apikey');
/** Words between a secret's name and its value: `password is …`, `key to …`, `token now …`. */
const PROSE_CONNECTORS = set('is to was now = : - -> => becomes set');
/** Words between a secret's name and its value that change nothing (`password is now …`, `key to the new …`). */
const PROSE_FILLERS = set('the a an new old our my your current temporary temp');
/** `pk` and `privkey` stand for a private key (hex or base58 of 32+ bytes): `pk 12ab…` shorter is a primary key. */
const PRIVATE_KEY_NAMES = set('pk privkey');
/** Words before a key's name that make it public (`public key ssh-ed25519 AAAA…`). */
const PUBLIC_WORDS = set('public pub publishable');
/** Words that introduce a user in `login <user> / <password>`. */
const LOGIN_WORDS = set('login logon user username usr creds credentials account');
/** Words that introduce a seed phrase. */
const SEED_WORDS = set('seed mnemonic phrase seedphrase');
/** Words between a seed's name and the phrase (and `''`, a lone colon or dash). */
const SEED_LEADS = new Set(['phrase', 'words', '']);
/** Common English words that no BIP-39 mnemonic holds: a run of words with one is prose. */
const PROSE_ONLY_WORDS = set('the and for with was were are but has had from its our your been');
/** A quick test for the words that name a secret in prose. */
const PROSE_HINT = /pass|pw|secret|token|key|pk|seed|mnemonic|phrase|cred|login|logon|user|usr|sandi|senha|clave/i;
const SEED_HINT = /seed|mnemonic|phrase/i;
/** How a secret's name in prose is written: an identifier (`password`, `db_password`, `api.key`). */
const PROSE_NAME = /^[A-Za-z][\w.-]*$/;

/** The word at `at` (no blanks), with the punctuation around it apart. */
interface ProseWord {
  /** The word without the quotes and brackets around it, nor punctuation after it. */
  word: string;
  /** Where the word (as written) ends. */
  end: number;
  /** It ends a clause (`.`, `,`, `;`, `)` after it). */
  clauseEnd: boolean;
  /** A colon follows it (`password:`). */
  colon: boolean;
}

function proseWordAt(text: string, at: number): ProseWord {
  const end = wordEnd(text, at);
  let start = at;
  while (start < end && OPENING.includes(text[start]!)) start++;
  let stop = end;
  while (stop > start && CLOSING.includes(text[stop - 1]!)) stop--;
  const after = text.slice(Math.max(stop, end - 2), end);
  return { word: text.slice(start, stop), end, clauseEnd: /[.,;)!?]/.test(after), colon: after.includes(':') };
}

/** Where the word at `at` ends (at a blank, or 300 characters on). */
function wordEnd(text: string, at: number): number {
  let end = at;
  while (end < text.length && end - at < 300 && !isSpace(text.charCodeAt(end))) end++;
  return end;
}

/** Punctuation before words in prose, and after them. */
const OPENING = '("\'`<[', CLOSING = ')"\'`>].,;:!?';

/** The start of the next word after `from` (at most 8 blanks skipped), or -1. */
function nextWord(text: string, from: number): number {
  let at = from;
  while (at < text.length && at - from < 8 && isSpace(text.charCodeAt(at))) at++;
  return at < text.length && !isSpace(text.charCodeAt(at)) && at > from ? at : -1;
}

/**
 * Whether the word from `at` to `end` may be a credential, by one look at its characters: 8 to 256 of them
 * (its punctuation apart) with two of upper case, lower case and digits, as every password-shaped or
 * random-looking word has. Prose is mostly words that are not, and is let go at this cost.
 */
function mayBeCredentialWord(text: string, at: number, end: number): boolean {
  if (end - at < 8) return false;
  let kinds = 0;
  for (let i = at; i < end; i++) {
    const code = text.charCodeAt(i);
    kinds |= is(code, UPPER) ? 1 : is(code, LOWER) ? 2 : is(code, DIGIT) ? 4 : 0;
  }
  return kinds === 3 || kinds >= 5;
}

/** A password-shaped word: 8 to 64 characters with three of upper case, lower case, digits and symbols. */
function isPasswordShaped(word: string): boolean {
  if (word.length < 8 || word.length > 64 || /^\d{4}-\d\d-\d\d/.test(word) || word.includes('://')) return false;
  const kinds = letterKinds(word);
  const symbol = /[^A-Za-z0-9._-]/.test(word);
  return Number(kinds.upper) + Number(kinds.lower) + Number(kinds.digit) + Number(symbol) >= 3;
}

/** A word that may be a credential at all: not a reference, an address, a public SSH key, a UUID or a path. */
function mayBeCredential(word: string): boolean {
  return (
    word.length >= 8 && word.length <= 256 && !ADDRESS.test(word) && !/^AAAA[A-Z0-9]/.test(word) && !UUID.test(word) &&
    !isReference(word)
  );
}

/** How many word starts `scanProse` keeps: the value, the words before it and the name's previous word. */
const PROSE_MEMORY = 8;

/**
 * Prose (a change reason, a description, an error message): a secret's name followed closely by a credential,
 * `login <user> / <password>`, a seed phrase after `seed` or `mnemonic`. It is read from the values back: one
 * scan finds the words that may be credentials, and only from those are at most four words before looked at.
 * A seed phrase is read forward from its name, at most 26 words, and no name inside words already read starts another.
 */
function scanProse(text: string): SecretRuleId | null {
  const starts = new Int32Array(PROSE_MEMORY);
  let words = 0;
  const seeds = SEED_HINT.test(text);
  let seedReadUpTo = 0;
  for (let at = 0; at < text.length; ) {
    if (isSpace(text.charCodeAt(at))) {
      at++;
      continue;
    }
    const end = wordEnd(text, at);
    starts[words++ % PROSE_MEMORY] = at;
    if (seeds && at >= seedReadUpTo && end - at <= 12 && SEED_HINT.test(text.slice(at, end))) {
      const name = proseWordAt(text, at);
      if (SEED_WORDS.has(name.word.toLowerCase())) {
        const phrase = seedPhraseAfter(text, name.end);
        if (phrase.found) return 'seed-phrase';
        seedReadUpTo = phrase.readUpTo;
      }
    }
    if (words > 1 && mayBeCredentialWord(text, at, end)) {
      const rule = proseBefore(text, at, { starts, count: Math.min(words, PROSE_MEMORY) - 1, last: words - 2 });
      if (rule) return rule;
    }
    at = end;
  }
  return null;
}

/** The starts of the words before a value, in a ring: `count` of them, the nearest at index `last`. */
interface WordsBefore {
  starts: Int32Array;
  count: number;
  last: number;
}
const wordBefore = (before: WordsBefore, back: number) => before.starts[(before.last - back) % PROSE_MEMORY]!;

/** Whether a word after a secret's name is a credential: random-looking, or (when `shaped` will do) password-shaped. */
function isProseCredential(value: string, shaped: boolean): boolean {
  return mayBeCredential(value) && (looksRandom(value) || (shaped && isPasswordShaped(value)));
}

/** The rule for the credential-like word at `at`, given the words before it. */
function proseBefore(text: string, at: number, before: WordsBefore): SecretRuleId | null {
  // The words before are looked at first (cheap); the value's shape only once a name is found.
  // `login acme / <password>`, `user: acme / <password>`.
  const slash = wordBefore(before, 0);
  if (before.count >= 3 && text.charCodeAt(slash) === SOLIDUS && isSpace(text.charCodeAt(slash + 1))) {
    const login = proseWordAt(text, wordBefore(before, 2)).word.toLowerCase();
    if (LOGIN_WORDS.has(login) && isProseCredential(proseWordAt(text, at).word, true)) return 'basic-auth-credentials';
  }
  let expectValue = false;
  for (let back = 0; back < Math.min(before.count, 4); back++) {
    const start = wordBefore(before, back);
    const current = proseWordAt(text, start);
    if (current.clauseEnd) return null;
    const word = current.word;
    // Connecting words are short: only those are compared with the lists.
    if (word.length <= 9) {
      const lowerWord = word.toLowerCase();
      if (PROSE_CONNECTORS.has(lowerWord) || (word === '' && /^[:=-]/.test(text.slice(start, current.end)))) {
        expectValue = true;
        continue;
      }
      if (back < 3 && PROSE_FILLERS.has(lowerWord)) continue;
    }
    // The first other word is the secret's name, or nothing is.
    if (word.length < 2 || word.length > 64 || !PROSE_NAME.test(word) || !PROSE_HINT.test(word)) return null;
    const lower = word.toLowerCase();
    const verdict = keyVerdict(word);
    if (verdict.secret === null && !PROSE_NAMES.has(lower)) return null;
    const previous = back + 1 < before.count ? proseWordAt(text, wordBefore(before, back + 1)).word.toLowerCase() : '';
    if (PUBLIC_WORDS.has(previous) || INNOCENT_KEY_QUALIFIERS.has(previous)) return null;
    if (INNOCENT_TOKEN_QUALIFIERS.has(previous)) return null;
    const value = proseWordAt(text, at).word;
    if (PRIVATE_KEY_NAMES.has(lower) && value.length < 40) return null;
    // After `is`, `to`, a colon, a password-shaped word will do (not for the ambiguous `token`); else only a random one.
    return isProseCredential(value, (expectValue || current.colon) && !verdict.ambiguous) ? 'secret-in-prose' : null;
  }
  return null;
}

/**
 * After `seed` or `mnemonic` (and `phrase`, `is`, a colon): 12, 15, 18, 21 or 24 lower-case words of 3 to 8
 * letters, mostly distinct, none of them a word only prose has (`the`, `and`, `was`…). Reads at most 26 words.
 */
function seedPhraseAfter(text: string, from: number): { found: boolean; readUpTo: number } {
  const words: string[] = [];
  let at = from;
  let skipped = 0;
  while (words.length < 24) {
    const start = nextWord(text, at);
    if (start === -1) break;
    const current = proseWordAt(text, start);
    at = current.end;
    // `seed phrase: …`, `mnemonic is …`, `seed words - …`.
    if (words.length === 0 && skipped < 2 && (PROSE_CONNECTORS.has(current.word) || SEED_LEADS.has(current.word))) {
      skipped++;
      continue;
    }
    const isWord = /^[a-z]{3,8}$/.test(current.word);
    if (isWord) words.push(current.word);
    // A word with punctuation (`alarm.`) ends the phrase.
    if (!isWord || current.end - start !== current.word.length) break;
  }
  const count = words.length >= 24 ? 24 : words.length - (words.length % 3);
  if (count < 12) return { found: false, readUpTo: at };
  const phrase = words.slice(0, count);
  const found = !phrase.some((word) => PROSE_ONLY_WORDS.has(word)) && new Set(phrase).size * 3 >= count * 2;
  return { found, readUpTo: at };
}

/** The first credential shape in `text`, whatever holds it (a value, a key, a free text). */
function scanText(raw: string): SecretRuleId | null {
  const text = fold(raw);
  // Each pass is skipped when what it looks for cannot be there (most values are short and plain).
  return (
    (PEM_HINT.test(text) ? scanPem(text.toLowerCase()) : null) ??
    (text.length >= 40 ? scanBlobs(text) : null) ??
    scanWordPasses(text) ??
    scanCommandLine(text) ??
    (text.length >= 10 && PROSE_HINT.test(text) && /\s/.test(text) ? scanProse(text) : null)
  );
}

/** The passes that find credentials in words (token formats, URLs, assignments, elements): decoded text gets them too. */
function scanWordPasses(text: string): SecretRuleId | null {
  return (
    (text.length >= SHORTEST_TOKEN ? scanWords(text) : null) ??
    (text.includes('://') ? scanUrls(text) : null) ??
    (text.includes('=') || text.includes(':') ? scanAssignments(text) : null) ??
    (text.includes('</') ? scanElements(text) : null)
  );
}
const PEM_HINT = /begin|putty-user-key-file-/i;
/** No token format, JWT or Authorization credential is shorter than this (`Basic ` and 8 characters of base64). */
const SHORTEST_TOKEN = 14;

// ---------------------------------------------------------------------------------------------------
// Values in context

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The end of a file name: a dot and an extension (`.parquet`, `.csv`, `.p8`, `.tar.gz`). */
const FILE_NAME = /\.[A-Za-z][A-Za-z0-9]{0,7}$/;

/**
 * One token of 20 to 1,024 characters that looks random (letters and digits mixed, high entropy), not a UUID,
 * not a path or a file name (`bars/1m/2024-11-01.parquet`: random-looking characters never end in `.parquet`).
 */
function looksRandom(text: string): boolean {
  const value = text.replace(/^(?:base64:|hex:|b64:|0x)/, '');
  if (value.length < 20 || value.length > 1024 || run(value, 0, B64TOKEN) !== value.length || UUID.test(value)) return false;
  if (FILE_NAME.test(value.slice(-12)) || ADDRESS.test(text)) return false;
  const kinds = letterKinds(value);
  if (Number(kinds.upper) + Number(kinds.lower) + Number(kinds.digit) < 2) return false;
  const bits = entropy(value);
  if (run(value, 0, HEX) === value.length) return value.length >= 32 && bits >= 3;
  return bits >= (value.length < 32 ? 3.6 : 4);
}

/** `user:password` in plain text (not `host:port`, not a URL). */
const USER_PASSWORD = /^[\w.@-]{1,64}:(?!\d+$)[^\s:/]{1,128}$/;

/** `<scheme> <credential>`, the value of an Authorization header. */
const AUTHORIZATION = /^[A-Za-z][\w-]{0,31} +(\S{8,})$/;

/** What the keys above a value say about it. */
interface ValueContext {
  /** The nearest key (an array's key for its items), or null at the top. */
  key: KeyVerdict | null;
  /** A key above names AWS. */
  aws: boolean;
  /** A key above names Datadog: 32 or 40 hex digits below it are an API or application key. */
  datadog: boolean;
}

/** Rules that need to know where a value is: entropy under secret-ish keys, AWS secret keys, docker-style `auth`. */
function contextRule(value: string, context: ValueContext): SecretRuleId | null {
  const key = context.key;
  if (!key) return null;
  // `routing_key: <32 random>` is a PagerDuty integration key; an AMQP routing key has dots and words.
  if (key.routingKey && /^[A-Za-z0-9]{32}$/.test(value) && isMixedRandom(value)) return 'pagerduty-key';
  if (key.secretish && looksRandom(value)) return 'secret-entropy';
  if ((context.aws || key.secretish) && isAwsSecretShape(value)) return 'aws-secret-key';
  if (key.auth && (isEncodedUserPassword(value) || USER_PASSWORD.test(value))) return 'basic-auth-credentials';
  if (key.authorization) {
    const credential = AUTHORIZATION.exec(value)?.[1];
    if (credential !== undefined && !isStandIn(credential)) return 'http-authorization';
  }
  if (context.datadog && !key.describesSetting && /^(?:[0-9a-f]{32}|[0-9a-f]{40})$/.test(value) && isMixedRandom(value)) {
    return 'datadog-api-key';
  }
  return null;
}

/** Letters and digits mixed, at least 3 bits of entropy per character. */
function isMixedRandom(value: string): boolean {
  const kinds = letterKinds(value);
  return kinds.digit && (kinds.lower || kinds.upper) && entropy(value) >= 3;
}

/**
 * Strings found clean (a merge patch changes a field or two; the rest of the document is checked again).
 * What looks like a secret is judged afresh each time and forgotten, so that no refused secret stays in memory.
 */
const cleanValues = new Map<string, true>();

function valueRule(value: string, context: ValueContext): SecretRuleId | null {
  const known = cleanValues.has(value);
  const rule = (known ? null : scanText(value)) ?? contextRule(value, context);
  if (rule !== null) {
    if (known) cleanValues.delete(value);
  } else if (!known) {
    remember(cleanValues, value, true);
  }
  return rule;
}

/** Keys of documents found clean of credential shapes, with what their words say. */
const cleanKeys = new Map<string, KeyVerdict>();

/** The credential shape a document's key has (a rule id), or what its words say about its value. */
function judgeKey(key: string): SecretRuleId | KeyVerdict {
  let verdict = cleanKeys.get(key);
  if (verdict === undefined) {
    const shape = scanText(key);
    if (shape !== null) return shape;
    verdict = keyVerdict(key);
    remember(cleanKeys, key, verdict);
  }
  return verdict;
}

// ---------------------------------------------------------------------------------------------------
// Documents and texts

/** JSON Web Key members that hold private key material. */
const JWK_PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

/** A key as it can be shown in a message: short and plain, or not at all. */
const shown = (key: string) => (key.length <= 64 && /^[\w .:@/-]+$/.test(key) ? ` "${key}"` : '');

/**
 * Every place in `document` that looks like a secret (none means it may be stored): keys that name a
 * secret (with a value that could be one), keys and values shaped like credentials, each with its JSON
 * pointer. A field is let through, with everything under it, when `allowed` holds its pointer or its
 * pattern (the pointer with `*` for each array index): the fields a schema marks `x-confighub-not-secret`.
 */
export function findSecrets(document: JsonValue, allowed: ReadonlySet<string> = new Set()): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  // The way down to the value at hand, array indexes as numbers; made into pointers only when needed.
  const path: (string | number)[] = [];
  const pointer = () => path.map((segment) => `/${typeof segment === 'number' ? segment : escapeKey(segment)}`).join('');
  const pattern = () => path.map((segment) => `/${typeof segment === 'number' ? '*' : escapeKey(segment)}`).join('');
  const isAllowed = () => allowed.size > 0 && (allowed.has(pattern()) || allowed.has(pointer()));
  const report = (message: string) => {
    issues.push({ pointer: pointer(), message });
  };
  // Whether a container under a secret's name holds one, worked out once per container.
  const holding = new WeakMap<object, boolean>();

  /** Whether `value`, under a key that names a secret, could hold one. */
  const holdsSecret = (value: JsonValue): boolean => {
    if (value === null || typeof value === 'boolean') return false;
    if (typeof value === 'number') return true;
    if (typeof value === 'string') {
      if (value === '' || isReference(value)) return false;
      cleanValues.delete(value);
      return true;
    }
    let holds = holding.get(value);
    if (holds === undefined) {
      if (Array.isArray(value)) holds = value.some(holdsSecret);
      else {
        holds = false;
        for (const key in value) {
          if (!Object.hasOwn(value, key)) continue;
          const verdict = judgeKey(key);
          if (typeof verdict === 'string') {
            holds = true;
            break;
          }
          if (verdict.secret === null && verdict.describesSetting) continue;
          if (holdsSecret(value[key]!)) {
            holds = true;
            break;
          }
        }
      }
      holding.set(value, holds);
    }
    return holds;
  };

  /** Whether `child`, under a name that names a secret, holds one: an ambiguous name needs a credential-looking string. */
  const holdsNamedSecret = (verdict: KeyVerdict, child: JsonValue): boolean => {
    if (!verdict.ambiguous) return !(verdict.plural && typeof child === 'number') && holdsSecret(child);
    if (typeof child !== 'string' || !isCredentialToken(child)) return false;
    cleanValues.delete(child);
    return true;
  };

  const visit = (value: JsonValue, context: ValueContext) => {
    if (typeof value === 'string') {
      const rule = valueRule(value, context);
      if (rule) report(`the value looks like ${what(rule)} (rule ${rule})`);
    } else if (Array.isArray(value)) {
      const named = namedArguments(value);
      for (let index = 0; index < value.length; index++) {
        path.push(index);
        if (!isAllowed()) {
          const name = named?.get(index);
          if (name === undefined) visit(value[index]!, context);
          else visitNamed(name, value[index]!, context);
        }
        path.pop();
      }
    } else if (value !== null && typeof value === 'object') {
      const jwk = typeof value.kty === 'string'; // a JSON Web Key
      const pair = namedValue(value);
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        path.push(key);
        if (!isAllowed()) {
          if (pair !== null && key === pair.valueKey) visitNamed(pair.name, value[key]!, context);
          else visitMember(key, value[key]!, context, jwk);
        }
        path.pop();
      }
    }
  };
  /** A value named by a sibling (`{ name: DB_PASSWORD, value }`) or by the flag before it (`['--password', value]`). */
  const visitNamed = (name: KeyVerdict, child: JsonValue, context: ValueContext) => {
    if (name.secret !== null && holdsNamedSecret(name, child)) {
      return report(`the value is paired with a name that names a secret, so it is refused (rule secret-name-value-pair)`);
    }
    visit(child, below(name, context));
  };
  /** A member: its key (a credential itself? the name of a secret?), then its value. */
  const visitMember = (key: string, child: JsonValue, context: ValueContext, jwk: boolean) => {
    const verdict = judgeKey(key);
    if (typeof verdict === 'string') return report(`the key looks like ${what(verdict)} (rule ${verdict})`);
    // `{ api: { key } }`, `{ encryption: { key } }`: the key is named by its parent.
    const parent = context.key?.last ?? '';
    const secret = verdict.secret ?? (verdict.bareKey && SECRET_KEY_QUALIFIERS.has(parent) ? `${parent}key` : null);
    if (secret !== null && holdsNamedSecret(verdict, child)) {
      return report(`the key${shown(key)} names a secret (${secret}), so its value is refused (rule secret-key-name)`);
    }
    if (jwk && JWK_PRIVATE_MEMBERS.includes(key) && typeof child === 'string' && child !== '') {
      return report(`the value looks like ${what('jwk-private-key')} (rule jwk-private-key)`);
    }
    visit(child, below(verdict, context));
  };
  if (!isAllowed()) visit(document, { key: null, aws: false, datadog: false });
  return issues;
}

/** The context of a value under a key (or a name) with `verdict`. */
const below = (verdict: KeyVerdict, context: ValueContext): ValueContext => ({
  key: verdict,
  aws: context.aws || verdict.aws,
  datadog: context.datadog || verdict.datadog,
});

/** Whether a name says anything about the value it names (a secret, a secret-ish thing, an auth header). */
const saysSomething = (verdict: KeyVerdict) =>
  verdict.secret !== null || verdict.secretish || verdict.auth || verdict.authorization || verdict.routingKey;

/** Members that name a sibling `value` (`{ name: DB_PASSWORD, value }`, `{ key: db_password, value }`). */
const NAME_FIELDS = set('name key header headername param parameter variable var env field option flag setting property');
const VALUE_FIELDS = set('value val');

/**
 * A name/value pair object (at most 8 members: a k8s env entry, a parameter, an HTTP header object): the
 * member holding the value and what its sibling name says about it, or null.
 */
function namedValue(object: { [key: string]: JsonValue }): { valueKey: string; name: KeyVerdict } | null {
  let valueKey: string | undefined;
  let members = 0;
  for (const key in object) {
    if (!Object.hasOwn(object, key)) continue;
    if (++members > 8) return null;
    if ((key.length === 5 || key.length === 3) && VALUE_FIELDS.has(key.toLowerCase())) valueKey = key;
  }
  if (valueKey === undefined) return null;
  for (const key in object) {
    if (!Object.hasOwn(object, key) || key.length > 10 || !NAME_FIELDS.has(key.toLowerCase())) continue;
    const named = object[key];
    if (typeof named === 'string' && named.length <= 128) {
      const verdict = keyVerdict(named);
      if (saysSomething(verdict)) return { valueKey, name: verdict };
    }
  }
  return null;
}

/** A command-line flag (`--password`, `-token`), without `=value`. */
const FLAG = /^--?[A-Za-z][\w.-]{0,63}$/;

/**
 * The items of an argument list named by the flag before them (`['--password', 'x']`: item 1 is named by
 * `password`), or of a pair (`['X-API-Key', '<random>']`: a name, then a credential-looking value), or null.
 */
function namedArguments(items: readonly JsonValue[]): Map<number, KeyVerdict> | null {
  let named: Map<number, KeyVerdict> | null = null;
  if (items.length === 2 && typeof items[0] === 'string' && typeof items[1] === 'string' && items[0].length <= 64) {
    const verdict = keyVerdict(items[0]);
    const value = items[1];
    const credential = value.length <= 1024 && looksLikeCredential(value, true) && !keyVerdict(value).named;
    if (saysSomething(verdict) && !FLAG.test(items[0]) && credential) named = new Map([[1, verdict]]);
  }
  for (let index = 0; index + 1 < items.length; index++) {
    const flag = items[index];
    if (typeof flag !== 'string' || flag.length > 66 || flag.charCodeAt(0) !== HYPHEN || !FLAG.test(flag)) continue;
    const value = items[index + 1];
    if (typeof value !== 'string' || FLAG.test(value)) continue;
    const verdict = keyVerdict(flag.replace(/^-+/, ''));
    if (saysSomething(verdict)) (named ??= new Map()).set(index + 1, verdict);
  }
  return named;
}

/**
 * Whether a free text the hub stores besides configs (a change reason, a description, an instance's error
 * message, a schema's defaults and examples) holds something credential-shaped: a message naming the rule
 * that fired (never the secret), or null. Prose that mentions passwords or tokens passes.
 */
export function secretInText(text: string): string | null {
  const rule = scanText(text);
  return rule === null ? null : `the text contains ${what(rule)} (rule ${rule})`;
}
