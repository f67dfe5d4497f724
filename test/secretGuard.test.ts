import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonValue } from '../src/store/documents.ts';
import { SECRET_RULES, findSecrets, secretInText } from '../src/store/secretGuard.ts';
import { INNOCENT_DOCUMENTS, INNOCENT_TEXTS, SECRET_DOCUMENTS, SECRET_TEXTS } from './fixtures/secretCorpus.ts';
import { holdoutInnocent, holdoutInnocentTexts, holdoutSecretTexts, holdoutSecrets } from './fixtures/secretHoldout.ts';
import { adminAuth, useTestApp } from './support/app.ts';
import { tablesDigest } from './support/databases.ts';

const PEM = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1c7+9z5Pad7OejecsQ0bu3aumMeSoQ2Wd\n-----END RSA PRIVATE KEY-----';
const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

describe('secret guard', () => {
  it.each([
    ['snake_case key', { db_password: 'x' }, '/db_password'],
    ['camelCase key', { dbPassword: 'x' }, '/dbPassword'],
    ['upper case key', { DB_PASSWORD: 'x' }, '/DB_PASSWORD'],
    ['kebab key', { 'db-passwd': 'x' }, '/db-passwd'],
    ['split word', { pass_word: 'x' }, '/pass_word'],
    ['nested deep', { a: { b: { c: { client_secret: 'x' } } } }, '/a/b/c/client_secret'],
    ['inside an array', { brokers: [{ host: 'h', apiKey: 'k' }] }, '/brokers/0/apiKey'],
    ['api_key', { polygon_api_key: 'abc' }, '/polygon_api_key'],
    ['private key name', { privateKey: 'abc' }, '/privateKey'],
    ['credentials object', { credentials: { user: 'u' } }, '/credentials'],
    ['token as last word', { github_token: 'abc' }, '/github_token'],
    ['access token', { accessToken: 'abc' }, '/accessToken'],
    ['numeric password', { admin_pwd: 1234 }, '/admin_pwd'],
    ['a key with a slash', { 'db/password': 'x' }, '/db~1password'],
    ['PEM block under an innocent key', { tls: { material: PEM } }, '/tls/material'],
    ['URL with user and password', { upstream: 'postgres://app:s3cret@db.internal:5432/ticks' }, '/upstream'],
    ['JWT in a list', { headers: ['x', JWT] }, '/headers/1'],
    ['AWS access key id', { aws: 'AKIAIOSFODNN7EXAMPLE' }, '/aws'],
    ['GitHub token', { ci: 'ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789' }, '/ci'],
    ['Slack token', { hook: 'xoxb-1234567890-abcdefghij' }, '/hook'],
    ['Stripe key', { billing: 'sk_live_abcdefghijklmnop1234' }, '/billing'],
    ['bearer credential', { header: 'Bearer abcdefghijklmnopqrstuvwxyz012345' }, '/header'],
  ])('finds a secret: %s', (_name, document, pointer) => {
    expect(findSecrets(document as never).map((issue) => issue.pointer)).toEqual([pointer]);
  });

  it('lets ordinary settings through', () => {
    const settings = {
      operational: { batch_size: 5000, max_tokens: 4096, token_bucket_size: 10, sort_key: 'ts', partition_key: 'symbol' },
      features: { enable_secret_rotation: true, passwordless_login: true },
      business: { api_base_url: 'https://api.polygon.io/v2', max_daily_api_calls: 50_000, keywords: ['password reset'] },
      credentials: null,
    };
    expect(findSecrets(settings)).toEqual([]);
  });

  it('lets a field through where the allowed pointers say it is not secret', () => {
    expect(findSecrets({ auth: { token_ttl: 'x', session_token: 'y' } }, new Set(['/auth/session_token']))).toEqual([]);
  });

  it('lets a whole subtree through by its pattern, array indexes as *', () => {
    const document: JsonValue = { brokers: [{ password: 'a' }, { password: 'b', extra: { api_token: 'c' } }] };
    expect(findSecrets(document, new Set(['/brokers/*']))).toEqual([]);
    expect(findSecrets(document, new Set(['/brokers/*/password'])).map((issue) => issue.pointer)).toEqual(['/brokers/1/extra/api_token']);
    expect(findSecrets(document, new Set(['/brokers/1']))).toEqual([expect.objectContaining({ pointer: '/brokers/0/password' })]);
  });

  it('escapes ~ and / in pointers (RFC 6901)', () => {
    expect(findSecrets({ 'a~b': { 'c/d': { password: 'x' } } }).map((issue) => issue.pointer)).toEqual(['/a~0b/c~1d/password']);
  });

  it('reports every place, keys and values alike', () => {
    const document = { db: { password: 'x' }, feeds: ['ok', `Bearer ${'a1'.repeat(12)}`], [`ghp_${'Ab1'.repeat(12)}`]: 'ci' };
    expect(findSecrets(document).map((issue) => issue.pointer)).toEqual(['/db/password', '/feeds/1', `/ghp_${'Ab1'.repeat(12)}`]);
  });

  it('holds settings about a secret innocent, but not a number under a true secret', () => {
    expect(findSecrets({ password_min_length: 12, secret_rotation_days: 30, max_tokens: 4096, api_keys: 3 })).toEqual([]);
    expect(findSecrets({ admin_pwd: 1234 }).map((issue) => issue.pointer)).toEqual(['/admin_pwd']);
    expect(findSecrets({ password_min_length: `ghp_${'Ab1'.repeat(12)}` }).map((issue) => issue.message)).toEqual([
      'the value looks like a GitHub token (rule github-token)',
    ]);
  });

  it('names the rule that fired and never echoes the secret', () => {
    const rules = new Set<string>(SECRET_RULES.map((rule) => rule.id));
    for (const { label, document } of SECRET_DOCUMENTS) {
      const values = valuesIn(document).filter((text) => text.length >= 6);
      for (const { message } of findSecrets(document)) {
        expect(rules.has(/\(rule ([a-z0-9-]+)\)$/.exec(message)?.[1] ?? ''), `${label}: ${message}`).toBe(true);
        for (const value of values) expect(message.includes(value), `${label}: ${message}`).toBe(false);
        // A key is named in a message only when it names a secret, never when it is shaped like one.
        if (message.startsWith('the key looks like')) expect(message, label).not.toContain('"');
      }
    }
    for (const { label, text } of SECRET_TEXTS) {
      const message = secretInText(text) ?? '';
      expect(message, label).toMatch(/^the text contains .+ \(rule [a-z0-9-]+\)$/);
      for (const word of text.split(/\s+/).filter((part) => part.length >= 12)) expect(message.includes(word), label).toBe(false);
    }
  });

  it('refuses a value named by its sibling or by the flag before it, at the value', () => {
    const env = { env: [{ name: 'LOG_LEVEL', value: 'info' }, { name: 'DB_PASSWORD', value: 'x' }] };
    expect(findSecrets(env).map((issue) => issue.pointer)).toEqual(['/env/1/value']);
    expect(findSecrets({ args: ['--host', 'db', '--password', 'x'] }).map((issue) => issue.pointer)).toEqual(['/args/3']);
    expect(findSecrets({ env: [{ name: 'DB_PASSWORD', value: '${DB_PASSWORD}' }], args: ['--password-file', '/run/pw'] })).toEqual([]);
  });

  it('takes a token alone for a coin unless its value looks like a credential', () => {
    expect(findSecrets({ token: 'USDC', quote_token: 'USD', base_token: 'wstETH' })).toEqual([]);
    expect(findSecrets({ token: 'q7RkZ2mX9pL4vN8w' }).map((issue) => issue.pointer)).toEqual(['/token']);
    expect(findSecrets({ auth_token: 'USDC' }).map((issue) => issue.pointer)).toEqual(['/auth_token']);
  });

  it('still judges a value by its key when the value was seen clean elsewhere', () => {
    const random = 'q7RkZ2mX9pL4vN8wT3bY6cH1';
    expect(findSecrets({ sample: random })).toEqual([]);
    expect(findSecrets({ ingest_key: random }).map((issue) => issue.pointer)).toEqual(['/ingest_key']);
    expect(findSecrets({ sample: random })).toEqual([]);
  });

  it('documents every rule', () => {
    const documentation = readFileSync(new URL('../docs/secret-guard.md', import.meta.url), 'utf8');
    expect(SECRET_RULES.filter((rule) => !documentation.includes(`\`${rule.id}\``)).map((rule) => rule.id)).toEqual([]);
  });
});

