import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.ts';
import { OVERRIDE_ACTOR, overrideChanges, revertReason, revertedDocument } from '../src/store/overrides.ts';
import { createTestApp, type TestApp, useTestApp } from './support/app.ts';
import { type TestDatabase, backends, createPostgresDatabase } from './support/databases.ts';

// Temporary overrides: a change with an expiry is reverted by the hub, once, as an audited version,
// putting back only what is still the override's own.

const author = { actor: 'oncall', reason: 'incident 42' };

async function until<T>(probe: () => Promise<T | undefined | null | false>, timeoutMs = 15_000, what = 'the condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await sleep(50);
  }
}

describe('the revert of an override', () => {
  it('puts back what is still its own, removes what it added, and leaves what changed since', () => {
    const before = { op: { batch: 100, mode: 'safe' }, flags: { a: true }, list: [1] };
    const after = { op: { batch: 500, mode: 'safe', extra: 1 }, flags: {}, list: [1, 2] };
    const changes = overrideChanges(before, after);
    expect(changes.map((change) => change.path.join('.')).sort()).toEqual(['flags', 'flags.a', 'list', 'op.batch', 'op.extra']);
    // Since the override: someone set list to [9].
    const now = { ...after, list: [9] };
    const { document, reverted, kept } = revertedDocument(now, changes);
    expect(document).toEqual({ op: { batch: 100, mode: 'safe' }, flags: { a: true }, list: [9] });
    expect(kept).toEqual(['/list']);
    expect(reverted.sort()).toEqual(['/flags', '/flags/a', '/op/batch', '/op/extra']);
    // Applied twice, the second finds nothing of its own left.
    expect(revertedDocument(document, changes).reverted).toEqual([]);
  });

  it('gives a reason the audit log takes, however long the override\'s own', () => {
    expect(revertReason({ version: 7, reason: null })).toBe('override of version 7 expired');
    const long = revertReason({ version: 7, reason: 'é'.repeat(1000) });
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(1024);
    expect(long).toMatch(/^override of version 7 expired \(é+…\)$/);
  });
});

describe.each(backends)('overrides on %s', (backend) => {
  const t = useTestApp(backend);

  const update = `mutation($input: UpdateConfigInput!) { updateConfig(input: $input) {
    __typename ... on ConfigWrite { changed config { version } override { id version settings expiresAt state createdBy reason } }
    ... on ValidationError { message issues { pointer message } } ... on Error { message } } }`;

  it('reverts at expiry as a new audited version, and lists the override until then', async () => {
    const service = `override-basic-${backend}`;
    await t.app.store.createConfig({ service, config: { op: { batch: 100, workers: 4 } } }, author);
    const { data } = await t.graphql(update, { input: { service, patch: { op: { batch: 500 } }, expiresIn: '2s', reason: 'more throughput for an hour' } });
    const write = data.updateConfig;
    expect(write).toMatchObject({ __typename: 'ConfigWrite', changed: true, config: { version: 2 } });
    expect(write.override).toMatchObject({ version: 2, settings: ['/op/batch'], state: 'OPEN', createdBy: 'admin', reason: 'more throughput for an hour' });
    const listed = await t.graphql(`{ config(service: "${service}") { ... on ServiceConfig { overrides { id settings expiresAt } } } }`);
    expect(listed.data.config.overrides).toEqual([{ id: write.override.id, settings: ['/op/batch'], expiresAt: write.override.expiresAt }]);

    const reverted = await until(async () => {
      const config = await t.app.store.getConfig(service);
      return config.version === 3 && config;
    }, 15_000, 'the revert');
    expect(reverted.config).toEqual({ op: { batch: 100, workers: 4 } });
    const [change] = await t.app.store.history.listChanges({ service, environment: 'production' }, { take: 1 });
    expect(change).toMatchObject({ version: 3, action: 'UPDATE', changedBy: OVERRIDE_ACTOR, reason: 'override of version 2 expired (more throughput for an hour)' });
    const done = await t.app.store.overrides.find(write.override.id);
    expect(done).toMatchObject({ state: 'reverted', revertedVersion: 3, outcome: 'reverted /op/batch' });
    const after = await t.graphql(`{ config(service: "${service}") { ... on ServiceConfig { overrides { id } } } }`);
    expect(after.data.config.overrides).toEqual([]);
  });

  it('leaves a setting a later change touched, and says so', async () => {
    const service = `override-touched-${backend}`;
    await t.app.store.createConfig({ service, config: { a: 1, b: 1 } }, author);
    const { data } = await t.graphql(update, { input: { service, patch: { a: 2, b: 2 }, expiresIn: '2s' } });
    await t.app.store.updateConfig({ service, patch: { b: 3 } }, { actor: 'someone', reason: 'b for good' });
    const done = await until(async () => {
      const override = await t.app.store.overrides.find(data.updateConfig.override.id);
      return override?.state === 'reverted' && override;
    }, 15_000, 'the revert');
    expect(done.outcome).toBe('reverted /a; left (changed since): /b');
    expect((await t.app.store.getConfig(service)).config).toEqual({ a: 1, b: 3 });
  });

  it('refuses an expiry it cannot keep, and records none for a dry run or a change of nothing', async () => {
    const service = `override-refused-${backend}`;
    await t.app.store.createConfig({ service, config: { a: 1 } }, author);
    for (const [expiry, pointer] of [
      [{ expiresIn: 'soon' }, '/expiresIn'],
      [{ expiresIn: '91d' }, '/expiresIn'],
      [{ expiresIn: '0s' }, '/expiresIn'],
      [{ expiresAt: new Date(Date.now() - 60_000).toISOString() }, '/expiresAt'],
      [{ expiresIn: '1h', expiresAt: new Date(Date.now() + 60_000).toISOString() }, '/expiresIn'],
    ] as const) {
      const { data } = await t.graphql(update, { input: { service, patch: { a: 2 }, ...expiry } });
      expect(data.updateConfig.__typename, JSON.stringify(expiry)).toBe('ValidationError');
      expect(data.updateConfig.issues[0].pointer).toBe(pointer);
    }
    expect((await t.app.store.getConfig(service)).version).toBe(1);
    const dry = await t.graphql(update, { input: { service, patch: { a: 2 }, expiresIn: '1h', dryRun: true } });
    expect(dry.data.updateConfig).toMatchObject({ changed: true, override: null });
    const same = await t.graphql(update, { input: { service, patch: { a: 1 }, expiresIn: '1h' } });
    expect(same.data.updateConfig).toMatchObject({ changed: false, override: null });
    expect(await t.app.store.overrides.open({ service, environment: 'production' })).toEqual([]);
  });
});

