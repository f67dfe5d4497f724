// Random RFC 7396 merge patches, sent through GraphQL `updateConfig` and through the store, either apply
// exactly (the new config is the merge-patch result, the version rises by one, one audit row records
// it) or are refused with the typed error an independent oracle predicts, with nothing written.
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findSecrets } from '../src/store/secretGuard.ts';
import { createTestApp, type TestApp } from './support/app.ts';
import { backends, tablesDigest } from './support/databases.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * RFC 7396 section 2, written from the RFC's pseudocode (not the library the hub uses), so that the
 * oracle does not share the hub's mistakes. Members are defined, not assigned: a key such as
 * "__proto__" is an ordinary member of a JSON object.
 */
function mergePatchReference(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const result: JsonObject = {};
  if (isObject(target)) for (const [name, value] of Object.entries(target)) define(result, name, value);
  for (const [name, value] of Object.entries(patch)) {
    if (value === null) delete result[name];
    else define(result, name, mergePatchReference(Object.hasOwn(result, name) ? result[name]! : null, value));
  }
  return result;
}
const define = (object: JsonObject, name: string, value: Json) =>
  Object.defineProperty(object, name, { value, enumerable: true, writable: true, configurable: true });

const PEM = '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBYr0cmSeE3aOoq8Q0hfS7nRplr8Q\n-----END EC PRIVATE KEY-----';
const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

const PILOT_SERVICES = ['polygon-historical-downloader', 'polygon-live-collector', 'tick-aggregator'];
/** A service without a schema: anything but secrets goes. */
const OPEN_SERVICE = 'property-open';

/** Keys: the pilot schemas' own (so patches hit constrained settings), random ones, and a few secret-shaped ones. */
const key = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.constantFrom(
      'operational', 'features', 'business', 'batch_size', 'worker_threads', 'gap_check_interval_hours', 'retry_attempts',
      'aggregation_window_ms', 'buffer_flush_interval_ms', 'enable_vwap', 'enable_quotes', 'enable_gap_filling',
      'timeframes', 'bar_intervals', 'subscribed_symbols', 'symbols_universe', 'min_trade_size', 'notes',
    ),
  },
  { weight: 8, arbitrary: fc.stringMatching(/^[a-z][a-z0-9_]{0,7}$/) },
  { weight: 1, arbitrary: fc.constantFrom('db_password', 'apiKey', 'Private-Key', 'SESSION_TOKEN', 'client.secret') },
);

/** Leaves: numbers and strings the schemas take or refuse, deletions, and credential-shaped strings. */
const leaf: fc.Arbitrary<Json> = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: -5, max: 70_000 }) },
  { weight: 2, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }) },
  { weight: 4, arbitrary: fc.boolean() },
  { weight: 4, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 2, arbitrary: fc.constantFrom('1m', '5m', '1h', '1d', '1s', 'sp500', 'all', 'ftse', 'SPY', 'spy', 'AAPL') },
  { weight: 6, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constantFrom(PEM, JWT, 'AKIAIOSFODNN7EXAMPLE', 'postgres://app:s3cret@db:5432/ticks', `ghp_${'x1Y'.repeat(12)}`) },
);

const { value } = fc.letrec<{ value: Json; object: JsonObject; array: Json[] }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('object'), tie('array')),
  object: fc.dictionary(key, tie('value'), { maxKeys: 4 }),
  array: fc.array(tie('value'), { maxLength: 3 }),
}));

/** Mostly object patches (nulls delete, nested objects merge, arrays replace); sometimes not an object at all. */
const patch: fc.Arbitrary<Json> = fc.oneof(
  { weight: 14, arbitrary: fc.dictionary(key, value, { minKeys: 1, maxKeys: 5 }) },
  { weight: 1, arbitrary: fc.oneof(fc.array(value, { maxLength: 3 }), fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.constant(null)) },
);

const writeCase = fc.record({
  service: fc.constantFrom(...PILOT_SERVICES, OPEN_SERVICE),
  // JSON round trip: what the wire carries (no -0, no undefined, no null prototypes).
  patch: patch.map((generated) => JSON.parse(JSON.stringify(generated)) as Json),
  /** Pin the write to the current version, to a stale one, or not at all. */
  pin: fc.constantFrom('none', 'none', 'none', 'current', 'stale'),
  via: fc.constantFrom('graphql', 'store'),
});

