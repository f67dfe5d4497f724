import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type JsonObject, type JsonValue, sameValue } from '../src/protocol/json.ts';
import { leavesOf } from '../src/store/blame.ts';
import type { ConfigStore } from '../src/store/configStore.ts';
import type { ConfigKey } from '../src/store/names.ts';
import { type TestApp, createTestApp } from './support/app.ts';
import { backends } from './support/databases.ts';

// Blame per setting (configBlame): the change that last set each leaf, against a brute-force
// recomputation that replays the whole history forwards.

/** Brute force: every version's content in order; a leaf's blame is the last version its value changed at. */
async function bruteForce(db: TestApp['db'], key: ConfigKey): Promise<Map<string, { version: number; changedBy: string; reason: string | null }>> {
  const changes = await db.query<{ version: number; changedBy: string; reason: string | null; newConfig: JsonValue | null }>(
    `SELECT version, changed_by AS "changedBy", reason, new_config AS "newConfig" FROM config_audit_log
      WHERE service_name = $1 AND environment = $2 ORDER BY revision`,
    [key.service, key.environment],
  );
  const current = changes.at(-1)!.newConfig as JsonValue;
  const lastSet = new Map<string, { version: number; changedBy: string; reason: string | null }>();
  for (const leaf of leavesOf(current)) {
    let previous: JsonValue | undefined;
    for (const change of changes) {
      const value = at(change.newConfig, leaf.path);
      const changed = previous === undefined || value === undefined ? previous !== value : !sameValue(previous, value);
      if (changed) lastSet.set(leaf.pointer, { version: change.version, changedBy: change.changedBy, reason: change.reason });
      previous = value;
    }
  }
  return lastSet;
}

function at(document: JsonValue | null, path: readonly string[]): JsonValue | undefined {
  let value: JsonValue | undefined = document ?? undefined;
  for (const key of path) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, key)) return undefined;
    value = value[key];
  }
  return value;
}

