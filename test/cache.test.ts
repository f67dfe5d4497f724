// Invariant 5: a read that hits the cache does not touch the database; the cache never serves a
// version older than one this instance already knows to be committed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceConfig } from '../src/store/configStore.ts';
import { ConfigCache } from '../src/store/cache.ts';
import { adminAuth, createTestApp, type TestApp } from './support/app.ts';
import { backends } from './support/databases.ts';
import { eventually } from './support/waiting.ts';

/**
 * The outbox relay sweeps on a timer in its own transactions; its statements are not reads. Reads run
 * no transactions, so transaction control (PGlite's is logged as `-- Implicit "COMMIT" query ...`) is its.
 */
const isRelayStatement = (sql: string) =>
  /\bconfig_outbox\b|confighub_claim_outbox/i.test(sql) ||
  /^\s*(-- Implicit ")?(BEGIN|COMMIT|ROLLBACK)\b/i.test(sql);

const CONFIG_QUERY = `query ($service: String!) {
  config(service: $service) { __typename ... on ServiceConfig { version config updatedBy } }
}`;

describe.each(backends)('read cache on %s', (backend) => {
  let t: TestApp;
  const statements: string[] = [];

  beforeAll(async () => {
    t = await createTestApp(backend, { onQuery: (sql) => statements.push(sql) });
  });
  afterAll(async () => {
    await t?.close();
  });

  /** The SQL Prisma sent while `work` ran, without the relay's own. */
  async function statementsDuring(work: () => Promise<unknown>): Promise<string[]> {
    const from = statements.length;
    await work();
    return statements.slice(from).filter((sql) => !isRelayStatement(sql));
  }

  async function readGraphQL(service: string): Promise<{ version: number; config: Record<string, unknown> }> {
    const { data, errors } = await t.graphql(CONFIG_QUERY, { service });
    expect(errors).toBeUndefined();
    expect(data.config.__typename).toBe('ServiceConfig');
    return data.config;
  }

  async function readRest(service: string): Promise<{ version: number; config: Record<string, unknown> }> {
    const response = await t.app.fetch(new Request(`http://confighub.test/api/v1/config/${service}`, { headers: adminAuth }));
    expect(response.status).toBe(200);
    return response.json() as never;
  }

  const create = (service: string, config: Record<string, unknown>) => t.app.store.createConfig({ service, config }, { actor: 'cache-test' });
  const sqlUpdate = (service: string, patch: Record<string, unknown>) =>
    t.db.session((sql) =>
      sql.query(`UPDATE service_configs SET config = config || $2::jsonb WHERE service_name = $1`, [service, JSON.stringify(patch)]),
    );

  it('after a first read, further reads of an unchanged config issue no SQL (GraphQL and REST)', async () => {
    const first = await statementsDuring(() => readGraphQL('tick-aggregator'));
    expect(first.some((sql) => sql.includes('service_configs'))).toBe(true);

    const later = await statementsDuring(async () => {
      for (let i = 0; i < 10; i++) {
        expect((await readGraphQL('tick-aggregator')).version).toBe(1);
        expect((await readRest('tick-aggregator')).version).toBe(1);
      }
    });
    expect(later).toEqual([]);
  });

  it('an update through the app is visible on the very next read', async () => {
    await create('cache-own-write', { batch: 1 });
    expect((await readGraphQL('cache-own-write')).version).toBe(1);

    const { data } = await t.graphql(
      `mutation { updateConfig(input: { service: "cache-own-write", patch: { batch: 2 } }) { ... on ConfigWrite { config { version } } } }`,
    );
    expect(data.updateConfig.config.version).toBe(2);
    expect(await readGraphQL('cache-own-write')).toMatchObject({ version: 2, config: { batch: 2 } });
    expect(await readRest('cache-own-write')).toMatchObject({ version: 2, config: { batch: 2 } });

    const post = await t.app.fetch(
      new Request('http://confighub.test/api/v1/config/cache-own-write', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...adminAuth },
        body: JSON.stringify({ batch: 3 }),
      }),
    );
    expect(post.status).toBe(200);
    expect(await readRest('cache-own-write')).toMatchObject({ version: 3, config: { batch: 3 } });
    expect(await readGraphQL('cache-own-write')).toMatchObject({ version: 3, config: { batch: 3 } });
  });

  it('an UPDATE by another writer (raw SQL) is seen by the next reads soon after commit', async () => {
    await create('cache-other-writer', { threshold: 10 });
    await readGraphQL('cache-other-writer');
    // Cached now: without a notice of the change, reads would keep answering version 1.
    expect(await statementsDuring(() => readGraphQL('cache-other-writer'))).toEqual([]);

    await sqlUpdate('cache-other-writer', { threshold: 20 });
    const seen = await eventually(() => readGraphQL('cache-other-writer'), (config) => config.version === 2);
    expect(seen.config).toEqual({ threshold: 20 });
    expect(await readRest('cache-other-writer')).toMatchObject({ version: 2, config: { threshold: 20 } });
    // And cached again.
    expect(await statementsDuring(() => readRest('cache-other-writer'))).toEqual([]);
  });

  it('ignores an older row offered after a newer write', async () => {
    await create('cache-backwards', { level: 1 });
    const v1 = await t.app.store.getConfig('cache-backwards');
    await t.app.store.updateConfig({ service: 'cache-backwards', patch: { level: 2 } }, { actor: 'cache-test' });

    t.app.store.cache.offer(v1);
    t.app.store.cache.written(v1);
    expect(t.app.store.cache.get({ service: 'cache-backwards', environment: 'production' })?.version).toBe(2);
    expect(await readGraphQL('cache-backwards')).toMatchObject({ version: 2, config: { level: 2 } });
  });

  it('ignores a row read before a change it has since been told of (a slow read finishing late)', async () => {
    await create('cache-late-read', { level: 1 });
    const key = { service: 'cache-late-read', environment: 'production' };
    const v1 = await t.app.store.getConfig('cache-late-read');
    expect(t.app.store.cache.get(key)?.version).toBe(1);

    await sqlUpdate('cache-late-read', { level: 2 });
    // Wait for the notice: the cached version 1 is dropped.
    await eventually(async () => t.app.store.cache.get(key), (row) => row === undefined || row.version === 2);

    t.app.store.cache.offer(v1);
    expect(t.app.store.cache.get(key)?.version).not.toBe(1);
    expect(await readRest('cache-late-read')).toMatchObject({ version: 2, config: { level: 2 } });
  });
});