/** Every string value in a document. */
function valuesIn(value: JsonValue): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(valuesIn);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(valuesIn);
  return [];
}

/** The share of `cases` refused, with the labels of those refused and of those passed. */
function rate<T extends { label: string }>(cases: readonly T[], refused: (item: T) => boolean) {
  const outcomes = cases.map((item) => ({ label: item.label, refused: refused(item) }));
  const share = outcomes.filter((outcome) => outcome.refused).length / cases.length;
  return {
    share,
    percent: `${(share * 100).toFixed(1)}%`,
    refused: outcomes.filter((outcome) => outcome.refused).map((outcome) => outcome.label),
    passed: outcomes.filter((outcome) => !outcome.refused).map((outcome) => outcome.label),
  };
}

describe('the secret corpus', () => {
  it('has enough cases of each kind', () => {
    expect(SECRET_DOCUMENTS.length).toBeGreaterThanOrEqual(160);
    expect(INNOCENT_DOCUMENTS.length).toBeGreaterThanOrEqual(160);
    expect(SECRET_TEXTS.length).toBeGreaterThanOrEqual(40);
    expect(INNOCENT_TEXTS.length).toBeGreaterThanOrEqual(40);
  });

  it('refuses at least 97% of the disguised secrets and at most 2% of the innocent settings', () => {
    const secrets = rate(SECRET_DOCUMENTS, ({ document }) => findSecrets(document).length > 0);
    const innocents = rate(INNOCENT_DOCUMENTS, ({ document }) => findSecrets(document).length > 0);
    console.log(
      `documents: ${secrets.percent} of ${SECRET_DOCUMENTS.length} secrets refused, ${innocents.percent} of ${INNOCENT_DOCUMENTS.length} innocent settings refused`,
    );
    expect(secrets.share, `secrets let through: ${secrets.passed.join('; ')}`).toBeGreaterThanOrEqual(0.97);
    expect(innocents.share, `innocent settings refused: ${innocents.refused.join('; ')}`).toBeLessThanOrEqual(0.02);
  });

  it('has a case for every rule', () => {
    const fired = new Set<string>();
    const note = (message: string | null) => fired.add(/\(rule ([a-z0-9-]+)\)$/.exec(message ?? '')?.[1] ?? '');
    for (const { document } of SECRET_DOCUMENTS) for (const { message } of findSecrets(document)) note(message);
    for (const { text } of SECRET_TEXTS) note(secretInText(text));
    expect(SECRET_RULES.map((rule) => rule.id).filter((id) => !fired.has(id))).toEqual([]);
  });

  it('finds at least 97% of the secrets in free texts and at most 2% in innocent ones', () => {
    const secrets = rate(SECRET_TEXTS, ({ text }) => secretInText(text) !== null);
    const innocents = rate(INNOCENT_TEXTS, ({ text }) => secretInText(text) !== null);
    console.log(
      `texts: ${secrets.percent} of ${SECRET_TEXTS.length} secrets found, ${innocents.percent} of ${INNOCENT_TEXTS.length} innocent texts refused`,
    );
    expect(secrets.share, `secrets let through: ${secrets.passed.join('; ')}`).toBeGreaterThanOrEqual(0.97);
    expect(innocents.share, `innocent texts refused: ${innocents.refused.join('; ')}`).toBeLessThanOrEqual(0.02);
  });
});