describe.each(backends)('configBlame on %s', (backend) => {
  let t: TestApp;
  let store: ConfigStore;

  beforeAll(async () => {
    t = await createTestApp(backend);
    store = t.app.store;
  });
  afterAll(async () => t.close());

  it('names the version, actor, time and reason that last set each setting, through GraphQL', async () => {
    const key = { service: 'blame-basic', environment: 'production' };
    await store.createConfig({ service: key.service, config: { op: { batch: 100, retries: 3 }, flags: { on: true }, list: [1, 2] } }, { actor: 'ana', reason: 'first' });
    await store.updateConfig({ service: key.service, patch: { op: { batch: 200 } } }, { actor: 'bo', reason: 'bigger batches' });
    await store.updateConfig({ service: key.service, patch: { list: [1, 2, 3], flags: { on: true } } }, { actor: 'cy', reason: 'more items' });
    await store.rollbackConfig({ service: key.service, toVersion: 1 }, { actor: 'dee', reason: 'undo' });
    await store.updateConfig({ service: key.service, patch: { op: { batch: 300 } } }, { actor: 'eve', reason: null });

    const { data, errors } = await t.graphql(
      `query($service: String!) { configBlame(service: $service) { __typename ... on ConfigBlame { version complete settings { pointer value version action changedBy reason changedAt } } ... on Error { message } } }`,
      { service: key.service },
    );
    expect(errors).toBeUndefined();
    const blame = data.configBlame;
    expect(blame).toMatchObject({ __typename: 'ConfigBlame', version: 5, complete: true });
    const bySetting = Object.fromEntries(blame.settings.map((setting: { pointer: string }) => [setting.pointer, setting]));
    expect(Object.keys(bySetting).sort()).toEqual(['/flags/on', '/list', '/op/batch', '/op/retries']);
    expect(bySetting['/op/batch']).toMatchObject({ value: 300, version: 5, action: 'UPDATE', changedBy: 'eve', reason: null });
    expect(bySetting['/op/retries']).toMatchObject({ value: 3, version: 1, action: 'CREATE', changedBy: 'ana', reason: 'first' });
    // Unchanged by version 3 (the same value sent again), so still version 1's.
    expect(bySetting['/flags/on']).toMatchObject({ value: true, version: 1, changedBy: 'ana' });
    // Set by 3, then taken back by the rollback: the rollback set it last.
    expect(bySetting['/list']).toMatchObject({ value: [1, 2], version: 4, action: 'ROLLBACK', changedBy: 'dee', reason: 'undo' });
    expect(new Date(bySetting['/op/batch'].changedAt).getTime()).toBeGreaterThan(0);
  });

  it('refuses an unknown or deleted config, and a reader of another service', async () => {
    const missing = await t.graphql(`{ configBlame(service: "no-such-service") { __typename ... on Error { message } } }`);
    expect(missing.data.configBlame.__typename).toBe('NotFoundError');
    await store.createConfig({ service: 'blame-deleted', config: { a: 1 } }, { actor: 'ana', reason: null });
    await store.deleteConfig({ service: 'blame-deleted' }, { actor: 'ana', reason: null });
    const deleted = await t.graphql(`{ configBlame(service: "blame-deleted") { __typename } }`);
    expect(deleted.data.configBlame.__typename).toBe('NotFoundError');
    const created = await t.graphql(
      `mutation { createToken(input: { name: "blame-reader", role: READER, services: ["other-*"] }) { ... on CreatedToken { token } } }`,
    );
    const reader = { authorization: `Bearer ${created.data.createToken.token}` };
    const refused = await t.graphql(`{ configBlame(service: "blame-basic") { __typename } }`, {}, reader);
    expect(refused.data?.configBlame?.__typename ?? refused.errors?.[0]?.extensions?.code).toMatch(/Forbidden|FORBIDDEN/);
  });

  it('equals a forward replay of the whole history, on generated histories', async () => {
    const keys = ['a', 'b', 'c'];
    const leafValue = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.boolean(), fc.constantFrom('x', 'y'), fc.constant(null), fc.constantFrom([1], [1, 2]));
    // Merge patches over a small key space, two levels deep (null deletes in a merge patch).
    const patch: fc.Arbitrary<JsonObject> = fc.dictionary(
      fc.constantFrom(...keys),
      fc.oneof(leafValue, fc.dictionary(fc.constantFrom(...keys), leafValue, { maxKeys: 3 })),
      { minKeys: 1, maxKeys: 3 },
    ) as fc.Arbitrary<JsonObject>;
    const step = fc.oneof(
      { weight: 6, arbitrary: patch.map((value) => ({ kind: 'update' as const, patch: value })) },
      { weight: 1, arbitrary: fc.nat({ max: 20 }).map((back) => ({ kind: 'rollback' as const, back })) },
      { weight: 1, arbitrary: fc.constant({ kind: 'delete-restore' as const }) },
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
        const key = { service: `blame-gen-${backend}-${run++}`, environment: 'production' };
        await store.createConfig({ service: key.service, config: { a: 1, b: { c: 'x' } } }, { actor: 'creator', reason: 'start' });
        let version = 1;
        for (const [index, next] of steps.entries()) {
          const author = { actor: `actor-${index % 4}`, reason: `step ${index}` };
          if (next.kind === 'update') {
            const write = await store.updateConfig({ service: key.service, patch: next.patch }, author).catch(() => null);
            if (write) version = write.config.version;
          } else if (next.kind === 'rollback') {
            const target = Math.max(1, version - 1 - next.back);
            const write = await store.rollbackConfig({ service: key.service, toVersion: target }, author).catch(() => null);
            if (write) version = write.config.version;
          } else {
            await store.deleteConfig({ service: key.service }, author);
            version = (await store.restoreConfig({ service: key.service }, author)).config.version;
          }
          // Now and then a blame midway: the final one then builds on it.
          if (index % 7 === 3) await store.blame.blame(key);
        }
        const blame = await store.blame.blame(key);
        const expected = await bruteForce(t.db, key);
        expect(blame.complete).toBe(true);
        expect(new Map(blame.settings.map((setting) => [setting.pointer, { version: setting.version, changedBy: setting.changedBy, reason: setting.reason }]))).toEqual(
          expected,
        );
      }),
      { numRuns: backend === 'pglite' ? 25 : 40 },
    );
  }, 120_000);

  it('reads a long history in pages and keeps the answer of a version', async () => {
    const key = { service: 'blame-long', environment: 'production' };
    const settings = Object.fromEntries(Array.from({ length: 50 }, (_, index) => [`s${index}`, 0]));
    await store.createConfig({ service: key.service, config: { settings, padding: 'p'.repeat(20_000) } }, { actor: 'creator', reason: null });
    // 300 versions of some 40 KB each: the scan reads well over one page of documents.
    for (let version = 2; version <= 300; version++) {
      await store.updateConfig({ service: key.service, patch: { settings: { [`s${version % 49}`]: version } } }, { actor: `a${version}`, reason: null });
    }
    const started = performance.now();
    const blame = await store.blame.blame(key);
    const first = performance.now() - started;
    expect(blame.complete).toBe(true);
    expect(blame.settings.find((setting) => setting.pointer === '/settings/s49')).toMatchObject({ version: 1, changedBy: 'creator' });
    expect(blame.settings.find((setting) => setting.pointer === '/settings/s0')).toMatchObject({ version: 294, changedBy: 'a294' });
    expect(blame.settings.find((setting) => setting.pointer === '/padding')).toMatchObject({ version: 1 });
    expect(await bruteForce(t.db, key)).toEqual(new Map(blame.settings.map((s) => [s.pointer, { version: s.version, changedBy: s.changedBy, reason: s.reason }])));
    // The same version again is answered from what was kept (the same object); the next version's reads
    // only the change since, and equals a recomputation.
    expect(await store.blame.blame(key)).toBe(blame);
    await store.updateConfig({ service: key.service, patch: { settings: { s7: -1 } } }, { actor: 'late', reason: 'one more' });
    const next = await store.blame.blame(key);
    expect(next.settings.find((setting) => setting.pointer === '/settings/s7')).toMatchObject({ version: 301, changedBy: 'late', value: -1 });
    expect(await bruteForce(t.db, key)).toEqual(new Map(next.settings.map((s) => [s.pointer, { version: s.version, changedBy: s.changedBy, reason: s.reason }])));
    console.log(`blame of 300 versions of ~40 KB, first read: ${first.toFixed(0)} ms`);
  }, 120_000);
});
