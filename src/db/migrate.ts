import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../logger.ts';
import type { Database } from './database.ts';

/** prisma/migrations, in Prisma's folder layout: <timestamp>_<name>/migration.sql. */
const MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/migrations/', import.meta.url));

/** The same key Prisma's migrate uses, so the CLI and the gateway never migrate at once. */
const MIGRATION_LOCK_KEY = 72_707_369;

/** The migrations in name order, each with its SQL and that SQL's checksum. */
export function readMigrations(): { name: string; sql: string; checksum: string }[] {
  return readdirSync(MIGRATIONS_DIR, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(path.join(MIGRATIONS_DIR, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

const quote = (value: string) => `'${value.replaceAll("'", "''")}'`;

/**
 * Applies the migrations not yet applied, each in its own transaction, and records them in
 * `_prisma_migrations` as Prisma's migrate would, so `prisma migrate status` agrees where the CLI works.
 * Safe to call at every start and from several instances at once (advisory lock).
 */
export async function migrate(db: Database, logger?: Logger): Promise<string[]> {
  const migrations = readMigrations();
  return db.session(async (sql) => {
    await sql.exec(`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`);
    try {
      await sql.exec(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
        "id" VARCHAR(36) PRIMARY KEY NOT NULL,
        "checksum" VARCHAR(64) NOT NULL,
        "finished_at" TIMESTAMPTZ,
        "migration_name" VARCHAR(255) NOT NULL,
        "logs" TEXT,
        "rolled_back_at" TIMESTAMPTZ,
        "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
        "applied_steps_count" INTEGER NOT NULL DEFAULT 0
      )`);
      const rows = await sql.query<{ migration_name: string; checksum: string }>(
        `SELECT migration_name, checksum FROM "_prisma_migrations"
          WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
      );
      const applied = new Map(rows.map((row) => [row.migration_name, row.checksum]));
      const newlyApplied: string[] = [];
      for (const migration of migrations) {
        const checksum = applied.get(migration.name);
        if (checksum !== undefined) {
          if (checksum !== migration.checksum) {
            logger?.warn({ migration: migration.name }, 'an applied migration was edited since');
          }
          continue;
        }
        try {
          await sql.exec(`BEGIN;\n${migration.sql}\n;
            INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, applied_steps_count)
            VALUES (${quote(randomUUID())}, ${quote(migration.checksum)}, now(), ${quote(migration.name)}, 1);
            COMMIT;`);
        } catch (error) {
          await sql.exec('ROLLBACK').catch(() => {});
          throw new Error(`migration ${migration.name} failed: ${(error as Error).message}`, { cause: error });
        }
        newlyApplied.push(migration.name);
        logger?.info({ migration: migration.name }, 'migration applied');
      }
      return newlyApplied;
    } finally {
      await sql.exec(`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`);
    }
  });
}
