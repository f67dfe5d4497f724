// The database side of the contract, as an operator in psql meets it: plain SQL, no gateway. The
// triggers version and audit every write, whoever makes it; the SQL functions match the API's meaning.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlSession } from '../src/db/database.ts';
import { backends, openTestDatabase, tablesDigest, type TestDatabase } from './support/databases.ts';
import { eventually } from './support/waiting.ts';

interface HistoryRow {
  version: number;
  action: string;
  changed_by: string;
  reason: string | null;
  old_config: unknown;
  new_config: unknown;
}

interface ConfigRow {
  version: number;
  config: unknown;
  updated_by: string;
  deleted_at: Date | null;
}

/** Runs `work` in one explicit transaction on the session's connection; rolls back when it throws. */
async function inTransaction<T>(session: SqlSession, work: () => Promise<T>): Promise<T> {
  await session.exec('BEGIN');
  try {
    const result = await work();
    await session.exec('COMMIT');
    return result;
  } catch (error) {
    await session.exec('ROLLBACK');
    throw error;
  }
}

function queries(db: TestDatabase) {
  const query = <Row>(text: string, params?: unknown[]) => db.session((sql) => sql.query<Row>(text, params));
  return {
    query,
    /** As an operator would insert a config: plain SQL, nobody named. */
    insert: (service: string, config: object) =>
      query(`INSERT INTO service_configs (service_name, config, updated_by) VALUES ($1, $2::jsonb, 'psql')`, [service, JSON.stringify(config)]),
    current: async (service: string) =>
      (await query<ConfigRow>('SELECT version, config, updated_by, deleted_at FROM service_configs WHERE service_name = $1', [service]))[0],
    history: (service: string, limit = 50) =>
      query<HistoryRow>(
        `SELECT version, action::text AS action, changed_by, reason, old_config, new_config
           FROM get_config_history($1, 'production', $2)`,
        [service, limit],
      ),
  };
}