describe('the blind corpus', () => {
  // Written by a reviewer who had not seen the rules; measured before the rules changed (see the history in
  // docs/secret-guard.md) and held to the same thresholds since.
  it('has enough cases of each kind', () => {
    expect(holdoutSecrets.length).toBeGreaterThanOrEqual(190);
    expect(holdoutInnocent.length).toBeGreaterThanOrEqual(190);
    expect(holdoutSecretTexts.length).toBeGreaterThanOrEqual(40);
    expect(holdoutInnocentTexts.length).toBeGreaterThanOrEqual(40);
  });

  it('refuses at least 97% of the secret documents and at most 2% of the innocent ones', () => {
    const secrets = rate(holdoutSecrets, ({ document }) => findSecrets(document as JsonValue).length > 0);
    const innocents = rate(holdoutInnocent, ({ document }) => findSecrets(document as JsonValue).length > 0);
    console.log(
      `blind documents: ${secrets.percent} of ${holdoutSecrets.length} secrets refused, ${innocents.percent} of ${holdoutInnocent.length} innocent settings refused`,
    );
    expect(secrets.share, `secrets let through: ${secrets.passed.join('; ')}`).toBeGreaterThanOrEqual(0.97);
    expect(innocents.share, `innocent settings refused: ${innocents.refused.join('; ')}`).toBeLessThanOrEqual(0.02);
  });

  it('finds at least 97% of the secrets in free texts and at most 2% in innocent ones', () => {
    const secrets = rate(holdoutSecretTexts, ({ text }) => secretInText(text) !== null);
    const innocents = rate(holdoutInnocentTexts, ({ text }) => secretInText(text) !== null);
    console.log(
      `blind texts: ${secrets.percent} of ${holdoutSecretTexts.length} secrets found, ${innocents.percent} of ${holdoutInnocentTexts.length} innocent texts refused`,
    );
    expect(secrets.share, `secrets let through: ${secrets.passed.join('; ')}`).toBeGreaterThanOrEqual(0.97);
    expect(innocents.share, `innocent texts refused: ${innocents.refused.join('; ')}`).toBeLessThanOrEqual(0.02);
  });

  it('names the rule that fired and never echoes the secret', () => {
    for (const { label, document } of holdoutSecrets) {
      const values = valuesIn(document as JsonValue).filter((text) => text.length >= 6);
      for (const { message } of findSecrets(document as JsonValue)) {
        expect(message, label).toMatch(/\(rule [a-z0-9-]+\)$/);
        for (const value of values) expect(message.includes(value), `${label}: ${message}`).toBe(false);
      }
    }
  });
});