describe('overrides with two gateways on one PostgreSQL', () => {
  let databaseUrl: string;

  async function openGateway(): Promise<{ test: TestApp; close(): Promise<void> }> {
    const database: TestDatabase = Object.assign(await openDatabase({ url: databaseUrl }), { url: databaseUrl });
    const test = await createTestApp('postgres', { database });
    return {
      test,
      async close() {
        await test.close();
        await database.close();
      },
    };
  }

  const revertsOf = async (test: TestApp, service: string) =>
    (await test.db.query<{ count: number }>(`SELECT count(*)::int AS count FROM config_audit_log WHERE service_name = $1 AND changed_by = $2`, [service, OVERRIDE_ACTOR]))[0]!.count;

  beforeAll(async () => {
    databaseUrl = await createPostgresDatabase();
  });

  it('reverts each override once while both run', async () => {
    const [first, second] = await Promise.all([openGateway(), openGateway()]);
    try {
      const services = Array.from({ length: 6 }, (_, index) => `override-pair-${index}`);
      const expiresAt = new Date(Date.now() + 2_000);
      for (const [index, service] of services.entries()) {
        const gateway = index % 2 === 0 ? first : second;
        await gateway.test.app.store.createConfig({ service, config: { n: 0 } }, author);
        await gateway.test.app.store.updateConfig({ service, patch: { n: 1 }, expiresAt }, author);
      }
      for (const service of services) {
        await until(async () => (await first.test.app.store.overrides.open({ service, environment: 'production' })).length === 0, 20_000, `${service} reverted`);
      }
      // Both gateways swept the whole time; each override was reverted once.
      await sleep(1_500);
      for (const service of services) {
        expect(await revertsOf(first.test, service), service).toBe(1);
        expect((await first.test.app.store.getConfig(service)).config).toEqual({ n: 0 });
      }
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  }, 60_000);

  it('reverts, once, at the start of the gateways, an override that expired while both were down', async () => {
    const service = 'override-while-down';
    const writer = await openGateway();
    await writer.test.app.store.createConfig({ service, config: { n: 0 } }, author);
    await writer.test.app.store.updateConfig({ service, patch: { n: 1 }, expiresAt: new Date(Date.now() + 1_500) }, author);
    await writer.close();
    await sleep(2_500); // expired while no gateway ran
    const [first, second] = await Promise.all([openGateway(), openGateway()]);
    try {
      await until(async () => (await first.test.app.store.getConfig(service)).version === 3, 20_000, 'the revert at start');
      await sleep(1_500);
      expect(await revertsOf(first.test, service)).toBe(1);
      expect((await first.test.app.store.getConfig(service)).config).toEqual({ n: 0 });
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  }, 60_000);
});
