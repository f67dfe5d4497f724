import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileNewSchema } from '../src/store/configSchemas.ts';
import type { JsonObject } from '../src/protocol/json.ts';
import { WORKER_THRESHOLD_CHARS } from '../src/store/documentChecks.ts';
import { PATTERN_WORK_BUDGET, PatternCompiler, PatternMeter } from '../src/protocol/schemaPatterns.ts';
import { adminAuth, useTestApp } from './support/app.ts';
import { backends, tablesDigest } from './support/databases.ts';

const UPDATE = `mutation($service: String!, $patch: JSON) {
  updateConfig(input: { service: $service, patch: $patch }) {
    __typename
    ... on ConfigWrite { config { version } }
    ... on ValidationError { issues { pointer message } }
    ... on SecretRejectedError { issues { pointer } }
  }
}`;
const SET_SCHEMA = `mutation($input: SetConfigSchemaInput!) {
  setConfigSchema(input: $input) {
    __typename
    ... on ConfigSchema { version }
    ... on ValidationError { issues { pointer message } }
    ... on VersionConflictError { currentVersion }
  }
}`;

describe.each(backends)('config schemas on %s', (backend) => {
  const hub = useTestApp(backend);

  it('documents each setting of the pilot services through the API', async () => {
    const result = await hub.graphql(`{ config(service: "polygon-historical-downloader") {
      ... on ServiceConfig { schema { version fields { pointer type description default } } } } }`);
    const fields = result.data.config.schema.fields as { pointer: string }[];
    expect(result.data.config.schema.version).toBe(1);
    expect(fields).toContainEqual({
      pointer: '/operational/gap_check_interval_hours',
      type: 'number',
      description: 'Hours between scans for gaps in stored bars.',
      default: 6,
    });
  });

  it('refuses a write that breaks the schema with every violation and its pointer, writing nothing', async () => {
    const before = await tablesDigest(hub.db);
    const result = await hub.graphql(UPDATE, {
      service: 'polygon-historical-downloader',
      patch: { operational: { batch_size: 'big', gap_check_interval_hours: -1 }, features: { enable_gap_filling: 'yes' } },
    });
    expect(result.data.updateConfig.__typename).toBe('ValidationError');
    expect(result.data.updateConfig.issues.map((issue: { pointer: string }) => issue.pointer).sort()).toEqual([
      '/config/features/enable_gap_filling',
      '/config/operational/batch_size',
      '/config/operational/gap_check_interval_hours',
    ]);
    expect(await tablesDigest(hub.db)).toBe(before);
  });

  it('refuses the same through REST with 422', async () => {
    const response = await hub.app.fetch(
      new Request('http://confighub.test/api/v1/config/tick-aggregator', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...adminAuth },
        body: JSON.stringify({ operational: { worker_threads: 0 } }),
      }),
    );
    expect(response.status).toBe(422);
    const body = (await response.json()) as { error: { code: string; issues: { pointer: string }[] } };
    expect(body.error).toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ pointer: '/config/operational/worker_threads' }] });
  });

  it('refuses a schema the live config breaks, and applies a new one to later writes', async () => {
    const strict = {
      type: 'object',
      properties: { operational: { type: 'object', properties: { worker_threads: { type: 'integer', maximum: 2 } } } },
    };
    const refused = await hub.graphql(SET_SCHEMA, { input: { service: 'tick-aggregator', schema: strict } });
    expect(refused.data.setConfigSchema).toMatchObject({
      __typename: 'ValidationError',
      issues: [{ pointer: '/operational/worker_threads' }],
    });

    const relaxed = {
      type: 'object',
      required: ['operational'],
      properties: {
        operational: {
          type: 'object',
          properties: { worker_threads: { type: 'integer', maximum: 16 }, session_token: { type: 'string', 'x-confighub-not-secret': true } },
        },
      },
    };
    const stale = await hub.graphql(SET_SCHEMA, { input: { service: 'tick-aggregator', schema: relaxed, expectedVersion: 0 } });
    expect(stale.data.setConfigSchema).toEqual({ __typename: 'VersionConflictError', currentVersion: 1 });
    const set = await hub.graphql(SET_SCHEMA, { input: { service: 'tick-aggregator', schema: relaxed, expectedVersion: 1, reason: 'more workers' } });
    expect(set.data.setConfigSchema).toEqual({ __typename: 'ConfigSchema', version: 2 });

    const tooMany = await hub.graphql(UPDATE, { service: 'tick-aggregator', patch: { operational: { worker_threads: 17 } } });
    expect(tooMany.data.updateConfig.issues).toEqual([{ pointer: '/config/operational/worker_threads', message: 'must be <= 16' }]);
    // The new schema marks operational.session_token as not secret: the guard lets that one field through,
    // and still refuses the same value under a name the schema does not mark.
    const token = await hub.graphql(UPDATE, { service: 'tick-aggregator', patch: { operational: { worker_threads: 12, session_token: 'wQ8zK2vN5xR7tY3p' } } });
    expect(token.data.updateConfig.__typename).toBe('ConfigWrite');
    const other = await hub.graphql(UPDATE, { service: 'tick-aggregator', patch: { operational: { worker_threads: 12, auth_token: 'wQ8zK2vN5xR7tY3p' } } });
    expect(other.data.updateConfig.__typename).toBe('SecretRejectedError');
    const removed = await hub.graphql(UPDATE, { service: 'tick-aggregator', patch: { operational: null } });
    expect(removed.data.updateConfig.issues).toEqual([{ pointer: '/config/operational', message: "must have required property 'operational'" }]);
  });

  it('keeps schema versions append-only in SQL too', async () => {
    for (const statement of [`UPDATE config_schemas SET schema = '{}' WHERE version = 1`, `DELETE FROM config_schemas`]) {
      const error = await hub.db.session((sql) => sql.query(statement)).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ message: expect.stringMatching(/config_schemas is append-only/) });
    }
    const versions = await hub.db.session((sql) => sql.query<{ count: number }>(`SELECT count(*)::int AS count FROM config_schemas`));
    expect(versions[0]!.count).toBeGreaterThanOrEqual(3);
  });

  it('refuses something that is not a JSON Schema', async () => {
    const result = await hub.graphql(SET_SCHEMA, { input: { service: 'polygon-live-collector', schema: { type: 'no-such-type' } } });
    expect(result.data.setConfigSchema.__typename).toBe('ValidationError');
    expect(result.data.setConfigSchema.issues[0].pointer).toBe('/schema');
  });

  /** Creates a config for `service` and sets `schema` on it; returns setConfigSchema's answer. */
  async function serviceWithSchema(service: string, config: Record<string, unknown>, schema: Record<string, unknown>) {
    const created = await hub.graphql(`mutation($service: String!, $config: JSON!) {
      createConfig(input: { service: $service, config: $config }) { __typename } }`, { service, config });
    expect(created.data.createConfig.__typename).toBe('ConfigWrite');
    return (await hub.graphql(SET_SCHEMA, { input: { service, schema } })).data.setConfigSchema;
  }

  it('runs a catastrophic-backtracking pattern in linear time: a hostile write gets its answer', async () => {
    const service = 'schema-redos';
    const set = await serviceWithSchema(service, { name: 'aaaa' }, { type: 'object', properties: { name: { type: 'string', pattern: '^(a+)+$' } } });
    expect(set).toEqual({ __typename: 'ConfigSchema', version: 1 });
    // With JavaScript's RegExp this one write held the event loop for minutes.
    const hostile = await hub.graphql(UPDATE, { service, patch: { name: `${'a'.repeat(40)}!` } });
    expect(hostile.data.updateConfig).toEqual({
      __typename: 'ValidationError',
      issues: [{ pointer: '/config/name', message: 'must match pattern "^(a+)+$"' }],
    });
    const fine = await hub.graphql(UPDATE, { service, patch: { name: 'a'.repeat(40) } });
    expect(fine.data.updateConfig).toEqual({ __typename: 'ConfigWrite', config: { version: 2 } });
  });

  it('does the same for patternProperties keys', async () => {
    const service = 'schema-redos-keys';
    const schema = { type: 'object', patternProperties: { '^(a+)+$': { type: 'integer' } } };
    expect(await serviceWithSchema(service, { aaa: 1 }, schema)).toEqual({ __typename: 'ConfigSchema', version: 1 });
    // The key does not match, so its value is free; the answer comes at once.
    const hostileKey = await hub.graphql(UPDATE, { service, patch: { [`${'a'.repeat(40)}!`]: 'text' } });
    expect(hostileKey.data.updateConfig.__typename).toBe('ConfigWrite');
    const matching = await hub.graphql(UPDATE, { service, patch: { [`${'a'.repeat(40)}`]: 'text' } });
    expect(matching.data.updateConfig).toEqual({
      __typename: 'ValidationError',
      issues: [{ pointer: `/config/${'a'.repeat(40)}`, message: 'must be integer' }],
    });
  });

  it('checks ordinary patterns as before, with the pointer of the offending value', async () => {
    const service = 'schema-ordinary-patterns';
    const schema = {
      type: 'object',
      properties: {
        slug: { type: 'string', pattern: '^[a-z0-9-]+$' },
        at: { type: 'string', pattern: '^\\d{2}:\\d{2}$' },
        label: { type: 'string', pattern: '^\\S+$' },
      },
    };
    expect(await serviceWithSchema(service, { slug: 'tick-aggregator', at: '12:30', label: 'x' }, schema)).toMatchObject({ __typename: 'ConfigSchema' });
    const good = await hub.graphql(UPDATE, { service, patch: { slug: 'polygon-live-2', at: '23:59', label: 'é' } });
    expect(good.data.updateConfig.__typename).toBe('ConfigWrite');
    // `\S` keeps its JavaScript meaning: a no-break space is white space (RE2's own \S would let it through).
    const bad = await hub.graphql(UPDATE, { service, patch: { slug: 'Polygon_Live', at: '1230', label: 'a\u00a0b' } });
    expect(bad.data.updateConfig.__typename).toBe('ValidationError');
    const issues = bad.data.updateConfig.issues as { pointer: string }[];
    expect(issues.sort((a, b) => a.pointer.localeCompare(b.pointer))).toEqual([
      { pointer: '/config/at', message: 'must match pattern "^\\d{2}:\\d{2}$"' },
      { pointer: '/config/label', message: 'must match pattern "^\\S+$"' },
      { pointer: '/config/slug', message: 'must match pattern "^[a-z0-9-]+$"' },
    ]);
  });

  it('checks a large document the same (on the worker thread), and passes one that is clean', async () => {
    const service = 'schema-large-documents';
    const schema = {
      type: 'object',
      properties: { symbols: { type: 'array', items: { type: 'string', pattern: '^[A-Z]{1,6}$' } }, slug: { type: 'string', enum: ['a', 'b'] } },
    };
    expect(await serviceWithSchema(service, { symbols: [], slug: 'a' }, schema)).toMatchObject({ __typename: 'ConfigSchema' });
    const symbols = Array.from({ length: 8_000 }, (_, index) => `S${String.fromCharCode(65 + (index % 26))}${String.fromCharCode(65 + Math.floor(index / 26) % 26)}`);
    expect(JSON.stringify(symbols).length).toBeGreaterThan(WORKER_THRESHOLD_CHARS);
    const good = await hub.graphql(UPDATE, { service, patch: { symbols } });
    expect(good.data.updateConfig.__typename).toBe('ConfigWrite');
    const bad = await hub.graphql(UPDATE, { service, patch: { symbols: [...symbols.slice(0, 4_000), 'lower', ...symbols.slice(4_000)], slug: 'c' } });
    expect(bad.data.updateConfig).toEqual({
      __typename: 'ValidationError',
      issues: [
        { pointer: '/config/slug', message: 'must be equal to one of the allowed values' },
        { pointer: '/config/symbols/4000', message: 'must match pattern "^[A-Z]{1,6}$"' },
      ],
    });
    // A refusal lists the first 100 issues and counts the others.
    const many = await hub.graphql(UPDATE, { service, patch: { symbols: Array.from({ length: 300 }, (_, index) => `x${index}`) } });
    expect(many.data.updateConfig.issues).toHaveLength(101);
    expect(many.data.updateConfig.issues[100]).toEqual({ pointer: '', message: 'and 200 more issues like these' });
    const secret = await hub.graphql(UPDATE, { service, patch: { symbols, notes: { db: 'postgres://app:hunter2secret@db.internal:5432/x' } } });
    expect(secret.data.updateConfig).toEqual({ __typename: 'SecretRejectedError', issues: [{ pointer: '/config/notes/db' }] });
  });

  it('refuses patterns the linear-time engine cannot run, each with its pointer and the reason', async () => {
    const schema = {
      type: 'object',
      properties: {
        name: { type: 'string', pattern: '^(?!admin)[a-z]+$' },
        pair: { type: 'string', pattern: '^(a)\\1$' },
        ok: { type: 'string', pattern: '^[a-z]+$' },
        list: { type: 'array', items: { type: 'string', pattern: '(?<=x)y' } },
        word: { type: 'string', pattern: 'a\\Bb' },
      },
      patternProperties: { '^a/(?<n>b)\\k<n>$': {} },
    };
    const result = await hub.graphql(SET_SCHEMA, { input: { service: 'schema-lookaround', schema } });
    expect(result.data.setConfigSchema.__typename).toBe('ValidationError');
    const issues = result.data.setConfigSchema.issues as { pointer: string; message: string }[];
    expect(issues.map((issue) => issue.pointer)).toEqual([
      '/schema/properties/name/pattern',
      '/schema/properties/pair/pattern',
      '/schema/properties/list/items/pattern',
      '/schema/properties/word/pattern',
      '/schema/patternProperties/^a~1(?<n>b)\\k<n>$',
    ]);
    expect(issues[0]!.message).toMatch(/^a lookahead \(\(\?=\.\.\.\) or \(\?!\.\.\.\)\) is not supported: patterns run on a linear-time engine \(RE2\)/);
    expect(issues[1]!.message).toMatch(/^a backreference \(\\1\) is not supported/);
    expect(issues[2]!.message).toMatch(/^a lookbehind/);
    expect(issues[3]!.message).toMatch(/^\\B \(not a word boundary\) is not supported/);
    expect(issues[4]!.message).toMatch(/^a named backreference/);
  });

  it('refuses a pattern too large for the engine, and one that is no regular expression', async () => {
    const result = await hub.graphql(SET_SCHEMA, {
      input: { service: 'schema-large-pattern', schema: { properties: { a: { pattern: '(\\w+\\s?){1,1000}$' }, b: { pattern: '(' } } } },
    });
    expect(result.data.setConfigSchema.issues).toEqual([
      { pointer: '/schema/properties/a/pattern', message: expect.stringMatching(/^the pattern compiles to about \d+ instructions; the limit is 600/) },
      { pointer: '/schema/properties/b/pattern', message: expect.stringMatching(/^not a valid regular expression: .*Unterminated group/) },
    ]);
  });

  it('refuses a schema over 256 KiB or with more than 1,000 objects, before compiling it', async () => {
    const big = await hub.graphql(SET_SCHEMA, { input: { service: 'schema-big', schema: { type: 'object', description: 'x'.repeat(300_000) } } });
    expect(big.data.setConfigSchema).toEqual({
      __typename: 'ValidationError',
      issues: [{ pointer: '/schema', message: expect.stringMatching(/^schema is 300\d\d\d characters as JSON; the limit is 262144 \(256 KiB\)$/) }],
    });
    // Fewer characters than the limit, more bytes (é is two in UTF-8).
    const wide = await hub.graphql(SET_SCHEMA, { input: { service: 'schema-big', schema: { type: 'object', description: 'é'.repeat(140_000) } } });
    expect(wide.data.setConfigSchema).toEqual({
      __typename: 'ValidationError',
      issues: [{ pointer: '/schema', message: expect.stringMatching(/^schema is 280\d\d\d bytes as JSON; the limit is 262144 \(256 KiB\)$/) }],
    });
    const properties = Object.fromEntries(Array.from({ length: 1_000 }, (_, index) => [`p${index}`, { type: 'string' }]));
    const many = await hub.graphql(SET_SCHEMA, { input: { service: 'schema-big', schema: { type: 'object', properties } } });
    expect(many.data.setConfigSchema).toEqual({
      __typename: 'ValidationError',
      issues: [{ pointer: '/schema', message: 'schema holds more than 1000 JSON objects (subschemas and the objects inside them)' }],
    });
  });

  it('refuses a write whose pattern checks would exceed the work budget, saying so', async () => {
    const service = 'schema-pattern-budget';
    // Six cheap patterns on one long string: each check is ~32 units a character.
    const allOf = ['^[ab]*$', '^[abc]*$', '^[abd]*$', '^[abe]*$', '^[abf]*$', '^[abg]*$'].map((pattern) => ({ pattern }));
    expect(await serviceWithSchema(service, { text: 'ab' }, { type: 'object', properties: { text: { type: 'string', allOf } } })).toMatchObject({
      __typename: 'ConfigSchema',
    });
    const text = 'ab'.repeat(100_000);
    expect(6 * 32 * text.length).toBeGreaterThan(PATTERN_WORK_BUDGET);
    const refused = await hub.graphql(UPDATE, { service, patch: { text } });
    expect(refused.data.updateConfig).toEqual({
      __typename: 'ValidationError',
      issues: [{ pointer: '/config', message: expect.stringMatching(/^checking the document against the schema's patterns would take more than \d+ steps/) }],
    });
    const shorter = await hub.graphql(UPDATE, { service, patch: { text: 'ab'.repeat(50_000) } });
    expect(shorter.data.updateConfig.__typename).toBe('ConfigWrite');
  });

  it('refuses writes under a stored schema whose pattern the engine cannot run, naming it', async () => {
    const service = 'schema-stored-lookahead';
    await hub.graphql(`mutation { createConfig(input: { service: "${service}", config: { name: "x" } }) { __typename } }`);
    // Accepted before patterns ran on RE2 (inserted here by hand, as an old version would have).
    await hub.db.session((sql) =>
      sql.query(`INSERT INTO config_schemas (service_name, version, schema, created_by, reason) VALUES ($1, 1, $2::jsonb, 'admin', null)`, [
        service,
        JSON.stringify({ type: 'object', properties: { name: { type: 'string', pattern: '^(?!root).*$' } } }),
      ]),
    );
    // The gateway hears of the new version through NOTIFY config_schemas, a moment after the insert.
    const write = async () => (await hub.graphql(UPDATE, { service, patch: { name: 'y' } })).data.updateConfig;
    await expect.poll(async () => (await write()).__typename, { timeout: 10_000 }).toBe('ValidationError');
    const refused = { data: { updateConfig: await write() } };
    expect(refused.data.updateConfig).toEqual({
      __typename: 'ValidationError',
      issues: [
        {
          pointer: '',
          message: expect.stringMatching(/^the stored schema version 1 of "schema-stored-lookahead" does not compile \(\/properties\/name\/pattern: a lookahead .*\); set a new one$/),
        },
      ],
    });
  });

  it('checks small documents under a large schema on the worker thread, with the same answers', async () => {
    const service = 'schema-large-stored';
    // Some 6 KiB of schema: compiled and run on the worker only.
    const properties = Object.fromEntries(Array.from({ length: 60 }, (_, index) => [`s${index}`, { type: 'string', pattern: `^[a-z]{1,${index + 1}}$`, description: `setting ${index} of the large schema` }]));
    expect(JSON.stringify({ type: 'object', properties }).length).toBeGreaterThan(4 * 1024);
    expect(await serviceWithSchema(service, { s3: 'abc' }, { type: 'object', properties })).toMatchObject({ __typename: 'ConfigSchema' });
    const fine = await hub.graphql(UPDATE, { service, patch: { s3: 'abcd' } });
    expect(fine.data.updateConfig.__typename).toBe('ConfigWrite');
    const refused = await hub.graphql(UPDATE, { service, patch: { s3: 'abcde' } });
    expect(refused.data.updateConfig).toEqual({ __typename: 'ValidationError', issues: [{ pointer: '/config/s3', message: expect.stringMatching(/must match pattern/) }] });
    const secret = await hub.graphql(UPDATE, { service, patch: { api_key: 'sk_live_51HqLyjWDarjtT1zdp7dcXsDKlFjS5sN2xbBqZnT8' } });
    expect(secret.data.updateConfig.__typename).toBe('SecretRejectedError');
  });

  it('refuses writes under a large stored schema that does not compile, from the worker, naming it', async () => {
    const service = 'schema-large-stored-lookahead';
    await hub.graphql(`mutation { createConfig(input: { service: "${service}", config: { name: "x" } }) { __typename } }`);
    const padding = Object.fromEntries(Array.from({ length: 80 }, (_, index) => [`pad${index}`, { type: 'string', description: `padding ${index} of the schema` }]));
    await hub.db.session((sql) =>
      sql.query(`INSERT INTO config_schemas (service_name, version, schema, created_by, reason) VALUES ($1, 1, $2::jsonb, 'admin', null)`, [
        service,
        JSON.stringify({ type: 'object', properties: { ...padding, name: { type: 'string', pattern: '^(?!root).*$' } } }),
      ]),
    );
    const write = async () => (await hub.graphql(UPDATE, { service, patch: { name: 'y' } })).data.updateConfig;
    await expect.poll(async () => (await write()).__typename, { timeout: 10_000 }).toBe('ValidationError');
    expect(await write()).toEqual({
      __typename: 'ValidationError',
      issues: [{ pointer: '', message: expect.stringMatching(/^the stored schema version 1 of "schema-large-stored-lookahead" does not compile \(.*lookahead.*\); set a new one$/) }],
    });
  });

  it('finds duplicate items by value, in linear time', async () => {
    const service = 'schema-unique-items';
    expect(await serviceWithSchema(service, { tags: [] }, { type: 'object', properties: { tags: { type: 'array', uniqueItems: true } } })).toMatchObject({
      __typename: 'ConfigSchema',
    });
    const duplicate = await hub.graphql(UPDATE, { service, patch: { tags: [{ a: 1, b: [2] }, 'x', { b: [2], a: 1 }] } });
    expect(duplicate.data.updateConfig).toEqual({
      __typename: 'ValidationError',
      issues: [{ pointer: '/config/tags', message: 'must NOT have duplicate items (items ## 0 and 2 are identical)' }],
    });
    // Pairwise, as Ajv compares untyped items, these took seconds.
    const distinct = await hub.graphql(UPDATE, { service, patch: { tags: Array.from({ length: 15_000 }, (_, index) => [index]) } });
    expect(distinct.data.updateConfig.__typename).toBe('ConfigWrite');
  });

  it('refuses a rollback to content the current schema forbids', async () => {
    const service = 'schema-rollback';
    await hub.graphql(`mutation { createConfig(input: { service: "${service}", config: { level: "low" } }) { __typename } }`);
    await hub.graphql(UPDATE, { service, patch: { level: 3 } });
    const schema = { type: 'object', properties: { level: { type: 'integer' } } };
    expect((await hub.graphql(SET_SCHEMA, { input: { service, schema } })).data.setConfigSchema.__typename).toBe('ConfigSchema');
    const rollback = await hub.graphql(`mutation { rollbackConfig(input: { service: "${service}", toVersion: 1 }) {
      __typename ... on ValidationError { issues { pointer } } } }`);
    expect(rollback.data.rollbackConfig).toEqual({ __typename: 'ValidationError', issues: [{ pointer: '/config/level' }] });
  });
});

describe('schema patterns on the linear-time engine', () => {
  const PATTERNS = [
    '^[a-z0-9-]+$', '^\\d{2}:\\d{2}$', '^.$', '^.{2,3}$', '\\s', '\\S', '^[\\s]+$', '^[^\\s]+$', '^[\\S-]+$', '^\\p{L}+$', '^\\P{Lu}$',
    '^\\p{Script=Greek}+$', '^\\u00e9$', '^\\u{1F600}$', '^\\uD83D\\uDE00$', '^[^]$', '^[]$', '^(?<word>\\w+)-\\d$', '\\bab\\b',
    '^\\cJ$', '^\\x41\\0$', '[\\b]', '^[\\-a]$', '^[a\\]]$', '^[[:a]$', '^[$^.]+$', '^\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\^\\$\\\\$',
    '^(a+)+$', '^(?:a|b)*?$', '^a{2,}$', '^(a|)$', '^\\v\\t$', 'a$', '^\\/$',
  ];
  const ALPHABET = ['a', 'b', 'A', 'é', 'Ω', '😀', ' ', '\u00a0', '\u2028', '\n', '\r', '\v', '\t', '\b', '\u0000', '-', '_', '1', '.', '$', '^', '[', ']', ':', '/', '\\'];

  it('keep their ECMAScript meaning (the same answers as RegExp with the u flag)', () => {
    const compiler = new PatternCompiler(new PatternMeter());
    for (const source of PATTERNS) {
      const linear = compiler.compile(source);
      const native = new RegExp(source, 'u');
      fc.assert(
        fc.property(fc.array(fc.constantFrom(...ALPHABET), { maxLength: 6 }), (characters) => {
          const text = characters.join('');
          expect(linear.test(text), `${source} on ${JSON.stringify(text)}`).toBe(native.test(text));
        }),
        { numRuns: 300 },
      );
    }
  });

  it('are compiled for each schema apart, versions sharing an $id alike, and every schema is checked against the meta-schema', () => {
    const first = compileNewSchema({ $id: 'https://example.test/s', type: 'object', properties: { a: { type: 'string', pattern: '^x+$' } } });
    const second = compileNewSchema({ $id: 'https://example.test/s', type: 'object', properties: { a: { type: 'integer' } } });
    expect([first({ a: 'xx' }), first({ a: 1 }), second({ a: 1 }), second({ a: 'xx' })]).toEqual([true, false, true, false]);
    const invalids: JsonObject[] = [{ type: 'no-such-type' }, { properties: { a: { minLength: -1 } } }, { $schema: 'https://example.test/no-such-draft', type: 'object' }];
    for (const invalid of invalids) {
      expect(() => compileNewSchema(invalid), JSON.stringify(invalid)).toThrow(/not a valid JSON Schema \(draft 2020-12\)/);
    }
    // The check holds after the refusals, and for a schema its patterns' limits apply to (not the meta-schema's).
    expect(compileNewSchema({ type: 'object', properties: { a: { format: 'hostname' } } })({ a: 'example.test' })).toBe(true);
    expect(() => compileNewSchema({ type: 'string', pattern: 'a{1000}' })).toThrow(/instructions; the limit is/);
  });

  it('stop a validation once its pattern work passes the budget', () => {
    const validate = compileNewSchema({ type: 'array', items: { type: 'string', pattern: '^[ab]*$' } });
    const line = 'ab'.repeat(5_000);
    expect(validate(Array.from({ length: 100 }, () => line))).toBe(true);
    expect(() => validate(Array.from({ length: 300 }, () => line))).toThrow(/would take more than \d+ steps/);
    // Each validation starts with the whole budget.
    expect(validate([line])).toBe(true);
  });
});