describe('free text', () => {
  it.each([
    ['rotate the password reset limit'],
    ['the token bucket refills at 10/s'],
    ['password: reset by ops, see the runbook'],
    ['Bearer tokens now expire after 15m'],
    [''],
  ])('lets prose through: %s', (text) => {
    expect(secretInText(text)).toBeNull();
  });

  it.each([
    ['password=hunter2', 'connection-string-password'],
    ['host=db user=app password=x', 'connection-string-password'],
    ['Server=db;User Id=app;Password=P@ss;', 'connection-string-password'],
    ['see https://user:pw@host/x for details', 'url-userinfo-password'],
    ['jdbc:postgresql://h/db?user=a&password=b', 'url-secret-parameter'],
    [`token: ${'Zx9'.repeat(11)}`, 'secret-assignment'],
    [`key ghp_${'Ab1'.repeat(12)}`, 'github-token'],
    ['-----begin rsa private key-----', 'private-key-pem'],
    ['<config env="prod"><password>hunter2</password></config>', 'secret-element'],
    ['<ab x="<password>">hunter2</password>', 'secret-element'],
  ])('names what it found: %s', (text, rule) => {
    expect(secretInText(text)).toBe(`the text contains ${SECRET_RULES.find((candidate) => candidate.id === rule)!.what} (rule ${rule})`);
  });
});

