// Group commit (src/store/writeBatch.ts): updates that arrive together share one statement, and each
// keeps its own audit row, author, version check and outcome. Invariants 1 and 4 of DESIGN.md, batched.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigStore } from '../src/store/configStore.ts';
import { SecretRejectedError, ValidationError, VersionConflictError } from '../src/store/errors.ts';
import { type RowWrite, type StatementRunner, WriteBatcher } from '../src/store/writeBatch.ts';
import { backends, openTestDatabase, tablesDigest, type TestDatabase } from './support/databases.ts';

interface AuditRow {
  service_name: string;
  version: number;
  action: string;
  changed_by: string;
  reason: string | null;
}

describe.each(backends)('batched writes on %s', (backend) => {
  let db: TestDatabase;
  let store: ConfigStore;
  let databaseUser: string;

  const audit = (service: string) =>
    db.query<AuditRow>(
      `SELECT service_name, version, action::text AS action, changed_by, reason FROM config_audit_log
        WHERE service_name = $1 AND environment = 'production' ORDER BY revision`,
      [service],
    );
  const create = async (service: string, config: object = { n: 0 }) => store.createConfig({ service, config }, { actor: 'setup' });

  beforeAll(async () => {
    db = await openTestDatabase(backend, { poolSize: 12 });
    store = new ConfigStore(db);
    await store.start();
    databaseUser = (await db.query<{ user: string }>('SELECT current_user::text AS user'))[0]!.user;
  });
  afterAll(async () => {
    await store.stop();
    await db.close();
  });

  it('writes updates of many configs that arrive together in fewer statements, each with its own audit row, actor and reason', async () => {
    const services = Array.from({ length: 12 }, (_, i) => `batch-many-${i}`);
    for (const service of services) await create(service);
    const before = { ...store.batcher.stats };
    const writes = await Promise.all(
      services.map((service, i) => store.updateConfig({ service, patch: { n: i + 1 } }, { actor: `actor-${i}`, reason: `reason ${i}` })),
    );
    const statements = store.batcher.stats.statements - before.statements;
    expect(store.batcher.stats.rows - before.rows).toBe(services.length);
    expect(statements).toBeLessThan(services.length);
    writes.forEach((write, i) => {
      expect(write.config).toMatchObject({ serviceName: services[i], version: 2, config: { n: i + 1 }, updatedBy: `actor-${i}` });
      expect(write.previousVersion).toBe(1);
    });
    for (const [i, service] of services.entries()) {
      expect(await audit(service)).toEqual([
        { service_name: service, version: 1, action: 'CREATE', changed_by: 'setup', reason: null },
        { service_name: service, version: 2, action: 'UPDATE', changed_by: `actor-${i}`, reason: `reason ${i}` },
      ]);
    }
  });

  it('keeps a batched author to its statement: a later plain UPDATE is recorded as the database user', async () => {
    await create('batch-then-psql');
    await Promise.all([
      store.updateConfig({ service: 'batch-then-psql', patch: { n: 1 } }, { actor: 'batched', reason: 'batched' }),
      create('batch-then-psql-other'),
    ]);
    // Every pooled connection, so the one that ran the batch is among them.
    await Promise.all(
      Array.from({ length: 12 }, () =>
        db.session((sql) => sql.query(`UPDATE service_configs SET config = config || '{"psql": true}' WHERE service_name = 'batch-then-psql'`)),
      ),
    );
    const rows = await audit('batch-then-psql');
    expect(rows[1]).toMatchObject({ version: 2, changed_by: 'batched', reason: 'batched' });
    for (const row of rows.slice(2)) expect(row).toMatchObject({ action: 'UPDATE', changed_by: databaseUser, reason: null });
  });

  it('takes the author of a row from confighub.authors, and the others from confighub.actor and confighub.reason', async () => {
    await create('authors-named');
    await create('authors-not-named');
    const [named] = await db.query<{ id: number }>(`SELECT id FROM service_configs WHERE service_name = 'authors-named'`);
    await db.transaction(async (sql) => {
      await sql.query(`SELECT set_config('confighub.actor', 'session-actor', true), set_config('confighub.reason', 'session reason', true)`);
      await sql.query(`SELECT set_config('confighub.authors', $1, true)`, [JSON.stringify({ [named!.id]: { actor: 'row-actor', reason: 'row reason' } })]);
      await sql.query(`UPDATE service_configs SET config = config || '{"n": 1}' WHERE service_name IN ('authors-named', 'authors-not-named')`);
    });
    expect((await audit('authors-named'))[1]).toMatchObject({ changed_by: 'row-actor', reason: 'row reason' });
    expect((await audit('authors-not-named'))[1]).toMatchObject({ changed_by: 'session-actor', reason: 'session reason' });
  });

  // Invariant 1, through one instance (batched, writes of one config in order) and through several.
  it.each([
    ['one config', 1],
    ['many configs', 10],
  ])('8 concurrent writers x 40 updates on %s lose nothing; versions contiguous, one audit row each', async (_name, configCount) => {
    const services = Array.from({ length: configCount }, (_, i) => `batch-contended-${configCount}-${i}`);
    for (const service of services) await create(service, { counters: {} });
    const writers = 8;
    const updatesEach = 40;
    // Half the writers share this instance's store (batched together), half have their own (other instances).
    const stores = Array.from({ length: writers }, (_, writer) => (writer % 2 === 0 ? store : new ConfigStore(db)));
    const done = new Map<string, number>();
    await Promise.all(
      stores.map(async (writerStore, writer) => {
        for (let i = 0; i < updatesEach; i++) {
          const service = services[(writer + i) % services.length]!;
          const field = `w${writer}`;
          // A merge patch of one counter per writer: retried by the store while another write moves the version.
          const current = await writerStore.getConfig(service);
          const value = ((current.config as { counters: Record<string, number> }).counters[field] ?? 0) + 1;
          try {
            await writerStore.updateConfig(
              { service, patch: { counters: { [field]: value } }, expectedVersion: current.version },
              { actor: `writer-${writer}`, reason: `update ${i}` },
            );
            done.set(`${service}/${field}`, value);
          } catch (error) {
            if (!(error instanceof VersionConflictError)) throw error;
            i--; // try this update again from a fresh read
          }
        }
      }),
    );
    let total = 0;
    for (const service of services) {
      const rows = await audit(service);
      // From the table: another instance's last change may not have been announced to this one's cache yet.
      const [current] = await db.query<{ version: number; config: { counters: Record<string, number> } }>(
        `SELECT version, config FROM service_configs WHERE service_name = $1`,
        [service],
      );
      expect(rows.map((row) => row.version)).toEqual(Array.from({ length: rows.length }, (_, i) => i + 1));
      expect(current!.version).toBe(rows.length);
      const counters = current!.config.counters;
      for (const [field, value] of Object.entries(counters)) expect(done.get(`${service}/${field}`)).toBe(value);
      for (const row of rows.slice(1)) expect(row.changed_by).toMatch(/^writer-\d$/);
      total += rows.length - 1;
    }
    expect(total).toBe(writers * updatesEach);
  });

  /** A batcher on the test database whose first statement waits for `release()` before it is sent. */
  function gatedBatcher(holdMs: number) {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const sent: number[] = [];
    /** What happened, in order: statements sent (with their rows' services) and what the test logs. */
    const events: string[] = [];
    const run: StatementRunner = async (sql, params, options) => {
      const rows = JSON.parse(params[0] as string) as { id: number }[];
      sent.push(rows.length);
      events.push(`statement ${sent.length} sent`);
      if (sent.length === 1) await gate;
      return db.query(sql, params, options);
    };
    return { batcher: new WriteBatcher(run, { holdMs }), sent, events, release };
  }
  const rowWrite = async (service: string, n: number): Promise<RowWrite> => {
    const { config } = await create(service);
    return { id: config.id, version: config.version, config: { n }, description: null, deleted: false, actor: 'held', reason: null };
  };
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

  it('holds writes that arrive while a statement is under way and sends them together once it is done', async () => {
    const [a, b, c] = await Promise.all(['hold-a', 'hold-b', 'hold-c'].map((service, i) => rowWrite(service, i + 1)));
    const { batcher, sent, release } = gatedBatcher(60_000);
    const first = batcher.write(a!);
    await nextTurn();
    // b and c arrive in two later turns of the event loop, while the first statement is under way.
    const second = batcher.write(b!);
    await nextTurn();
    const third = batcher.write(c!);
    await nextTurn();
    expect(sent).toEqual([1]);
    release();
    const rows = await Promise.all([first, second, third]);
    expect(sent).toEqual([1, 2]);
    expect(rows.map((row) => [row?.serviceName, row?.version, row?.updatedBy])).toEqual([
      ['hold-a', 2, 'held'],
      ['hold-b', 2, 'held'],
      ['hold-c', 2, 'held'],
    ]);
    expect(batcher.stats).toMatchObject({ statements: 2, rows: 3, largestBatch: 2 });
  });

  it.each([
    ['sends the writes that waited for a statement before it answers the writes of that statement', false, ['statement 2 sent', 'first write answered']],
    // Another write of the first config waits behind it (its store starts it once this one is settled).
    ['answers a statement first when a write of one of its configs waits for that, then sends the next', true, ['first write answered', 'statement 2 sent']],
  ])('%s', async (_name, followed, after) => {
    const [a, b] = await Promise.all(['order-a', 'order-b'].map((service, i) => rowWrite(`${service}-${followed}`, i + 1)));
    const { batcher, events, release } = gatedBatcher(60_000);
    const first = batcher.write({ ...a!, followed: () => followed }).then((row) => {
      events.push('first write answered');
      return row;
    });
    await nextTurn();
    const second = batcher.write(b!);
    await nextTurn();
    release();
    const rows = await Promise.all([first, second]);
    expect(events).toEqual(['statement 1 sent', ...after]);
    expect(rows.map((row) => row?.version)).toEqual([2, 2]);
  });

  it('a refused batch split into single writes holds the writes behind it until its retries are done, then lets them go', async () => {
    const [a, b, c, d] = await Promise.all(['split-a', 'split-b', 'split-c', 'split-d'].map((service, i) => rowWrite(service, i + 1)));
    // jsonb refuses a NUL character: the statement carrying b fails as a whole (SQLSTATE 22P05).
    const refused = { ...b!, config: { n: 'nul \u0000 here' } };
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const events: string[] = [];
    let later: Promise<unknown> | undefined;
    const run: StatementRunner = async (sql, params, options) => {
      events.push(`sent ${(JSON.parse(params[0] as string) as unknown[]).length}`);
      if (events.length === 1) await gate;
      // While the batch of b and c is under way, d arrives.
      if (events.length === 2) later = batcher.write(d!);
      return db.query(sql, params, options);
    };
    const batcher = new WriteBatcher(run, { holdMs: 60_000, maxInFlight: 1 });
    const first = batcher.write(a!);
    await nextTurn();
    const settled = Promise.allSettled([batcher.write(refused), batcher.write(c!)]);
    await nextTurn();
    release();
    const [bOutcome, cOutcome] = await settled;
    expect(await first).toMatchObject({ serviceName: 'split-a', version: 2 });
    expect(bOutcome).toMatchObject({ status: 'rejected', reason: { code: '22P05' } });
    expect(cOutcome).toMatchObject({ status: 'fulfilled', value: { serviceName: 'split-c', version: 2 } });
    expect(await later).toMatchObject({ serviceName: 'split-d', version: 2 });
    // a; b and c together (refused); b and c alone; only then d.
    expect(events).toEqual(['sent 1', 'sent 2', 'sent 1', 'sent 1', 'sent 1']);
    expect(batcher.stats).toMatchObject({ statements: 3, rows: 3, split: 1 });
    // The batcher is free again: a write goes straight through.
    expect(await batcher.write({ ...a!, version: 2, config: { n: 10 } })).toMatchObject({ serviceName: 'split-a', version: 3 });
  });

  it('a statement under way longer than holdMs holds the next one back no more', async () => {
    const [a, b] = await Promise.all(['stuck-a', 'stuck-b'].map((service, i) => rowWrite(service, i + 1)));
    const { batcher, sent, release } = gatedBatcher(30);
    const first = batcher.write(a!);
    await nextTurn();
    // The first statement is stuck (until released); the second goes after holdMs and commits first.
    expect(await batcher.write(b!)).toMatchObject({ serviceName: 'stuck-b', version: 2 });
    expect(sent).toEqual([1, 1]);
    release();
    expect(await first).toMatchObject({ serviceName: 'stuck-a', version: 2 });
  });

  it('a version conflict in the middle of a batch fails that request alone, writes nothing for it, and the others commit', async () => {
    for (const service of ['mid-a', 'mid-b', 'mid-c']) await create(service);
    // An instance that has not heard of the change below yet (not started: no notifications), with all
    // three cached at version 1, so mid-b's stale write reaches the batch and fails there.
    const late = new ConfigStore(db);
    // A dry run of each: the rows and the schema lookups are cached, so the three writes below meet in one batch.
    for (const service of ['mid-a', 'mid-b', 'mid-c']) await late.updateConfig({ service, patch: { n: -1 }, dryRun: true }, { actor: 'late' });
    // Someone else (psql, another instance) moves mid-b underneath that cache.
    await db.session((sql) => sql.query(`UPDATE service_configs SET config = '{"n": 100}' WHERE service_name = 'mid-b'`));
    const auditBefore = await audit('mid-b');
    const [a, b, c] = await Promise.allSettled([
      late.updateConfig({ service: 'mid-a', patch: { n: 1 } }, { actor: 'alice', reason: 'a' }),
      late.updateConfig({ service: 'mid-b', patch: { n: 2 }, expectedVersion: 1 }, { actor: 'bob', reason: 'b' }),
      late.updateConfig({ service: 'mid-c', patch: { n: 3 } }, { actor: 'carol', reason: 'c' }),
    ]);
    expect(late.batcher.stats).toMatchObject({ statements: 1, rows: 2, largestBatch: 3, split: 0 });
    expect(a.status).toBe('fulfilled');
    expect(c.status).toBe('fulfilled');
    expect(b.status).toBe('rejected');
    expect((b as PromiseRejectedResult).reason).toBeInstanceOf(VersionConflictError);
    expect((b as PromiseRejectedResult).reason).toMatchObject({ expectedVersion: 1, currentVersion: 2 });
    expect(await audit('mid-b')).toEqual(auditBefore);
    expect((await audit('mid-a')).at(-1)).toMatchObject({ version: 2, changed_by: 'alice', reason: 'a' });
    expect((await audit('mid-c')).at(-1)).toMatchObject({ version: 2, changed_by: 'carol', reason: 'c' });
    // Without expectedVersion the moved config is read again and the write goes through.
    const retried = await late.updateConfig({ service: 'mid-b', patch: { n: 2 } }, { actor: 'bob', reason: 'b' });
    expect(retried.config).toMatchObject({ version: 3, config: { n: 2 }, updatedBy: 'bob' });
  });

  it('a write the database refuses in the middle of a batch fails alone and writes nothing; the others commit', async () => {
    for (const service of ['refused-a', 'refused-b', 'refused-c']) {
      await create(service);
      await store.updateConfig({ service, patch: { n: -1 }, dryRun: true }, { actor: 'setup' }); // all it needs is cached now
    }
    const before = await audit('refused-b');
    // A rule only the database knows (an operator's trigger): it refuses refused-b's change, so the whole
    // statement fails; then each write is tried alone.
    await db.session((sql) =>
      sql.exec(`CREATE FUNCTION test_refuse_b() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'refused by an operator rule' USING ERRCODE = 'check_violation'; END $$;
                CREATE TRIGGER test_refuse_b BEFORE UPDATE ON service_configs
                  FOR EACH ROW WHEN (NEW.service_name = 'refused-b') EXECUTE FUNCTION test_refuse_b();`),
    );
    const statsBefore = { ...store.batcher.stats };
    let settled: PromiseSettledResult<unknown>[];
    try {
      settled = await Promise.allSettled([
        store.updateConfig({ service: 'refused-a', patch: { n: 1 } }, { actor: 'alice', reason: 'a' }),
        store.updateConfig({ service: 'refused-b', patch: { n: 2 } }, { actor: 'bob', reason: 'b' }),
        store.updateConfig({ service: 'refused-c', patch: { n: 3 } }, { actor: 'carol', reason: 'c' }),
      ]);
    } finally {
      await db.session((sql) => sql.exec('DROP TRIGGER test_refuse_b ON service_configs; DROP FUNCTION test_refuse_b();'));
    }
    const [a, b, c] = settled;
    expect([a!.status, b!.status, c!.status]).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((b as PromiseRejectedResult).reason).toMatchObject({ message: expect.stringContaining('refused by an operator rule') });
    // One batch of three, refused; then a and c were written alone and b refused alone.
    expect(store.batcher.stats.split - statsBefore.split).toBe(1);
    expect(store.batcher.stats.statements - statsBefore.statements).toBe(2);
    expect(await audit('refused-b')).toEqual(before);
    expect((await store.getConfig('refused-b')).version).toBe(1);
    expect((await audit('refused-a')).at(-1)).toMatchObject({ version: 2, changed_by: 'alice', reason: 'a' });
    expect((await audit('refused-c')).at(-1)).toMatchObject({ version: 2, changed_by: 'carol', reason: 'c' });
  });

  it('a validation or secret refusal among concurrent writes writes nothing for it and does not disturb the others', async () => {
    for (const service of ['valid-a', 'valid-c']) await create(service);
    const digestOf = async () => (await audit('polygon-historical-downloader')).length;
    const historyBefore = await digestOf();
    const [a, schema, secret, c] = await Promise.allSettled([
      store.updateConfig({ service: 'valid-a', patch: { n: 1 } }, { actor: 'alice' }),
      store.updateConfig({ service: 'polygon-historical-downloader', patch: { operational: { batch_size: 'huge' } } }, { actor: 'bob' }),
      store.updateConfig({ service: 'polygon-historical-downloader', patch: { db_password: 'hunter2hunter2' } }, { actor: 'eve' }),
      store.updateConfig({ service: 'valid-c', patch: { n: 3 } }, { actor: 'carol' }),
    ]);
    expect(a.status).toBe('fulfilled');
    expect(c.status).toBe('fulfilled');
    expect((schema as PromiseRejectedResult).reason).toBeInstanceOf(ValidationError);
    expect((secret as PromiseRejectedResult).reason).toBeInstanceOf(SecretRejectedError);
    expect(await digestOf()).toBe(historyBefore);
    expect((await store.getConfig('valid-a')).version).toBe(2);
    expect((await store.getConfig('valid-c')).version).toBe(2);
  });

  it('deletes, restores and updates of different configs batch together with the right actions', async () => {
    for (const service of ['mixed-del', 'mixed-upd']) await create(service);
    await store.deleteConfig({ service: 'mixed-del' }, { actor: 'dora' });
    await Promise.all([
      store.restoreConfig({ service: 'mixed-del' }, { actor: 'rita', reason: 'back' }),
      store.updateConfig({ service: 'mixed-upd', patch: { n: 9 } }, { actor: 'uma', reason: 'up' }),
    ]);
    expect((await audit('mixed-del')).map((row) => [row.action, row.changed_by, row.reason])).toEqual([
      ['CREATE', 'setup', null],
      ['DELETE', 'dora', null],
      ['RESTORE', 'rita', 'back'],
    ]);
    expect((await audit('mixed-upd')).at(-1)).toMatchObject({ action: 'UPDATE', changed_by: 'uma', reason: 'up' });
  });

  it('a refused request in a batch leaves both tables as they were', async () => {
    await create('digest-target');
    const late = new ConfigStore(db);
    await late.getConfig('digest-target');
    await db.session((sql) => sql.query(`UPDATE service_configs SET config = '{"n": 5}' WHERE service_name = 'digest-target'`));
    const digest = await tablesDigest(db);
    await expect(
      late.updateConfig({ service: 'digest-target', patch: { n: 6 }, expectedVersion: 1 }, { actor: 'late' }),
    ).rejects.toBeInstanceOf(VersionConflictError);
    expect(await tablesDigest(db)).toBe(digest);
  });
});