const UPDATE = `mutation($input: UpdateConfigInput!) { updateConfig(input: $input) {
  __typename
  ... on ConfigWrite { changed previousVersion config { version config } }
  ... on Error { message }
  ... on ValidationError { issues { pointer } }
  ... on SecretRejectedError { issues { pointer } }
  ... on VersionConflictError { currentVersion }
} }`;

interface Written {
  typename: string;
  changed?: boolean;
  version?: number;
  config?: Json;
  pointers?: string[];
  currentVersion?: number;
  message?: string;
}

/** What the hub must answer, decided without it: the store's order of checks, Ajv on the seed schemas, the secret guard. */
type Prediction = { apply: JsonObject } | { refuse: string; pointers?: string[]; currentVersion?: number };

describe.each(backends)('merge patches on %s', (backend) => {
  let t: TestApp;
  const validators = new Map<string, ValidateFunction>();

  beforeAll(async () => {
    t = await createTestApp(backend);
    await t.app.store.createConfig({ service: OPEN_SERVICE, config: { notes: 'free-form' } }, { actor: 'property-test' });
    const rows = await t.db.session((sql) =>
      sql.query<{ service_name: string; schema: object }>(
        `SELECT DISTINCT ON (service_name) service_name, schema FROM config_schemas ORDER BY service_name, version DESC`,
      ),
    );
    for (const row of rows) {
      const ajv = new Ajv2020({ allErrors: true, strict: false });
      addFormats.default(ajv);
      validators.set(row.service_name, ajv.compile(row.schema));
    }
    expect([...validators.keys()].sort()).toEqual(PILOT_SERVICES);
  });
  afterAll(async () => {
    await t?.close();
  });

  async function stored(service: string): Promise<{ config: JsonObject; version: number; changes: number; lastRevision: string | null }> {
    const [row] = await t.db.session((sql) =>
      sql.query<{ config: JsonObject; version: number; changes: number; last_revision: string | null }>(
        `SELECT c.config, c.version,
                (SELECT count(*)::int FROM config_audit_log a WHERE a.service_name = c.service_name AND a.environment = c.environment) AS changes,
                (SELECT max(revision)::text FROM config_audit_log) AS last_revision
           FROM service_configs c WHERE c.service_name = $1 AND c.environment = 'production'`,
        [service],
      ),
    );
    return { config: row!.config, version: row!.version, changes: row!.changes, lastRevision: row!.last_revision };
  }

  function predict(service: string, current: { config: JsonObject; version: number }, patchValue: Json, expectedVersion: number | undefined): Prediction {
    if (patchValue === null) return { refuse: 'ValidationError', pointers: [''] };
    if (!isObject(patchValue)) return { refuse: 'ValidationError', pointers: ['/patch'] };
    if (expectedVersion !== undefined && expectedVersion !== current.version) {
      return { refuse: 'VersionConflictError', currentVersion: current.version };
    }
    const next = mergePatchReference(current.config, patchValue) as JsonObject;
    const validate = validators.get(service);
    if (validate && !validate(next)) {
      const pointers = (validate.errors ?? []).map(
        (error) => `/config${error.instancePath}${error.keyword === 'required' ? `/${String(error.params.missingProperty)}` : ''}`,
      );
      return { refuse: 'ValidationError', pointers };
    }
    const secrets = findSecrets(next);
    if (secrets.length > 0) return { refuse: 'SecretRejectedError', pointers: secrets.map((issue) => `/config${issue.pointer}`) };
    return { apply: next };
  }

  async function send(via: string, input: Record<string, unknown>): Promise<Written> {
    if (via === 'graphql') {
      const result = await t.graphql(UPDATE, { input });
      const written = result.data?.updateConfig;
      if (!written) return { typename: `GraphQL errors: ${JSON.stringify(result.errors)}` };
      return {
        typename: written.__typename,
        changed: written.changed,
        version: written.config?.version,
        config: written.config?.config,
        pointers: written.issues?.map((issue: { pointer: string }) => issue.pointer),
        currentVersion: written.currentVersion,
        message: written.message,
      };
    }
    try {
      const write = await t.app.store.updateConfig(input as never, { actor: 'property-test' });
      return { typename: 'ConfigWrite', changed: write.changed, version: write.config.version, config: write.config.config as Json };
    } catch (error) {
      const refused = error as Error & { issues?: { pointer: string }[]; currentVersion?: number };
      return { typename: refused.name, pointers: refused.issues?.map((issue) => issue.pointer), currentVersion: refused.currentVersion, message: refused.message };
    }
  }

  it('applies a valid patch exactly (one version, one audit row) and refuses the rest with nothing written', async () => {
    const seen = { applied: 0, unchanged: 0, refused: new Map<string, number>() };
    await fc.assert(
      fc.asyncProperty(writeCase, async ({ service, patch: patchValue, pin, via }) => {
        const before = await stored(service);
        const digest = await tablesDigest(t.db);
        const expectedVersion = pin === 'current' ? before.version : pin === 'stale' ? before.version - 1 : undefined;
        const prediction = predict(service, before, patchValue, expectedVersion);

        const written = await send(via, { service, patch: patchValue, expectedVersion, reason: 'property' });
        const after = await stored(service);

        if ('apply' in prediction) {
          expect(written.typename, written.message).toBe('ConfigWrite');
          const changed = JSON.stringify(canonical(prediction.apply)) !== JSON.stringify(canonical(before.config));
          expect(written.changed).toBe(changed);
          if (changed) {
            expect(written.version).toBe(before.version + 1);
            expect(written.config).toEqual(prediction.apply);
            expect(after).toMatchObject({ version: before.version + 1, changes: before.changes + 1 });
            expect(after.config).toEqual(prediction.apply);
            const [audit] = await t.db.session((sql) =>
              sql.query<{ version: number; action: string; old_config: Json; new_config: Json; changed_by: string }>(
                `SELECT version, action, old_config, new_config, changed_by FROM config_audit_log WHERE revision = $1::bigint`,
                [after.lastRevision],
              ),
            );
            expect(audit).toEqual({ version: before.version + 1, action: 'UPDATE', old_config: before.config, new_config: prediction.apply, changed_by: expect.any(String) });
            seen.applied++;
          } else {
            expect(await tablesDigest(t.db)).toBe(digest);
            seen.unchanged++;
          }
        } else {
          expect(written.typename, written.message).toBe(prediction.refuse);
          if (prediction.pointers) expect(new Set(written.pointers)).toEqual(new Set(prediction.pointers));
          if (prediction.currentVersion !== undefined) expect(written.currentVersion).toBe(prediction.currentVersion);
          expect(await tablesDigest(t.db)).toBe(digest);
          expect(after).toEqual(before);
          seen.refused.set(prediction.refuse, (seen.refused.get(prediction.refuse) ?? 0) + 1);
        }
      }),
      { numRuns: backend === 'pglite' ? 120 : 200 },
    );
    // The generators reach every outcome, so the property is not passing on one branch alone.
    expect(seen.applied).toBeGreaterThan(10);
    expect([...seen.refused.keys()].sort()).toEqual(['SecretRejectedError', 'ValidationError', 'VersionConflictError']);
  });

  // Concurrent writers (the store may group them into one statement): every write still either applies
  // on top of exactly one version or is refused for a reason true of some version it could have seen.
  it('applies concurrent patches as a contiguous chain of versions, each the merge of its patch, refusing the rest', async () => {
    const concurrentCase = fc.record({
      service: fc.constantFrom(...PILOT_SERVICES, OPEN_SERVICE),
      writes: fc.array(
        fc.record({ patch: patch.map((generated) => JSON.parse(JSON.stringify(generated)) as Json), via: fc.constantFrom('graphql', 'store') }),
        { minLength: 2, maxLength: 6 },
      ),
    });
    let applied = 0;
    await fc.assert(
      fc.asyncProperty(concurrentCase, async ({ service, writes }) => {
        const before = await stored(service);
        const outcomes = await Promise.all(writes.map(({ patch: patchValue, via }) => send(via, { service, patch: patchValue, reason: 'concurrent' })));
        const after = await stored(service);
        const rows = await t.db.session((sql) =>
          sql.query<{ version: number; old_config: JsonObject; new_config: JsonObject }>(
            `SELECT version, old_config, new_config FROM config_audit_log
              WHERE service_name = $1 AND environment = 'production' AND version > $2 ORDER BY version`,
            [service, before.version],
          ),
        );
        const writers = outcomes.map((outcome, index) => ({ outcome, patch: writes[index]!.patch }));
        const changing = writers.filter(({ outcome }) => outcome.typename === 'ConfigWrite' && outcome.changed);
        // One audit row per applied write, versions contiguous, each row the merge of its writer's patch into the row before.
        expect(rows.map((row) => row.version)).toEqual(changing.map((_, index) => before.version + 1 + index));
        expect(after).toMatchObject({ version: before.version + rows.length, changes: before.changes + rows.length });
        const states: JsonObject[] = [before.config];
        for (const row of rows) {
          const writer = changing.filter(({ outcome }) => outcome.version === row.version);
          expect(writer).toHaveLength(1);
          expect(row.old_config).toEqual(states.at(-1));
          expect(row.new_config).toEqual(mergePatchReference(row.old_config, writer[0]!.patch));
          expect(writer[0]!.outcome.config).toEqual(row.new_config);
          states.push(row.new_config);
        }
        expect(after.config).toEqual(states.at(-1));
        // Every other write was a no-op or refused for a reason that holds against one of those versions.
        for (const { outcome, patch: patchValue } of writers) {
          if (outcome.typename === 'ConfigWrite' && outcome.changed) continue;
          const explained = states.some((state, index) => {
            const prediction = predict(service, { config: state, version: before.version + index }, patchValue, undefined);
            if (outcome.typename === 'ConfigWrite') return 'apply' in prediction && JSON.stringify(canonical(prediction.apply)) === JSON.stringify(canonical(state));
            return 'refuse' in prediction && prediction.refuse === outcome.typename;
          });
          expect(explained, `${outcome.typename} ${outcome.message ?? ''} for ${JSON.stringify(patchValue)}`).toBe(true);
        }
        applied += rows.length;
      }),
      { numRuns: backend === 'pglite' ? 25 : 40 },
    );
    expect(applied).toBeGreaterThan(5);
  });

  // Keys named after Object.prototype members ("__proto__", "constructor", "hasOwnProperty", ...) are
  // legal JSON: the patch applies per RFC 7396 like any other (json-merge-patch, used before, dropped
  // or threw on them). Dry runs: nothing is written either way.
  it('merges keys named after Object.prototype members like any other key', async () => {
    const trickyKey = fc.oneof(fc.constantFrom('constructor', 'prototype', '__proto__', 'hasOwnProperty', 'toString', 'valueOf'), fc.constantFrom('level', 'mode', 'notes'));
    const trickyPatch = fc
      .dictionary(trickyKey, fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 9 }), fc.dictionary(trickyKey, fc.oneof(fc.constant(null), fc.boolean()), { maxKeys: 3 })), { minKeys: 1, maxKeys: 4 })
      .map((generated) => JSON.parse(JSON.stringify(generated)) as JsonObject);
    await fc.assert(
      fc.asyncProperty(trickyPatch, async (patchValue) => {
        const before = await stored(OPEN_SERVICE);
        const digest = await tablesDigest(t.db);
        const result = await t.graphql(UPDATE.replace('{ changed', '{ dryRun changed'), { input: { service: OPEN_SERVICE, patch: patchValue, dryRun: true } });
        const written = result.data?.updateConfig;
        expect(await tablesDigest(t.db)).toBe(digest);
        expect(written?.__typename, JSON.stringify(result)).toMatch(/^(ConfigWrite|ValidationError)$/);
        if (written.__typename === 'ConfigWrite') {
          expect(written.config.config, JSON.stringify(patchValue)).toEqual(mergePatchReference(before.config, patchValue));
        }
      }),
      { numRuns: 40 },
    );
  });
});

/** Key order aside, for "did anything change". */
function canonical(value: Json): Json {
  if (Array.isArray(value)) return value.map(canonical);
  if (!isObject(value)) return value;
  return Object.fromEntries(Object.keys(value).sort().map((name) => [name, canonical(value[name]!)]));
}
