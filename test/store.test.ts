import { readFileSync, readdirSync } from 'node:fs';
import { getPriority } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigStore } from '../src/store/configStore.ts';
import { WORKER_THRESHOLD_CHARS, diffTexts } from '../src/store/documentChecks.ts';
import { ConfigHistory } from '../src/store/history.ts';
import { readPatch, writePatch } from '../src/store/patchText.ts';
import { configKey } from '../src/store/names.ts';
import { type JsonObject, diffDocuments } from '../src/store/documents.ts';
import { NotFoundError, ValidationError, VersionConflictError } from '../src/store/errors.ts';
import { backends, openTestDatabase, tablesDigest, type TestDatabase } from './support/databases.ts';

const author = { actor: 'store-test', reason: 'testing' };

describe.each(backends)('config store on %s', (backend) => {
  let db: TestDatabase;
  let store: ConfigStore;

  beforeAll(async () => {
    db = await openTestDatabase(backend, { poolSize: 12 });
    store = new ConfigStore(db);
    await store.start();
  });
  afterAll(async () => {
    await store.stop();
    await db.close();
  });

  it('serves the seeded pilot services', async () => {
    const config = await store.getConfig('polygon-historical-downloader');
    expect(config.version).toBe(1);
    expect(config.config).toMatchObject({ operational: { gap_check_interval_hours: 6 } });
  });

  it('merge-patches, records the change and its author, and diffs versions', async () => {
    await store.createConfig({ service: 'patch-target', config: { a: { b: 1, c: 2 }, keep: true } }, author);
    const write = await store.updateConfig({ service: 'patch-target', patch: { a: { b: 5, c: null } } }, author);
    expect(write.config.version).toBe(2);
    expect(write.config.config).toEqual({ a: { b: 5 }, keep: true });
    expect(await write.diff()).toEqual([
      { op: 'remove', path: '/a/c' },
      { op: 'replace', path: '/a/b', value: 5 },
    ]);
    const [latest] = await store.history.listChanges({ service: 'patch-target', environment: 'production' });
    expect(latest).toMatchObject({ version: 2, action: 'UPDATE', changedBy: 'store-test', reason: 'testing' });
    expect(readPatch(await store.history.diffVersions({ service: 'patch-target', environment: 'production' }, 1, 2))).toEqual(readPatch(await write.diff()));
  });

  it('rolls back by writing a new version with the old content', async () => {
    await store.createConfig({ service: 'rollback-target', config: { level: 1 } }, author);
    await store.updateConfig({ service: 'rollback-target', patch: { level: 2 } }, author);
    const rollback = await store.rollbackConfig({ service: 'rollback-target', toVersion: 1 }, author);
    expect(rollback.config).toMatchObject({ version: 3, config: { level: 1 } });
    const actions = (await store.history.listChanges({ service: 'rollback-target', environment: 'production' })).map((c) => c.action);
    expect(actions).toEqual(['ROLLBACK', 'UPDATE', 'CREATE']);
  });

  it('rolls a deleted config back to life, recorded as a rollback, beside other writes of the same moment', async () => {
    await store.createConfig({ service: 'rollback-deleted', config: { level: 1 } }, author);
    await store.createConfig({ service: 'rollback-neighbour', config: { level: 1 } }, author);
    await store.deleteConfig({ service: 'rollback-deleted' }, author);
    // Sent together: one batched statement may carry both, each with its own action.
    const [rollback, update] = await Promise.all([
      store.rollbackConfig({ service: 'rollback-deleted', toVersion: 1 }, { actor: 'operator', reason: null }),
      store.updateConfig({ service: 'rollback-neighbour', patch: { level: 2 } }, author),
    ]);
    expect(rollback.config).toMatchObject({ version: 3, config: { level: 1 }, deletedAt: null, updatedBy: 'operator' });
    expect(await rollback.diff()).toEqual([{ op: 'add', path: '/level', value: 1 }]);
    expect(update.config.version).toBe(2);
    const [latest] = await store.history.listChanges({ service: 'rollback-deleted', environment: 'production' });
    expect(latest).toMatchObject({ version: 3, action: 'ROLLBACK', changedBy: 'operator', reason: 'rollback to version 1' });
    const [neighbour] = await store.history.listChanges({ service: 'rollback-neighbour', environment: 'production' });
    expect(neighbour).toMatchObject({ version: 2, action: 'UPDATE', reason: 'testing' });
  });

  it('soft-deletes and restores, both audited', async () => {
    await store.createConfig({ service: 'lifecycle', config: { on: true } }, author);
    await store.deleteConfig({ service: 'lifecycle' }, author);
    await expect(store.getConfig('lifecycle')).rejects.toBeInstanceOf(NotFoundError);
    const restored = await store.restoreConfig({ service: 'lifecycle' }, author);
    expect(restored.config).toMatchObject({ version: 3, config: { on: true }, deletedAt: null });
  });

  it('a dry run returns the diff and writes nothing', async () => {
    const before = await tablesDigest(db);
    const dry = await store.updateConfig({ service: 'tick-aggregator', patch: { features: { enable_vwap: false } }, dryRun: true }, author);
    expect(dry).toMatchObject({ dryRun: true, changed: true });
    expect(await dry.diff()).toEqual([{ op: 'replace', path: '/features/enable_vwap', value: false }]);
    expect(await tablesDigest(db)).toBe(before);
  });

  it("a large document's diff, worked out on the worker thread, is the one worked out in place", async () => {
    const settings = (version: number) => Object.fromEntries(Array.from({ length: 3000 }, (_, index) => [`setting_${index}`, index % 7 === 0 ? version : index]));
    const first = { settings: settings(1), gone: true, kind: { a: 1 }, list: [{ a: 1 }] };
    const created = await store.createConfig({ service: 'large-diff', config: first }, author);
    expect(JSON.stringify(created.config.config).length).toBeGreaterThan(WORKER_THRESHOLD_CHARS);
    const next: JsonObject = { settings: settings(2), added: [1, { deep: { x: 2 } }], kind: [1, { b: 2 }], list: [{ a: 1 }, { b: [2] }, 3] };
    const write = await store.updateConfig({ service: 'large-diff', config: next, dryRun: true }, author);
    const inPlace = diffDocuments(created.config.config as JsonObject, next);
    expect(inPlace).toHaveLength(Math.ceil(3000 / 7) + 5);
    expect(readPatch(await write.diff())).toEqual(inPlace);
    expect(readPatch(await created.diff())).toEqual(diffDocuments({}, first));
    expect(readPatch(await write.diff(), 5, 9)).toEqual(inPlace.slice(5, 9));
  });

  it('diffs a large change once for all the replays reading it at the same time, and keeps the patch written out', async () => {
    const settings = (version: number) => Object.fromEntries(Array.from({ length: 3000 }, (_, index) => [`s_${index}`, `${index}-v${version}`]));
    await store.createConfig({ service: 'replayed-together', config: settings(1) }, author);
    await store.updateConfig({ service: 'replayed-together', config: settings(2) }, author);
    let diffs = 0;
    const history = new ConfigHistory(db, async (from, to) => {
      diffs++;
      return writePatch(diffTexts(from, to));
    });
    const rows = await history.changesAfter(configKey('replayed-together'), 0);
    expect(rows.map((row) => row.version)).toEqual([1, 2]);
    // Four subscribers reconnecting together replay the same changes.
    const replays = await Promise.all(Array.from({ length: 4 }, () => Promise.all(rows.map((row) => history.parseChange(row)))));
    expect(diffs).toBe(2);
    const [first] = replays;
    expect(first!.map(({ change }) => change.newConfig)).toEqual([settings(1), settings(2)]);
    expect(first!.map(({ patch }) => readPatch(patch!))).toEqual([diffDocuments(null, settings(1)), diffDocuments(settings(1), settings(2))]);
    expect(readPatch(first![1]!.patch!, 2990, 3005)).toEqual(diffDocuments(settings(1), settings(2)).slice(2990, 3005));
    for (const replay of replays) {
      replay.forEach(({ change, patch }, index) => {
        expect(change.newConfig).toEqual(first![index]!.change.newConfig);
        expect(patch).toBe(first![index]!.patch);
      });
    }
    expect(first![1]!.change.oldConfig).toEqual(settings(1));
  });

  // Only where this process may be given nice 10 (it runs at less), on Linux, where threads have priorities of their own.
  it.runIf(process.platform === 'linux' && getPriority() < 10)('works out large documents on a thread that yields the CPU to the event loop (nice 10)', async () => {
    const large = Object.fromEntries(Array.from({ length: 3000 }, (_, index) => [`setting_${index}`, index]));
    await store.createConfig({ service: 'nice-check', config: large }, author);
    await store.updateConfig({ service: 'nice-check', patch: { setting_0: -1 }, dryRun: true }, author);
    const niceOf = (thread: string) => Number(readFileSync(`/proc/self/task/${thread}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
    expect(readdirSync('/proc/self/task').map(niceOf)).toContain(10);
    expect(niceOf(String(process.pid))).toBe(getPriority());
  });

  // Invariant 4: a request that fails writes nothing.
  it.each([
    ['unknown service', { service: 'no-such-service', patch: { a: 1 } }, NotFoundError],
    ['invalid service name', { service: 'Bad Name!', patch: { a: 1 } }, ValidationError],
    ['config that is not an object', { service: 'tick-aggregator', config: [1, 2] }, ValidationError],
    ['patch that is not an object', { service: 'tick-aggregator', patch: 'x' }, ValidationError],
    ['both patch and config', { service: 'tick-aggregator', patch: {}, config: {} }, ValidationError],
    ['stale expectedVersion', { service: 'tick-aggregator', patch: { a: 1 }, expectedVersion: 99 }, VersionConflictError],
  ])('refuses %s and writes nothing', async (_name, input, errorType) => {
    const before = await tablesDigest(db);
    await expect(store.updateConfig(input as never, author)).rejects.toBeInstanceOf(errorType);
    expect(await tablesDigest(db)).toBe(before);
  });

  // Invariant 1: versions contiguous, one audit row per version, no lost update.
  it('8 concurrent writers x 50 updates with expectedVersion lose nothing', async () => {
    await store.createConfig({ service: 'contended', config: { counters: {} } }, author);
    const writers = 8;
    const updatesEach = 50;
    // Each writer has its own store (its own cache), as separate gateway instances would.
    const stores = Array.from({ length: writers }, () => new ConfigStore(db));
    let conflicts = 0;
    await Promise.all(
      stores.map(async (writerStore, writer) => {
        for (let done = 0; done < updatesEach; ) {
          const current = await writerStore.getConfig('contended');
          const counters = (current.config as { counters: Record<string, number> }).counters;
          try {
            await writerStore.updateConfig(
              { service: 'contended', patch: { counters: { [`w${writer}`]: (counters[`w${writer}`] ?? 0) + 1 } }, expectedVersion: current.version },
              { actor: `writer-${writer}` },
            );
            done++;
          } catch (error) {
            if (!(error instanceof VersionConflictError)) throw error;
            conflicts++;
          }
        }
      }),
    );
    const final = await store.history.listChanges({ service: 'contended', environment: 'production' });
    const expectedVersions = writers * updatesEach + 1;
    expect(final).toHaveLength(expectedVersions);
    expect(final.map((change) => change.version)).toEqual(Array.from({ length: expectedVersions }, (_, i) => expectedVersions - i));
    const latest = final[0]!.newConfig as { counters: Record<string, number> };
    expect(Object.values(latest.counters)).toEqual(Array(writers).fill(updatesEach));
    if (backend === 'postgres') expect(conflicts).toBeGreaterThan(0);
  });
});

describe('document limits', () => {
  let db: TestDatabase;
  let store: ConfigStore;
  beforeAll(async () => {
    db = await openTestDatabase('pglite');
    store = new ConfigStore(db);
  });
  afterAll(async () => {
    await db.close();
  });

  const nested = (depth: number): Record<string, unknown> => {
    let value: Record<string, unknown> = { leaf: true };
    for (let level = 1; level < depth; level++) value = { n: value };
    return value;
  };

  it('refuses a config nested deeper than 32 levels, pointing at the first level too deep, and writes nothing', async () => {
    const before = await tablesDigest(db);
    await store.createConfig({ service: 'deep-but-fine', config: nested(32) }, author);
    const error = await store.createConfig({ service: 'too-deep', config: nested(33) }, author).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([{ pointer: `/config${'/n'.repeat(32)}`, message: 'config nests deeper than 32 levels' }]);
    await expect(store.getConfig('too-deep')).rejects.toBeInstanceOf(NotFoundError);
    expect(await tablesDigest(db)).not.toBe(before);
  });

  it('refuses a patch whose result passes 256 KiB, and writes nothing', async () => {
    await store.createConfig({ service: 'growing', config: { notes: 'x'.repeat(200 * 1024) } }, author);
    const before = await tablesDigest(db);
    const error = await store
      .updateConfig({ service: 'growing', patch: { more: 'y'.repeat(100 * 1024) } }, author)
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues[0]!.message).toMatch(/limit is 262144 \(256 KiB\)/);
    expect(await tablesDigest(db)).toBe(before);
  });
});