// PostgreSQL only: PGlite has one connection, so there an open transaction holds up everything by design.
describe('batched writes on postgres, beside an operator\'s open transaction', () => {
  let db: TestDatabase;
  let store: ConfigStore;

  beforeAll(async () => {
    db = await openTestDatabase('postgres', { poolSize: 12 });
    store = new ConfigStore(db);
    await store.start();
  });
  afterAll(async () => {
    await store.stop();
    await db.close();
  });

  it('a row locked by an open transaction elsewhere does not hold up the writes of other configs', async () => {
    for (const service of ['locked-x', 'free-y']) await store.createConfig({ service, config: { n: 0 } }, { actor: 'setup' });
    await store.updateConfig({ service: 'free-y', patch: { n: -1 }, dryRun: true }, { actor: 'setup' });
    // An operator's transaction holds locked-x's row and stays open.
    const operator = new pg.Client({ connectionString: db.url! });
    await operator.connect();
    try {
      await operator.query('BEGIN');
      await operator.query(`UPDATE service_configs SET config = config || '{"operator": true}' WHERE service_name = 'locked-x'`);
      const blocked = store.updateConfig({ service: 'locked-x', patch: { n: 1 } }, { actor: 'waits' });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const free = await store.updateConfig({ service: 'free-y', patch: { n: 1 } }, { actor: 'goes' });
      expect(free.config).toMatchObject({ version: 2, updatedBy: 'goes' });
      await operator.query('COMMIT');
      // The blocked write finds the version moved, reads again and goes through after the operator's.
      expect((await blocked).config).toMatchObject({ version: 3, config: { n: 1, operator: true }, updatedBy: 'waits' });
    } finally {
      await operator.query('ROLLBACK').catch(() => {});
      await operator.end();
    }
  });
});
