// Running the gateway: liveness and readiness, a graceful stop, and the process as an operator starts
// it (`npx tsx src/main.ts`): JSON logs, exit 0 on SIGTERM, data kept across restarts.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readMigrations } from '../src/db/migrate.ts';
import { adminAuth, createTestApp, type TestApp, useTestApp } from './support/app.ts';
import { eventually, freePort } from './support/waiting.ts';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));

/** Resolves with the error code of a TCP connection attempt, or 'connected'. */
function tryConnect(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

describe('health and readiness on pglite', () => {
  let t: TestApp;
  let base: string;

  beforeAll(async () => {
    t = await createTestApp('pglite');
    base = await t.app.start();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('GET /health answers 200', async () => {
    const response = await fetch(`${base}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('GET /metrics counts requests, and config writes with the statements that committed them', async () => {
    const metric = async (name: string) => {
      const response = await fetch(`${base}/metrics`);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
      const line = (await response.text()).split('\n').find((candidate) => candidate.startsWith(`${name} `) || candidate.startsWith(`${name}{`));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    const requestsCounted = 'confighub_http_requests_total{route="graphql",method="POST",status="200"}';
    const rows = (await metric('confighub_write_rows_total'))!;
    const statements = (await metric('confighub_write_statements_total'))!;
    const requests = (await metric(requestsCounted)) ?? 0;
    expect(Number.isInteger(rows) && Number.isInteger(statements)).toBe(true);
    const response = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...adminAuth },
      body: JSON.stringify({
        query: 'mutation { updateConfig(input: { service: "polygon-historical-downloader", patch: { operational: { batch_size: 777 } } }) { __typename } }',
      }),
    });
    expect(await response.json()).toEqual({ data: { updateConfig: { __typename: 'ConfigWrite' } } });
    expect(await metric('confighub_write_rows_total')).toBe(rows + 1);
    expect(await metric('confighub_write_statements_total')).toBe(statements + 1);
    // Counted when the answer is finished: the response is read by then, the count may lag a moment.
    expect(await eventually(() => metric(requestsCounted), (count) => count === requests + 1)).toBe(requests + 1);
  });

  it('GET /ready answers 200 with the database kind', async () => {
    const response = await fetch(`${base}/ready`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ready', database: 'pglite' });
  });
});

describe('readiness when the database is gone', () => {
  it('pglite: /ready answers 503 once the database is closed, /health still 200', async () => {
    const t = await createTestApp('pglite');
    let databaseOpen = true;
    try {
      const base = await t.app.start();
      expect((await fetch(`${base}/ready`)).status).toBe(200);
      await t.db.close();
      databaseOpen = false;
      const response = await fetch(`${base}/ready`);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ status: 'unavailable', database: 'pglite', reason: expect.any(String) });
      expect((await fetch(`${base}/health`)).status).toBe(200);
    } finally {
      await t.app.stop();
      if (databaseOpen) await t.db.close();
    }
  });

  it('postgres: /ready answers 503 once the database is dropped', async () => {
    const t = await createTestApp('postgres');
    try {
      const base = await t.app.start();
      const ready = await fetch(`${base}/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', database: 'postgres' });

      const admin = new pg.Client({ connectionString: `${inject('postgresUrl')}/postgres` });
      await admin.connect();
      try {
        await admin.query(`DROP DATABASE "${new URL(t.db.url!).pathname.slice(1)}" WITH (FORCE)`);
      } finally {
        await admin.end();
      }
      const response = await fetch(`${base}/ready`);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ status: 'unavailable', database: 'postgres', reason: expect.any(String) });
    } finally {
      await t.close();
    }
  });
});

describe('graceful stop', () => {
  const t = useTestApp('pglite');

  it('lets an in-flight request finish with 200 and refuses new connections', async () => {
    const base = await t.app.start();
    const url = `${base}/api/v1/config/tick-aggregator`;
    // A chunked POST held open by us: `Expect: 100-continue` tells when the server has taken it up.
    const request = httpRequest(url, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', expect: '100-continue', ...adminAuth },
    });
    const response = new Promise<{ status: number; body: any }>((resolve, reject) => {
      request.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) }));
      });
      request.on('error', reject);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        request.once('continue', resolve);
        request.once('error', reject);
        request.flushHeaders();
      });

      const events: string[] = [];
      const stopped = t.app.stop().then(() => events.push('stopped'));
      // The listener closes at once; the request in flight holds the stop.
      await eventually(() => tryConnect(base), (outcome) => outcome === 'ECONNREFUSED');
      expect(events).toEqual([]);

      request.end(JSON.stringify({ operational: { worker_threads: 6 } }));
      const answer = await response;
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ version: 2, config: { operational: { worker_threads: 6 } } });

      await stopped;
      expect(events).toEqual(['stopped']);
      expect(await tryConnect(base)).toBe('ECONNREFUSED');
      const [row] = await t.db.session((sql) =>
        sql.query<{ version: number }>(`SELECT version FROM service_configs WHERE service_name = 'tick-aggregator'`),
      );
      expect(row!.version).toBe(2);
    } finally {
      request.destroy();
    }
  });
});

/** `npx tsx src/main.ts` with its JSON log lines collected. */
class GatewayProcess {
  readonly lines: Record<string, any>[] = [];
  readonly stderr: string[] = [];
  private readonly child: ChildProcess;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private listening: Promise<string>;
  /** The node process that runs src/main.ts (pino logs its pid), under npx, sh and tsx. */
  private gatewayPid: number | undefined;

