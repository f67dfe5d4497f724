import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { inject } from 'vitest';
import { type Database, openDatabase } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';

export type Backend = 'pglite' | 'postgres';

/** The store suites run against both: the embedded default and a real PostgreSQL server. */
export const backends: Backend[] = ['pglite', 'postgres'];

export interface TestDatabase extends Database {
  /** The connection string, for a real server (null for PGlite). */
  url: string | null;
}

/** A fresh, migrated database (seeded with the pilot services) of the given kind. */
export async function openTestDatabase(
  backend: Backend,
  options: { onQuery?: (sql: string) => void; poolSize?: number } = {},
): Promise<TestDatabase> {
  if (backend === 'pglite') {
    const snapshot = new Blob([readFileSync(inject('pgliteSnapshot'))]);
    const pglite = new PGlite({ loadDataDir: snapshot });
    const db = await openDatabase({ pglite, onQuery: options.onQuery });
    await migrate(db);
    const close = db.close.bind(db);
    return Object.assign(db, { url: null, close: async () => { await close(); await pglite.close(); } });
  }
  const url = await createPostgresDatabase();
  const db = await openDatabase({ url, onQuery: options.onQuery, poolSize: options.poolSize });
  await migrate(db);
  return Object.assign(db, { url });
}

/** A new database on the shared test server, copied from the migrated template. */
export async function createPostgresDatabase(): Promise<string> {
  const base = inject('postgresUrl');
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: `${base}/postgres` });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE confighub_template`);
  } finally {
    await admin.end();
  }
  return `${base}/${name}`;
}

/** A digest of both tables, to show that a refused request wrote nothing (the outbox, which the relay empties on its own clock, aside). */
export async function tablesDigest(db: Database): Promise<string> {
  const rows = await db.session((sql) =>
    sql.query<{ digest: string }>(`SELECT md5(
        coalesce((SELECT string_agg(c::text, '|' ORDER BY id) FROM service_configs c), '') || '#' ||
        coalesce((SELECT string_agg(a::text, '|' ORDER BY revision) FROM config_audit_log a), '')) AS digest`),
  );
  return rows[0]!.digest;
}