/** 256 KiB of `unit`, repeated. */
const hostile = (unit: string) => unit.repeat(Math.ceil((256 * 1024) / unit.length)).slice(0, 256 * 1024);

describe('hostile input of 256 KiB', () => {
  // Shapes that once took seconds (a regex rescanning from every `eyJ`, key splitting on every case
  // change) or that stress a pass of the scanner; speed itself is measured by a benchmark.
  const clean: [string, string][] = [
    ['eyJ- repeated', hostile('eyJ-')],
    ['eyJ. repeated', hostile('eyJ.')],
    ['upper/lower alternation', hostile('aB')],
    ['a: repeated', hostile('a:')],
    [':// repeated', hostile('://')],
    ['a:// repeated', hostile('a://')],
    ['= repeated', hostile('=')],
    ['; repeated', hostile(';')],
    ['=; repeated', hostile('=;')],
    ['long base64', hostile('QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODkrLw')],
    ['nested-looking tokens', hostile('{"a":[')],
    ['placeholders', hostile('${')],
    ['ghp_ repeated', hostile('ghp_')],
    ['sk- repeated', hostile('sk-')],
    ['Bearer repeated', hostile('Bearer ')],
    ['-----BEGIN repeated', hostile('-----BEGIN ')],
    ['@ repeated', hostile('@')],
    ['https://a: repeated', hostile('https://a:')],
    ['1: repeated', hostile('1:')],
    ['dp.st. repeated', hostile('dp.st.')],
    ['U+FDFA (18 characters in NFKD)', hostile('\ufdfa')],
    ['Cyrillic a', hostile('\u0430')],
    ['zero-width spaces', hostile('\u200b')],
    // Shapes aimed at the passes for prose, elements, command lines, encodings and disguised keys.
    ['credential-like words', hostile('Ab1defgh ')],
    ['a name, fillers and a word', hostile('the the key Ab1defgh. ')],
    ['seed repeated', hostile('seed ')],
    ['seed and one word repeated', hostile('seed abandon ')],
    ['<ab  repeated', hostile('<ab ')],
    ['mysql -pa repeated', hostile('mysql -pa ')],
    ['hex of prose', Buffer.from(hostile('hello world ').slice(0, 128 * 1024)).toString('hex')],
    ['a Twilio SID repeated', hostile('AC0123456789abcdef0123456789abcdef ')],
    ['a://b:c# repeated', hostile('a://b:c#')],
    ['PaSsWoRd repeated', hostile('PaSsWoRd')],
    ['NAME== repeated', hostile('NAME==')],
    // Near misses of the token formats: each word start reads a format almost to its end.
    ['a Firebase key one short', hostile(`AAAA${'a'.repeat(7)}:APA91b${'a'.repeat(99)} `)],
    ['a Doppler token one short', hostile(`-dp.st.${'a'.repeat(32)}.${'a'.repeat(39)}`)],
    ['a Terraform token one short', hostile(`${'a'.repeat(14)}.atlasv1.${'a'.repeat(59)} `)],
    ['hex words of 32', hostile('0123456789abcdef0123456789abcdef- ')],
    ['</ repeated', hostile('</')],
    ['unclosed elements', hostile('<ab x></a')],
  ];
  it.each(clean)('finds nothing in %s, as a value, a key or a text', (_name, text) => {
    expect(findSecrets({ value: text })).toEqual([]);
    expect(findSecrets({ [text]: 1 })).toEqual([]);
    expect(secretInText(text)).toBeNull();
  });

  // As keys these end in `password a`, `pass` and `password`: they name a secret.
  it.each([
    ['password: a repeated', hostile('password: a ')],
    ['<password> repeated', hostile('<password>')],
    ['a query of empty passwords', `https://h/?${hostile('password=&')}`],
  ])('finds nothing in %s as a value or a text', (_name, text) => {
    expect(findSecrets({ value: text })).toEqual([]);
    expect(secretInText(text)).toBeNull();
    expect(findSecrets({ [text]: 1 }).map((issue) => issue.message)).toEqual([expect.stringContaining('(rule secret-key-name)')]);
  });

  const ghp = `ghp_${'Ab1'.repeat(12)}`;
  it.each([
    ['a token after eyJ- junk', `${hostile('eyJ-')} ${ghp}`, 'github-token'],
    ['a JWT-shaped chain', hostile('eyJxxxxxxxxx.'), 'jwt'],
    ['a long password', `password=${hostile('a')}`, 'connection-string-password'],
    ['a URL with a long password', `https://user:${hostile('p')}@host/x`, 'url-userinfo-password'],
    ['a PEM header after junk', `${hostile('-----BEGIN ')}-----BEGIN RSA PRIVATE KEY-----`, 'private-key-pem'],
    ['an assignment after junk', `${hostile('a=;')} db_password=hunter2`, 'connection-string-password'],
  ])('finds %s', (_name, text, rule) => {
    expect(secretInText(text)).toMatch(new RegExp(`\\(rule ${rule}\\)$`));
    expect(findSecrets({ value: text }).map((issue) => issue.message)).toEqual([expect.stringContaining(`(rule ${rule})`)]);
  });

  it('judges a long key by its end', () => {
    expect(findSecrets({ [`${hostile('aB')}_password`]: 'x' }).map((issue) => issue.message)).toEqual([
      'the key names a secret (password), so its value is refused (rule secret-key-name)',
    ]);
    expect(findSecrets({ [`${hostile('aB')}_password_min_length`]: 12 })).toEqual([]);
  });
});