describe.each(backends)('SQL contract on %s', (backend) => {
  let db: TestDatabase;
  let sql: ReturnType<typeof queries>;
  let databaseUser: string;

  beforeAll(async () => {
    db = await openTestDatabase(backend);
    sql = queries(db);
    databaseUser = (await sql.query<{ user: string }>('SELECT current_user AS user'))[0]!.user;
  });
  afterAll(async () => {
    await db?.close();
  });

  /** Asserts that `statement` fails with `code` and changes neither table. */
  async function expectRefused(statement: () => Promise<unknown>, code: string, message?: RegExp, fields: Record<string, unknown> = {}) {
    const before = await tablesDigest(db);
    await expect(statement()).rejects.toMatchObject({ code, ...(message ? { message: expect.stringMatching(message) } : {}), ...fields });
    expect(await tablesDigest(db)).toBe(before);
  }

  it('a plain UPDATE with no settings (psql) is versioned and audited as the database user', async () => {
    await sql.query(
      `UPDATE service_configs SET config = jsonb_set(config, '{operational,batch_size}', '2500')
        WHERE service_name = 'polygon-historical-downloader'`,
    );
    const row = await sql.current('polygon-historical-downloader');
    expect(row).toMatchObject({ version: 2, updated_by: databaseUser });
    expect(row!.config).toMatchObject({ operational: { batch_size: 2500, gap_check_interval_hours: 6 } });

    const [latest, first, ...rest] = await sql.history('polygon-historical-downloader', 10);
    expect(rest).toEqual([]);
    expect(latest).toMatchObject({ version: 2, action: 'UPDATE', changed_by: databaseUser, reason: null });
    expect(latest!.old_config).toMatchObject({ operational: { batch_size: 5000 } });
    expect(latest!.new_config).toMatchObject({ operational: { batch_size: 2500 } });
    expect(first).toMatchObject({ version: 1, action: 'CREATE', changed_by: 'seed' });
  });

  it('confighub.actor and confighub.reason set in the transaction name the author; they end with it', async () => {
    await sql.insert('sql-actor', { retries: 3 });
    await db.session(async (session) => {
      await inTransaction(session, async () => {
        await session.query(`SELECT set_config('confighub.actor', 'alice', true), set_config('confighub.reason', 'incident 4711', true)`);
        await session.query(`UPDATE service_configs SET config = config || '{"retries": 5}' WHERE service_name = 'sql-actor'`);
      });
      // The same connection, a new transaction: the settings were transaction-local.
      await session.query(`UPDATE service_configs SET config = config || '{"retries": 6}' WHERE service_name = 'sql-actor'`);
    });
    const [second, first] = await sql.history('sql-actor', 2);
    expect(first).toMatchObject({ version: 2, action: 'UPDATE', changed_by: 'alice', reason: 'incident 4711', new_config: { retries: 5 } });
    expect(second).toMatchObject({ version: 3, action: 'UPDATE', changed_by: databaseUser, reason: null, new_config: { retries: 6 } });
    expect(await sql.current('sql-actor')).toMatchObject({ version: 3, updated_by: databaseUser });
  });

  it('get_config_history lists newest first and honours its limit', async () => {
    await sql.insert('sql-history', { step: 0 });
    for (let step = 1; step <= 4; step++) {
      await sql.query(`UPDATE service_configs SET config = jsonb_build_object('step', $1::int) WHERE service_name = 'sql-history'`, [step]);
    }
    expect((await sql.history('sql-history')).map((row) => row.version)).toEqual([5, 4, 3, 2, 1]);
    expect((await sql.history('sql-history', 2)).map((row) => row.version)).toEqual([5, 4]);
    expect(await sql.history('sql-history', 0)).toEqual([]);
    expect(await sql.history('no-such-service')).toEqual([]);
  });

  it('one UPDATE that deletes one config and restores another records each action, with the transaction\'s author', async () => {
    await sql.insert('sql-swap-a', { live: true });
    await sql.insert('sql-swap-b', { live: false });
    await sql.query(`UPDATE service_configs SET deleted_at = now() WHERE service_name = 'sql-swap-b'`);
    await db.session((session) =>
      inTransaction(session, async () => {
        await session.query(`SELECT set_config('confighub.actor', 'ops', true), set_config('confighub.reason', 'swap', true)`);
        await session.query(
          `UPDATE service_configs SET deleted_at = CASE WHEN service_name = 'sql-swap-a' THEN now() END
            WHERE service_name IN ('sql-swap-a', 'sql-swap-b')`,
        );
      }),
    );
    const [deleted] = await sql.history('sql-swap-a', 1);
    const [restored, deletedBefore] = await sql.history('sql-swap-b', 2);
    expect(deleted).toMatchObject({ version: 2, action: 'DELETE', changed_by: 'ops', reason: 'swap', old_config: { live: true }, new_config: null });
    expect(deletedBefore).toMatchObject({ version: 2, action: 'DELETE', changed_by: databaseUser, reason: null });
    expect(restored).toMatchObject({ version: 3, action: 'RESTORE', changed_by: 'ops', reason: 'swap', old_config: null, new_config: { live: false } });
  });

  it('one UPDATE of several configs, and an upsert, are audited row by row with notices in revision order', async () => {
    await sql.insert('sql-multi-a', { n: 1 });
    await sql.insert('sql-multi-b', { n: 1 });
    const notices: { service: string; version: number; revision: number }[] = [];
    const stop = await db.listen('config_changes', (payload) => notices.push(JSON.parse(payload)));
    try {
      await sql.query(`UPDATE service_configs SET config = config || '{"n": 2}' WHERE service_name IN ('sql-multi-a', 'sql-multi-b')`);
      await sql.query(`UPDATE service_configs SET config = config || '{"n": 3}' WHERE service_name = 'sql-no-such-config'`);
      await sql.query(
        `INSERT INTO service_configs (service_name, config, updated_by) VALUES ('sql-multi-a', '{"n": 9}', 'psql')
           ON CONFLICT (service_name, environment) DO UPDATE SET config = EXCLUDED.config`,
      );
      await eventually(async () => notices.length, (count) => count >= 3);
    } finally {
      await stop();
    }
    const [upsert, multiA] = await sql.history('sql-multi-a', 2);
    const [multiB] = await sql.history('sql-multi-b', 1);
    expect(multiA).toMatchObject({ version: 2, action: 'UPDATE', changed_by: databaseUser, old_config: { n: 1 }, new_config: { n: 2 } });
    expect(multiB).toMatchObject({ version: 2, action: 'UPDATE', changed_by: databaseUser, old_config: { n: 1 }, new_config: { n: 2 } });
    expect(upsert).toMatchObject({ version: 3, action: 'UPDATE', old_config: { n: 2 }, new_config: { n: 9 } });
    expect(notices.map((notice) => [notice.service, notice.version])).toEqual([
      ['sql-multi-a', 2],
      ['sql-multi-b', 2],
      ['sql-multi-a', 3],
    ]);
    expect(notices.map((notice) => notice.revision)).toEqual([...notices.map((notice) => notice.revision)].sort((x, y) => x - y));
  });

  it('an INSERT starts at version 1 with a CREATE row, whatever version and author it names', async () => {
    await sql.query(
      `INSERT INTO service_configs (service_name, config, version, updated_by) VALUES ('sql-insert', '{"on": true}', 7, 'mallory')`,
    );
    expect(await sql.current('sql-insert')).toMatchObject({ version: 1, config: { on: true }, updated_by: databaseUser });
    expect(await sql.history('sql-insert')).toEqual([
      { version: 1, action: 'CREATE', changed_by: databaseUser, reason: null, old_config: null, new_config: { on: true } },
    ]);
  });

  it('an UPDATE may set version to exactly the next one; any other version is refused and writes nothing', async () => {
    await sql.insert('sql-version', { level: 1 });
    await sql.query(`UPDATE service_configs SET version = version + 1, config = '{"level": 2}' WHERE service_name = 'sql-version'`);
    expect(await sql.current('sql-version')).toMatchObject({ version: 2, config: { level: 2 } });

    for (const wrong of ['version + 2', 'version - 1', '1', '100']) {
      await expectRefused(
        () => sql.query(`UPDATE service_configs SET version = ${wrong}, config = '{"level": 3}' WHERE service_name = 'sql-version'`),
        '23514',
        /must rise by exactly 1/,
      );
    }
    expect(await sql.current('sql-version')).toMatchObject({ version: 2, config: { level: 2 } });
  });

  it('the identity of a config (service_name, environment) cannot change', async () => {
    await sql.insert('sql-identity', { a: 1 });
    await expectRefused(
      () => sql.query(`UPDATE service_configs SET service_name = 'sql-renamed' WHERE service_name = 'sql-identity'`),
      '23514',
      /identity of a config/,
    );
    await expectRefused(
      () => sql.query(`UPDATE service_configs SET environment = 'staging' WHERE service_name = 'sql-identity'`),
      '23514',
      /identity of a config/,
    );
  });

  it('the audit log is append-only: UPDATE and DELETE fail', async () => {
    await sql.insert('sql-append-only', { a: 1 });
    const where = `WHERE service_name = 'sql-append-only'`;
    await expectRefused(() => sql.query(`UPDATE config_audit_log SET changed_by = 'nobody' ${where}`), '42501', /append-only/);
    await expectRefused(() => sql.query(`UPDATE config_audit_log SET new_config = '{"a": 2}' ${where}`), '42501', /append-only/);
    await expectRefused(() => sql.query(`UPDATE config_audit_log SET reason = reason ${where}`), '42501', /append-only/);
    await expectRefused(() => sql.query(`DELETE FROM config_audit_log ${where}`), '42501', /append-only/);
    await expectRefused(() => sql.query('DELETE FROM config_audit_log'), '42501', /append-only/);
  });

  it('rollback_config writes a new version with the old content, audited as ROLLBACK by the actor', async () => {
    await sql.insert('sql-rollback', { level: 1 });
    await sql.query(`UPDATE service_configs SET config = '{"level": 2}' WHERE service_name = 'sql-rollback'`);
    await sql.query(`UPDATE service_configs SET config = '{"level": 3, "extra": true}' WHERE service_name = 'sql-rollback'`);

    const [rolledBack] = await sql.query<ConfigRow>(`SELECT version, config, updated_by FROM rollback_config('sql-rollback', 1, 'bob')`);
    expect(rolledBack).toEqual({ version: 4, config: { level: 1 }, updated_by: 'bob' });
    const [latest] = await sql.history('sql-rollback', 1);
    expect(latest).toEqual({
      version: 4,
      action: 'ROLLBACK',
      changed_by: 'bob',
      reason: 'rollback to version 1',
      old_config: { level: 3, extra: true },
      new_config: { level: 1 },
    });
    // Versions 1-3 are untouched: history is never rewritten.
    expect((await sql.history('sql-rollback')).map((row) => [row.version, row.action])).toEqual([
      [4, 'ROLLBACK'],
      [3, 'UPDATE'],
      [2, 'UPDATE'],
      [1, 'CREATE'],
    ]);
  });

  it('rollback_config to the content the config has writes nothing, as the API does', async () => {
    await sql.insert('sql-rollback-same', { level: 1 });
    await sql.query(`UPDATE service_configs SET config = '{"level": 2}' WHERE service_name = 'sql-rollback-same'`);
    await sql.query(`UPDATE service_configs SET config = '{"level": 1}' WHERE service_name = 'sql-rollback-same'`);
    const [same] = await sql.query<ConfigRow>(`SELECT version, config FROM rollback_config('sql-rollback-same', 1, 'bob')`);
    expect(same).toEqual({ version: 3, config: { level: 1 } });
    expect((await sql.history('sql-rollback-same')).map((row) => row.version)).toEqual([3, 2, 1]);
  });

  it('rollback_config takes a reason and an expected version; a later UPDATE in its transaction is an UPDATE', async () => {
    await sql.insert('sql-rollback-args', { mode: 'a' });
    await sql.query(`UPDATE service_configs SET config = '{"mode": "b"}' WHERE service_name = 'sql-rollback-args'`);
    await db.session((session) =>
      inTransaction(session, async () => {
        await session.query(`SELECT rollback_config('sql-rollback-args', 1, 'carol', 'production', 'b broke the feed', 2)`);
        await session.query(`UPDATE service_configs SET config = '{"mode": "c"}' WHERE service_name = 'sql-rollback-args'`);
      }),
    );
    const [after, rollback] = await sql.history('sql-rollback-args', 2);
    expect(rollback).toMatchObject({ version: 3, action: 'ROLLBACK', changed_by: 'carol', reason: 'b broke the feed', new_config: { mode: 'a' } });
    expect(after).toMatchObject({ version: 4, action: 'UPDATE', new_config: { mode: 'c' } });
  });

  it('rollback_config refuses an unknown service, an unknown version, a stale expected version, a deletion', async () => {
    await sql.insert('sql-rollback-errors', { v: 1 });
    await sql.query(`UPDATE service_configs SET config = '{"v": 2}' WHERE service_name = 'sql-rollback-errors'`);
    const rollback = (args: string) => () => sql.query(`SELECT * FROM rollback_config(${args})`);

    await expectRefused(rollback(`'no-such-service', 1, 'bob'`), 'CH404', /no config/);
    await expectRefused(rollback(`'sql-rollback-errors', 99, 'bob'`), 'CH404', /has no version 99/);
    await expectRefused(rollback(`'sql-rollback-errors', 1, 'bob', 'staging'`), 'CH404');
    await expectRefused(rollback(`'sql-rollback-errors', 1, 'bob', 'production', NULL, 1`), 'CH409', /at version 2, not 1/, { detail: '2' });

    // A soft delete (version 3) holds no config to return to.
    await sql.query(`UPDATE service_configs SET deleted_at = now() WHERE service_name = 'sql-rollback-errors'`);
    expect((await sql.history('sql-rollback-errors', 1))[0]).toMatchObject({ version: 3, action: 'DELETE', new_config: null });
    await expectRefused(rollback(`'sql-rollback-errors', 3, 'bob'`), 'CH422', /deletion/);
    // Rolling back to a version with content restores the soft-deleted config.
    const [restored] = await sql.query<ConfigRow>(`SELECT version, config, deleted_at FROM rollback_config('sql-rollback-errors', 1, 'bob')`);
    expect(restored).toMatchObject({ version: 4, config: { v: 1 }, deleted_at: null });
  });

  it('a hard DELETE is audited as DELETE, as the next version', async () => {
    await sql.insert('sql-hard-delete', { keep: false });
    await sql.query(`UPDATE service_configs SET config = '{"keep": true}' WHERE service_name = 'sql-hard-delete'`);
    await sql.query(`DELETE FROM service_configs WHERE service_name = 'sql-hard-delete'`);
    expect(await sql.current('sql-hard-delete')).toBeUndefined();
    const [deleted] = await sql.history('sql-hard-delete', 1);
    expect(deleted).toEqual({
      version: 3,
      action: 'DELETE',
      changed_by: databaseUser,
      reason: null,
      old_config: { keep: true },
      new_config: null,
    });
  });

  it.each([
    ['an array config', 'sql-check-array', '[1, 2]'],
    ['a string config', 'sql-check-string', '"text"'],
    ['a JSON null config', 'sql-check-null', 'null'],
    ['a name with a space', 'Bad Name', '{}'],
    ['an upper-case name', 'UPPER', '{}'],
    ['a name starting with a dash', '-leading', '{}'],
    ['a path as a name', '../etc', '{}'],
    ['an empty name', '', '{}'],
    ['a name ending in a newline', 'sql-check-newline\n', '{}'],
  ])('the CHECK constraints refuse an INSERT of %s', async (_case, service, config) => {
    await expectRefused(
      () => sql.query(`INSERT INTO service_configs (service_name, config, updated_by) VALUES ($1, $2::jsonb, 'psql')`, [service, config]),
      '23514',
    );
  });

  it('names of 1 to 128 characters are accepted, longer ones refused', async () => {
    const insert = (service: string) =>
      sql.query(`INSERT INTO service_configs (service_name, environment, config, updated_by) VALUES ($1, $1, '{}', 'psql')`, [service]);
    for (const service of ['s', `sql-check-${'x'.repeat(118)}`, 'sql.check_name-9']) await insert(service);
    const rows = await sql.query<{ service_name: string }>(`SELECT service_name FROM service_configs WHERE service_name = environment`);
    expect(rows.map((row) => row.service_name.length).sort((a, b) => a - b)).toEqual([1, 16, 128]);
    await expectRefused(() => insert(`sql-check-${'x'.repeat(119)}`), '22001');
  });

  it('the CHECK constraints refuse an UPDATE to a non-object config or an invalid environment', async () => {
    await sql.insert('sql-check-update', { a: 1 });
    await expectRefused(() => sql.query(`UPDATE service_configs SET config = '[1]' WHERE service_name = 'sql-check-update'`), '23514');
    await expectRefused(
      () => sql.query(`INSERT INTO service_configs (service_name, environment, config, updated_by) VALUES ('sql-check-env', 'Prod EU', '{}', 'psql')`),
      '23514',
    );
  });
});

