// The outbox relay on its own, against both databases: what enters the outbox and when, what a failed
// publish leaves behind, and how runs are paced under a stream of changes. (Exactly-once delivery across
// instances, NATS outages and killed gateways is shown end to end in propagation.test.ts.)
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigEvent } from '../src/protocol/changes.ts';
import { OutboxRelay, type OutboxRelayOptions } from '../src/events/relay.ts';
import { silentLogger as logger } from './support/app.ts';
import { backends, openTestDatabase, type TestDatabase } from './support/databases.ts';

describe.each(backends)('the outbox relay on %s', (backend) => {
  let db: TestDatabase;
  let step = 0;

  const query = <Row>(text: string, params?: unknown[]) => db.session((sql) => sql.query<Row>(text, params));
  const waiting = async () => (await query<{ revision: string }>('SELECT revision::text FROM config_outbox ORDER BY revision')).map((row) => Number(row.revision));
  /** One committed change of `service` in plain SQL (as psql makes it); returns its version. */
  const change = async (service: string) => {
    const [row] = await query<{ version: number }>(
      `UPDATE service_configs SET config = config || jsonb_build_object('step', $2::int) WHERE service_name = $1 RETURNING version`,
      [service, ++step],
    );
    return row!.version;
  };

  /** A relay whose publications are recorded, batch by batch; not started (no LISTEN): woken by hand. */
  function recordingRelay(options: Partial<OutboxRelayOptions> & { failFirst?: number } = {}) {
    const batches: ConfigEvent[][] = [];
    let failures = options.failFirst ?? 0;
    const relay = new OutboxRelay({
      db,
      logger,
      maxRetryDelayMs: 50,
      ...options,
      publish: async (events) => {
        if (failures-- > 0) throw new Error('NATS is away');
        batches.push(events);
      },
    });
    return { relay, batches };
  }

  beforeAll(async () => {
    db = await openTestDatabase(backend);
    await query(`INSERT INTO service_configs (service_name, environment, config, updated_by) VALUES ('relay-a', 'production', '{}', 'test'), ('relay-b', 'production', '{}', 'test')`);
    // Whatever the seed left waiting is published first, so each test starts from an empty outbox.
    const { relay } = recordingRelay();
    relay.wake();
    await relay.idle();
    expect(await waiting()).toEqual([]);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('holds a committed change from its commit until it is published, and never a rolled-back one', async () => {
    await db.session(async (sql) => {
      await sql.exec('BEGIN');
      await sql.query(`UPDATE service_configs SET config = '{"never": true}' WHERE service_name = 'relay-a'`);
      await sql.exec('ROLLBACK');
    });
    expect(await waiting()).toEqual([]);

    const version = await change('relay-a');
    const [entry] = await waiting();
    const [audit] = await query<{ revision: string; version: number }>(
      `SELECT revision::text, version FROM config_audit_log WHERE service_name = 'relay-a' ORDER BY revision DESC LIMIT 1`,
    );
    expect({ entry, version }).toEqual({ entry: Number(audit!.revision), version: audit!.version });

    const { relay, batches } = recordingRelay();
    relay.wake();
    await relay.idle();
    expect(batches.flat().map((event) => [event.service, event.version, event.revision])).toEqual([['relay-a', version, entry]]);
    expect(await waiting()).toEqual([]);
  });

  it('leaves the changes in the outbox while publishing fails, then publishes each once', async () => {
    const versions = [await change('relay-a'), await change('relay-b')];
    const { relay, batches } = recordingRelay({ failFirst: 2 });
    relay.wake();
    // Two failed attempts, each rolled back: the changes still wait, nothing was published. (The publish
    // records its batch before its transaction commits, so an outbox read that finds the changes gone is
    // always followed by a recorded batch: the count is checked only while nothing was published.)
    while (batches.length === 0) {
      const left = (await waiting()).length;
      if (batches.length === 0) expect(left).toBe(2);
      await sleep(20);
    }
    await relay.idle();
    expect(batches.flat().map((event) => [event.service, event.version])).toEqual([
      ['relay-a', versions[0]],
      ['relay-b', versions[1]],
    ]);
    expect(await waiting()).toEqual([]);
    await relay.stop();
  });

  it('goes at once after a quiet spell, and publishes changes that keep coming together, in order', async () => {
    const { relay, batches } = recordingRelay({ minRunIntervalMs: 1_500 });
    const first = await change('relay-a');
    relay.wake();
    await relay.idle();
    expect(batches.map((batch) => batch.map((event) => event.version))).toEqual([[first]]);

    // Within the interval: each change announced, none published until the next run is due.
    const later = [];
    for (const service of ['relay-b', 'relay-a', 'relay-b']) {
      later.push(await change(service));
      relay.wake();
    }
    await sleep(200);
    expect(batches).toHaveLength(1);
    expect(await waiting()).toHaveLength(3);

    await relay.idle();
    expect(batches).toHaveLength(2);
    expect(batches[1]!.map((event) => event.version)).toEqual(later);
    expect(batches[1]!.map((event) => event.revision)).toEqual([...batches[1]!.map((event) => event.revision)].sort((a, b) => a - b));
    expect(await waiting()).toEqual([]);
  });

  it('drains a backlog larger than one batch without waiting between batches', async () => {
    // An interval far beyond the test's timeout: only unpaced runs can finish in time.
    const { relay, batches } = recordingRelay({ batchSize: 2, minRunIntervalMs: 600_000 });
    for (let i = 0; i < 5; i++) await change(i % 2 === 0 ? 'relay-a' : 'relay-b');
    relay.wake();
    await relay.idle();
    expect(batches.map((batch) => batch.length)).toEqual([2, 2, 1]);
    expect(await waiting()).toEqual([]);
  });

  it('with a hub that cannot fail to deliver, claims each batch in one statement, outside a transaction, in order', async () => {
    const versions = [await change('relay-b'), await change('relay-a'), await change('relay-b')];
    const statements: string[] = [];
    const oneStatementAtATime: OutboxRelayOptions['db'] = Object.assign(Object.create(db) as TestDatabase, {
      query: ((text: string, params?: unknown[]) => {
        statements.push(text);
        return db.query(text, params);
      }) as TestDatabase['query'],
      transaction: () => Promise.reject(new Error('no transaction expected')),
    });
    const { relay, batches } = recordingRelay({ db: oneStatementAtATime, publishMayFail: false, batchSize: 2 });
    relay.wake();
    await relay.idle();
    expect(batches.map((batch) => batch.map((event) => event.version))).toEqual([versions.slice(0, 2), versions.slice(2)]);
    expect(statements).toHaveLength(2);
    expect(statements.every((text) => text.includes('confighub_claim_outbox(2)'))).toBe(true);
    expect(await waiting()).toEqual([]);
  });

  // PGlite has one connection, which a second relay's transaction would wait for: instances share PostgreSQL.
  if (backend === 'postgres') it('publishes nothing while another relay holds the lock', async () => {
    await change('relay-a');
    const { relay, batches } = recordingRelay();
    await db.transaction(async (sql) => {
      // Another instance's relay in the middle of a run.
      await sql.query('SELECT pg_advisory_xact_lock(72707370)');
      relay.wake();
      await relay.idle();
      expect(batches).toEqual([]);
    });
    relay.wake();
    await relay.idle();
    expect(batches.flat()).toHaveLength(1);
    expect(await waiting()).toEqual([]);
  });
});