describe('the hub refuses secrets', () => {
  const hub = useTestApp('pglite');

  it.each([
    ['a password key', { db_password: 'x' }, '/config/db_password'],
    ['a PEM block', { tls: PEM }, '/config/tls'],
  ])('refuses %s through GraphQL with its pointer and writes nothing', async (_name, patch, pointer) => {
    const before = await tablesDigest(hub.db);
    const result = await hub.graphql(
      `mutation($patch: JSON) { updateConfig(input: { service: "tick-aggregator", patch: $patch }) {
         __typename ... on SecretRejectedError { issues { pointer message } advice } } }`,
      { patch },
    );
    expect(result.data.updateConfig.__typename).toBe('SecretRejectedError');
    expect(result.data.updateConfig.issues.map((issue: { pointer: string }) => issue.pointer)).toEqual([pointer]);
    expect(result.data.updateConfig.advice).toMatch(/environment/);
    expect(await tablesDigest(hub.db)).toBe(before);
  });

  it('refuses a secret through REST with 422 and writes nothing', async () => {
    const before = await tablesDigest(hub.db);
    const response = await hub.app.fetch(
      new Request('http://confighub.test/api/v1/config/tick-aggregator', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...adminAuth },
        body: JSON.stringify({ operational: { upstream: 'https://bot:hunter2@feeds.example.com/ticks' } }),
      }),
    );
    expect(response.status).toBe(422);
    const body = (await response.json()) as { error: { code: string; issues: { pointer: string }[] } };
    expect(body.error.code).toBe('SECRET_REJECTED');
    expect(body.error.issues.map((issue) => issue.pointer)).toEqual(['/config/operational/upstream']);
    expect(await tablesDigest(hub.db)).toBe(before);
  });

  it('refuses a new config holding a secret', async () => {
    const result = await hub.graphql(
      `mutation { createConfig(input: { service: "leaky", config: { nested: { apiKey: "abc" } } }) { __typename } }`,
    );
    expect(result.data.createConfig.__typename).toBe('SecretRejectedError');
    const lookup = await hub.graphql(`{ config(service: "leaky") { __typename } }`);
    expect(lookup.data.config.__typename).toBe('NotFoundError');
  });
});