describe('a real login role on postgres is recorded as itself', () => {
  const role = 'operator_alice';
  const password = 'alice-secret-1';
  let db: TestDatabase;
  let operator: pg.Client | undefined;

  beforeAll(async () => {
    db = await openTestDatabase('postgres');
    await db.session(async (sql) => {
      await sql.exec(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
      // What an operator needs to change configs and read their history: the trigger writes the audit row
      // and the outbox entry with the owner's rights, not theirs.
      await sql.exec(`GRANT SELECT, UPDATE, DELETE ON service_configs TO ${role}`);
      await sql.exec(`GRANT SELECT ON config_audit_log TO ${role}`);
    });
    const url = new URL(db.url!);
    url.username = role;
    url.password = password;
    operator = new pg.Client({ connectionString: url.toString() });
    await operator.connect();
  });
  afterAll(async () => {
    await operator?.end();
    await db?.session(async (sql) => {
      await sql.exec(`DROP OWNED BY ${role}`);
      await sql.exec(`DROP ROLE ${role}`);
    });
    await db?.close();
  });

  it('an UPDATE over its own connection is changed_by operator_alice', async () => {
    const { rows } = await operator!.query<{ user: string }>('SELECT current_user AS user');
    expect(rows[0]!.user).toBe(role);
    await operator!.query(
      `UPDATE service_configs SET config = jsonb_set(config, '{operational,worker_threads}', '8') WHERE service_name = 'tick-aggregator'`,
    );
    const [latest] = await db.session((sql) =>
      sql.query<HistoryRow>(`SELECT version, action::text AS action, changed_by, reason FROM get_config_history('tick-aggregator', 'production', 1)`),
    );
    expect(latest).toEqual({ version: 2, action: 'UPDATE', changed_by: role, reason: null });
    const [row] = await db.session((sql) =>
      sql.query<{ updated_by: string; workers: number }>(
        `SELECT updated_by, (config #> '{operational,worker_threads}')::int AS workers FROM service_configs WHERE service_name = 'tick-aggregator'`,
      ),
    );
    expect(row).toEqual({ updated_by: role, workers: 8 });
  });

  it('the role cannot write the audit log or the outbox itself: no forged change, no skipped publication', async () => {
    await expect(operator!.query(`DELETE FROM config_audit_log WHERE service_name = 'tick-aggregator'`)).rejects.toMatchObject({ code: '42501' });
    await expect(
      operator!.query(`INSERT INTO config_audit_log (config_id, service_name, environment, version, action, new_config, changed_by)
                       SELECT id, service_name, environment, version + 1, 'UPDATE', '{}', 'someone-else' FROM service_configs WHERE service_name = 'tick-aggregator'`),
    ).rejects.toMatchObject({ code: '42501' });
    await expect(operator!.query('DELETE FROM config_outbox')).rejects.toMatchObject({ code: '42501' });
  });

  it('a hard DELETE over its own connection is recorded as operator_alice, in the audit log and the outbox', async () => {
    await db.session((sql) => sql.query(`INSERT INTO service_configs (service_name, environment, config, updated_by) VALUES ('sql-operator-delete', 'production', '{"a": 1}', 'test')`));
    await operator!.query(`DELETE FROM service_configs WHERE service_name = 'sql-operator-delete'`);
    const [change] = await db.session((sql) =>
      sql.query<{ version: number; action: string; changed_by: string; waiting: boolean }>(
        `SELECT version, action::text AS action, changed_by, EXISTS (SELECT 1 FROM config_outbox o WHERE o.revision = a.revision) AS waiting
           FROM config_audit_log a WHERE service_name = 'sql-operator-delete' ORDER BY revision DESC LIMIT 1`,
      ),
    );
    expect(change).toEqual({ version: 2, action: 'DELETE', changed_by: role, waiting: true });
  });
});
