import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type App, buildApp } from '../src/server/app.ts';
import { silentLogger, testSettings } from './support/app.ts';
import { runCli } from './support/cli.ts';
import { type TestDatabase, createPostgresDatabase, openTestDatabase } from './support/databases.ts';
import { NatsServer } from './support/nats.ts';
import { freePort } from './support/waiting.ts';

// The pilot service (examples/polygon-historical-downloader) as its own process, end to end: a real
// gateway on a real port over a real PostgreSQL, a real nats-server, and the service's own PostgreSQL
// database. Two instances run side by side, one following changes through NATS, one through graphql-ws.

const PROJECT_ROOT = fileURLToPath(new URL('../', import.meta.url));
const SERVICE = 'polygon-historical-downloader';
/** One "hour" of the settings lasts a minute: the seeded 6-hour interval puts the next run 6 minutes out. */
const HOUR_MS = 60_000;

// Three processes start (two pilots and the CLI) and a gateway restarts: slow on a busy two-core machine.
vi.setConfig({ testTimeout: 180_000 });

interface LogLine {
  time: string;
  level: string;
  msg: string;
  [field: string]: any;
}

/** The pilot as a child process, its JSON log lines collected as they come. */
class PilotProcess {
  readonly lines: LogLine[] = [];
  private readonly waiters = new Set<() => void>();
  private output = '';
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    let partial = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      partial += chunk.toString();
      const complete = partial.split('\n');
      partial = complete.pop()!;
      for (const line of complete) {
        this.output += `${line}\n`;
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          // not a log line (a Node warning): kept in the output for failure messages only
        }
      }
      for (const waiter of this.waiters) waiter();
    });
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Resolves with the first log line (from `from` on) that matches; fails with the output after `timeoutMs`. */
  waitFor(what: string, match: (line: LogLine) => boolean, from = 0, timeoutMs = 60_000): Promise<LogLine> {
    const find = () => this.lines.slice(from).find(match);
    const found = find();
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`${this.name}: no log line "${what}" within ${timeoutMs} ms; output:\n${this.output.slice(-6_000)}`));
      }, timeoutMs);
      const check = () => {
        const line = find();
        if (!line) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(line);
      };
      this.waiters.add(check);
      void this.exited.then(() => {
        if (!this.waiters.has(check)) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        reject(new Error(`${this.name} exited while waiting for "${what}"; output:\n${this.output.slice(-6_000)}`));
      });
    });
  }

  get mark(): number {
    return this.lines.length;
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}

let nats: NatsServer;
let hubDatabase: TestDatabase;
let hubPort: number;
let hub: App | undefined;
const adminToken = `chub_${randomBytes(32).toString('base64url')}`;
/** The pilots' own token: a reader scoped to their service, made with the CLI. */
let serviceToken: string;
const pilots: PilotProcess[] = [];
const pilotDatabases: pg.Pool[] = [];
let workDir: string;

/** A gateway on the fixed port and the shared database (so that a restart is the same hub coming back). */
async function startHub(): Promise<string> {
  hub = await buildApp({
    settings: { ...testSettings, PORT: hubPort, NATS_URL: nats.url, CONFIGHUB_ADMIN_TOKEN: adminToken },
    logger: silentLogger,
    database: hubDatabase,
    shutdownGraceMs: 1_000,
  });
  return hub.start();
}

async function startPilot(name: string, live: 'nats' | 'graphql-ws'): Promise<{ pilot: PilotProcess; db: pg.Pool }> {
  const databaseUrl = await createPostgresDatabase();
  const db = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  pilotDatabases.push(db);
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/polygon-historical-downloader/src/main.ts'], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      CONFIGHUB_URL: `http://127.0.0.1:${hubPort}`,
      CONFIGHUB_TOKEN: serviceToken,
      NATS_URL: live === 'nats' ? nats.url : '',
      DOWNLOADER_DATABASE_URL: databaseUrl,
      DOWNLOADER_HOUR_MS: String(HOUR_MS),
      DOWNLOADER_SNAPSHOT_FILE: path.join(workDir, `${name}.snapshot.json`),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pilot = new PilotProcess(name, child);
  pilots.push(pilot);
  return { pilot, db };
}

/** The gap checks a pilot recorded in its own database, oldest first. */
async function gapChecks(db: pg.Pool) {
  const { rows } = await db.query<{ config_version: number | null; interval_hours: number; batch_size: number; bars_filled: number }>(
    'SELECT config_version, interval_hours, batch_size, bars_filled FROM gap_checks ORDER BY id',
  );
  return rows;
}

async function updateThroughGraphQL(patch: Record<string, unknown>, reason: string) {
  const response = await fetch(`http://127.0.0.1:${hubPort}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({
      query: `mutation($input: UpdateConfigInput!) { updateConfig(input: $input) { __typename ... on ConfigWrite { config { version } } ... on Error { message } } }`,
      variables: { input: { service: SERVICE, patch, reason } },
    }),
  });
  const body = (await response.json()) as { data: { updateConfig: { __typename: string; config: { version: number } } } };
  expect(body.data.updateConfig.__typename).toBe('ConfigWrite');
  return body.data.updateConfig.config.version;
}

const applied = (version: number) => (line: LogLine) => line.msg === 'config applied' && line.version === version;
const gapCheckAt = (version: number) => (line: LogLine) => line.msg === 'gap check' && line.configVersion === version;

beforeAll(async () => {
  workDir = mkdtempSync(path.join(tmpdir(), 'confighub-pilot-'));
  nats = await NatsServer.start();
  hubDatabase = await openTestDatabase('postgres');
  hubPort = await freePort();
  await startHub();
  const created = await runCli(['tokens', 'create', 'downloader', '--role', 'READER', '--services', SERVICE, '--json'], {
    env: { CONFIGHUB_URL: `http://127.0.0.1:${hubPort}`, CONFIGHUB_TOKEN: adminToken },
  });
  expect(created.code, created.stderr).toBe(0);
  serviceToken = created.json().token;
});