describe('read cache on postgres, when its LISTEN connection is lost', () => {
  let t: TestApp;
  const statements: string[] = [];
  beforeAll(async () => {
    t = await createTestApp('postgres', { onQuery: (sql) => statements.push(sql) });
  });
  afterAll(async () => {
    await t?.close();
  });

  const read = async () => {
    const { data, errors } = await t.graphql(CONFIG_QUERY, { service: 'cache-listen-lost' });
    expect(errors).toBeUndefined();
    return data.config as { version: number; config: Record<string, unknown> };
  };

  it('reads afresh once it is back, since the change notices sent meanwhile are gone', async () => {
    await t.app.store.createConfig({ service: 'cache-listen-lost', config: { threshold: 1 } }, { actor: 'cache-test' });
    await read();
    const from = statements.length;
    await read();
    expect(statements.slice(from).filter((sql) => !isRelayStatement(sql))).toEqual([]);
    // The server drops the LISTEN connection; the change committed meanwhile notifies nobody.
    const dropped = await t.db.query<{ dropped: boolean }>(
      `SELECT pg_terminate_backend(pid) AS dropped FROM pg_stat_activity
        WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
    );
    expect(dropped.length).toBeGreaterThan(0);
    await t.db.session((sql) => sql.query(`UPDATE service_configs SET config = '{"threshold": 2}' WHERE service_name = 'cache-listen-lost'`));
    // The next reads see version 2 soon: the relay's sweep publishes the change it finds unpublished, and
    // the listener, back on a new connection (after ~1 s), has the cache read afresh.
    const seen = await eventually(read, (config) => config.version === 2, 10_000);
    expect(seen.config).toEqual({ threshold: 2 });
  });
});

describe('ConfigCache', () => {
  const key = { service: 'unit', environment: 'production' };
  const row = (version: number) => ({ serviceName: 'unit', environment: 'production', version }) as ServiceConfig;

  it('keeps the newest row it is offered and refuses anything under an announced version', () => {
    const cache = new ConfigCache();
    cache.changed(key, 5);
    cache.offer(row(4));
    expect(cache.get(key)).toBeUndefined();
    cache.offer(row(5));
    expect(cache.get(key)?.version).toBe(5);
    cache.offer(row(3));
    cache.written(row(4));
    expect(cache.get(key)?.version).toBe(5);
    cache.changed(key, 6);
    expect(cache.get(key)).toBeUndefined();
    cache.offer(row(7));
    cache.offer(row(6));
    expect(cache.get(key)?.version).toBe(7);
  });

  it('does not serve its own write once a later change by someone else was announced (notice first, answer second)', () => {
    const cache = new ConfigCache();
    cache.offer(row(31));
    // Another instance's version 33 is announced before this instance's answer for version 32 arrives.
    cache.changed(key, 33);
    cache.written(row(32));
    expect(cache.get(key)).toBeUndefined();
    cache.written(row(34));
    expect(cache.get(key)?.version).toBe(34);
  });
});