  constructor(env: Record<string, string>) {
    this.child = spawn('npx', ['tsx', 'src/main.ts'], {
      cwd: projectRoot,
      env: { ...process.env, DATABASE_URL: '', NATS_URL: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so cleanup can reach tsx's node child too.
      detached: true,
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    this.child.stderr!.on('data', (chunk: Buffer) => this.stderr.push(chunk.toString()));
    this.listening = new Promise((resolve, reject) => {
      let pending = '';
      this.child.stdout!.on('data', (chunk: Buffer) => {
        pending += chunk.toString();
        const complete = pending.split('\n');
        pending = complete.pop()!;
        for (const line of complete.filter((l) => l.trim() !== '')) {
          const entry = JSON.parse(line) as Record<string, any>;
          this.lines.push(entry);
          if (entry.msg === 'confighub listening') {
            this.gatewayPid = entry.pid;
            resolve(entry.url);
          }
        }
      });
      void this.exited.then(({ code }) => reject(new Error(`the gateway exited (${code}) before listening: ${this.stderr.join('')}`)));
    });
  }

  /** The base URL, once it logs that it listens. */
  url(): Promise<string> {
    return this.listening;
  }

  /**
   * SIGTERM to the gateway itself, as a supervisor signals the service; resolves with how npx exited
   * (it passes the gateway's exit code up). Not to npx alone: npm does not hand a SIGTERM sent only to
   * it on to its `sh -c tsx` child; it exits 143 and the gateway keeps running.
   */
  async terminate(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    process.kill(this.gatewayPid!, 'SIGTERM');
    return this.exited;
  }

  /** Kills whatever is left of its process group (after a failed test). */
  kill(): void {
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }

  messages(): string[] {
    return this.lines.map((line) => line.msg);
  }
}

describe('the gateway process', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'confighub-ops-'));
  const started: GatewayProcess[] = [];
  const start = async () => {
    const gateway = new GatewayProcess({ PORT: String(await freePort()), HOST: '127.0.0.1', CONFIGHUB_DATA_DIR: dataDir, LOG_LEVEL: 'info' });
    started.push(gateway);
    return gateway;
  };

  afterAll(() => {
    for (const gateway of started) gateway.kill();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('logs JSON, exits 0 on SIGTERM, and a second start keeps the data and migrates nothing twice', { timeout: 300_000 }, async () => {
    const migrations = readMigrations().map((migration) => migration.name);

    const first = await start();
    const firstUrl = await first.url();
    // A fresh start without CONFIGHUB_ADMIN_TOKEN makes an admin token, shows it once on stderr and keeps
    // it in a file only its owner may read; without it nothing is written.
    const tokenFile = path.join(dataDir, 'admin-token');
    const token = readFileSync(tokenFile, 'utf8').trim();
    expect(token).toMatch(/^chub_[A-Za-z0-9_-]{43}$/);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const patch = (headers: Record<string, string>) =>
      fetch(`${firstUrl}/api/v1/config/tick-aggregator?reason=first-run`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ operational: { worker_threads: 16 } }),
      });
    expect((await patch({})).status).toBe(401);
    const change = await patch({ authorization: `Bearer ${token}` });
    expect(change.status).toBe(200);
    expect((await change.json()).version).toBe(2);
    expect(await first.terminate()).toEqual({ code: 0, signal: null });
    // Counted once the process has exited: stderr and stdout are separate pipes, read in no fixed order.
    expect(first.stderr.join('').split(token).length - 1).toBe(1);

    for (const line of first.lines) {
      expect(line).toMatchObject({ level: expect.any(Number), time: expect.any(Number), name: 'confighub', msg: expect.any(String) });
    }
    expect(first.messages()).toEqual(expect.arrayContaining(['confighub listening', 'confighub stopped']));
    expect(first.messages().indexOf('confighub listening')).toBeLessThan(first.messages().indexOf('confighub stopped'));
    // A first start copies the database image prepared at install, its migrations applied there; the
    // database then holds every migration (checked below), none applied by this process.
    expect(first.messages()).toContain('new data directory made from the prepared database image');
    expect(first.lines.filter((line) => line.msg === 'migration applied').map((line) => line.migration)).toEqual([]);
    expect(first.lines.find((line) => line.msg === 'confighub listening')).toMatchObject({ database: 'pglite' });

    const second = await start();
    const secondUrl = await second.url();
    const auth = { headers: { authorization: `Bearer ${token}` } };
    const response = await fetch(`${secondUrl}/api/v1/config/tick-aggregator`, auth);
    expect(await response.json()).toMatchObject({ version: 2, updatedBy: 'admin', config: { operational: { worker_threads: 16 } } });
    const history = await (await fetch(`${secondUrl}/api/v1/config/history/tick-aggregator`, auth)).json();
    expect(history.changes.map((c: { version: number; reason: string }) => [c.version, c.reason])).toEqual([
      [2, 'first-run'],
      [1, 'pilot services seeded by migration'],
    ]);
    expect(await second.terminate()).toEqual({ code: 0, signal: null });
    expect(second.stderr.join('')).not.toContain(token);
    expect(second.messages()).not.toContain('migration applied');
    expect(second.messages()).toEqual(expect.arrayContaining(['confighub listening', 'confighub stopped']));

    // Looked at directly: each migration recorded once, the seed not run twice.
    const pglite = new PGlite(path.join(dataDir, 'pgdata'));
    try {
      const applied = await pglite.query<{ migration_name: string }>('SELECT migration_name FROM _prisma_migrations ORDER BY migration_name');
      expect(applied.rows.map((row) => row.migration_name)).toEqual(migrations);
      const configs = await pglite.query<{ count: number }>('SELECT count(*)::int AS count FROM service_configs');
      expect(configs.rows[0]!.count).toBe(3);
    } finally {
      await pglite.close();
    }
  });
});