afterAll(async () => {
  await Promise.all(pilots.map((pilot) => pilot.stop()));
  await hub?.stop();
  await Promise.all(pilotDatabases.map((db) => db.end()));
  await hubDatabase?.close();
  await nats?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe('the pilot service', () => {
  it('applies a changed interval and batch size at once, keeps running while the hub is down, and recovers', async () => {
    const viaNats = await startPilot('pilot-nats', 'nats');
    const viaWebSocket = await startPilot('pilot-ws', 'graphql-ws');
    const both = [viaNats, viaWebSocket];

    // Started: the first gap check runs on the hub's version 1 (seeded: every 6 hours, batches of 5000).
    for (const { pilot } of both) {
      const first = await pilot.waitFor('first gap check on version 1', gapCheckAt(1), 0, 90_000);
      expect(first).toMatchObject({ intervalHours: 6, batchSize: 5000 });
    }

    // Hot reload: the next check was 6 "hours" (6 minutes) away; with 0.005 hours (0.3 s) it comes at once.
    const marks = both.map(({ pilot }) => pilot.mark);
    const changedAt = Date.now();
    const version = await updateThroughGraphQL({ operational: { gap_check_interval_hours: 0.005, batch_size: 7 } }, 'pilot test: tighter checks');
    for (const [index, { pilot, db }] of both.entries()) {
      const line = await pilot.waitFor(`config applied ${version}`, applied(version), marks[index]);
      expect(line.changes).toEqual({
        'operational.gap_check_interval_hours': { from: 6, to: 0.005 },
        'operational.batch_size': { from: 5000, to: 7 },
      });
      // Propagation through the outbox, NATS or the WebSocket, and the client: well within a second on a quiet machine.
      expect(Date.parse(line.time) - changedAt).toBeLessThan(3_000);
      await pilot.waitFor(`gap check on version ${version}`, (candidate) => gapCheckAt(version)(candidate) && candidate.intervalHours === 0.005, marks[index]);
      const checks = await gapChecks(db);
      const after = checks.filter((check) => check.config_version === version);
      expect(after.length).toBeGreaterThan(0);
      expect(after.every((check) => check.batch_size === 7 && check.bars_filled <= 7)).toBe(true);
    }
    // The same processes all along: the change needed no restart.
    expect(viaNats.pilot.child.exitCode).toBeNull();
    expect(viaWebSocket.pilot.child.exitCode).toBeNull();

    // The CLI is another way in: a bigger batch reaches both.
    const cliMarks = both.map(({ pilot }) => pilot.mark);
    const set = await runCli(['set', SERVICE, 'operational.batch_size=11', '--reason', 'pilot test via the CLI', '--json'], {
      env: { CONFIGHUB_URL: `http://127.0.0.1:${hubPort}`, CONFIGHUB_TOKEN: adminToken },
    });
    expect(set.code, set.stderr).toBe(0);
    const cliVersion = set.json().config.version as number;
    for (const [index, { pilot }] of both.entries()) {
      await pilot.waitFor(`config applied ${cliVersion}`, applied(cliVersion), cliMarks[index]);
      const check = await pilot.waitFor(`gap check on version ${cliVersion}`, gapCheckAt(cliVersion), cliMarks[index]);
      expect(check.batchSize).toBe(11);
    }

    // The hub goes away: both keep their config and keep working; the WebSocket follower says it is stale.
    // (Marked before the stop: the sockets close, and the pilot may say so, while stop() is still draining.)
    const downMarks = both.map(({ pilot }) => pilot.mark);
    await hub!.stop();
    hub = undefined;
    await viaWebSocket.pilot.waitFor('STALE with the hub down', (line) => line.msg === 'hub status' && line.state === 'STALE', downMarks[1]);
    for (const [index, { pilot }] of both.entries()) {
      const check = await pilot.waitFor('a gap check with the hub down', gapCheckAt(cliVersion), downMarks[index]);
      expect(check.batchSize).toBe(11);
    }

    // Meanwhile an operator changes the config in psql; the relay is down with the hub, so nobody hears of it yet.
    await hubDatabase.session((sql) =>
      sql.query(`UPDATE service_configs SET config = jsonb_set(config, '{operational,batch_size}', '13') WHERE service_name = $1 AND environment = 'production'`, [SERVICE]),
    );
    const sqlVersion = cliVersion + 1;

    // The hub comes back on the same address: its relay publishes the change, both services apply it, unrestarted.
    const upMarks = both.map(({ pilot }) => pilot.mark);
    await startHub();
    for (const [index, { pilot }] of both.entries()) {
      const line = await pilot.waitFor(`config applied ${sqlVersion} (made in SQL while the hub was down)`, applied(sqlVersion), upMarks[index]);
      expect(line.changes).toEqual({ 'operational.batch_size': { from: 11, to: 13 } });
      const check = await pilot.waitFor(`gap check on version ${sqlVersion}`, gapCheckAt(sqlVersion), upMarks[index]);
      expect(check.batchSize).toBe(13);
    }
    await viaWebSocket.pilot.waitFor('READY with the hub back', (line) => line.msg === 'hub status' && line.state === 'READY', upMarks[1]);

    // A clean stop on SIGTERM.
    for (const { pilot } of both) expect(await pilot.stop()).toBe(0);
  });
});
