import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DataDirLock, DataDirLockError, LOCK_FILE, type LockOwner, processStart } from '../src/db/dataDirLock.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../', import.meta.url));

// Every directory and process a test makes, removed and stopped at the end.
const directories: string[] = [];
const processes: ChildProcess[] = [];

afterAll(() => {
  for (const child of processes) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

function temporaryDirectory(): string {
  const directory = mkdtempSync(path.join(tmpdir(), 'confighub-lock-'));
  directories.push(directory);
  return directory;
}


function writeLock(directory: string, owner: Partial<LockOwner>): void {
  const lock: LockOwner = { pid: 1, hostname: hostname(), instance: 'left-behind', startedAt: '2026-01-01T00:00:00.000Z', ...owner };
  writeFileSync(path.join(directory, LOCK_FILE), JSON.stringify(lock));
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The pid of a process that has exited. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

describe('the data directory lock, within one process', () => {
  it('lets exactly one of two simultaneous acquisitions win, and frees the directory on release', async () => {
    const directory = temporaryDirectory();
    const results = await Promise.allSettled([DataDirLock.acquire(directory), DataDirLock.acquire(directory)]);
    const won = results.filter((result) => result.status === 'fulfilled');
    const lost = results.filter((result) => result.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    const refusal = (lost[0] as PromiseRejectedResult).reason as DataDirLockError;
    expect(refusal).toBeInstanceOf(DataDirLockError);
    expect(refusal.owner?.pid).toBe(process.pid);
    expect(refusal.message).toBe(
      `the data directory ${directory} is in use by process ${process.pid} (started ${refusal.owner!.startedAt}); stop it or use another CONFIGHUB_DATA_DIR`,
    );

    const lock = (won[0] as PromiseFulfilledResult<DataDirLock>).value;
    lock.release();
    expect(existsSync(path.join(directory, LOCK_FILE))).toBe(false);
    const again = await DataDirLock.acquire(directory);
    again.release();
  });

  it('takes over the lock of a process that is gone, one taker only among several', async () => {
    const directory = temporaryDirectory();
    const gone = deadPid();
    writeLock(directory, { pid: gone });
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => DataDirLock.acquire(directory)));
    const won = results.filter((result) => result.status === 'fulfilled') as PromiseFulfilledResult<DataDirLock>[];
    expect(won).toHaveLength(1);
    for (const result of results) {
      if (result.status === 'rejected') expect((result.reason as DataDirLockError).owner?.instance).toBe(won[0]!.value.owner.instance);
    }
    expect(JSON.parse(readFileSync(path.join(directory, LOCK_FILE), 'utf8'))).toEqual(won[0]!.value.owner);
    won[0]!.value.release();
  });

  it.runIf(processStart(process.pid) !== undefined)('tells a live owner from another process that reuses its pid (Linux)', async () => {
    const directory = temporaryDirectory();
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    processes.push(other);
    const pid = other.pid!;
    // The pid runs, but started at another time than the lock's owner: that owner is gone.
    writeLock(directory, { pid, processStart: '1' });
    const lock = await DataDirLock.acquire(directory);
    lock.release();
    // The same pid with its own start time is the owner: refused.
    writeLock(directory, { pid, processStart: processStart(pid) });
    await expect(DataDirLock.acquire(directory)).rejects.toThrow(`is in use by process ${pid} (started 2026-01-01T00:00:00.000Z)`);
    other.kill('SIGKILL');
  });

  it('refuses a lock held from another host, saying how to remove it', async () => {
    const directory = temporaryDirectory();
    writeLock(directory, { pid: deadPid(), hostname: 'elsewhere' });
    const file = path.join(directory, LOCK_FILE);
    await expect(DataDirLock.acquire(directory)).rejects.toThrow(
      `the data directory ${directory} is in use by process ${JSON.parse(readFileSync(file, 'utf8')).pid} on host elsewhere (started 2026-01-01T00:00:00.000Z), ` +
        `which cannot be checked from ${hostname()}; stop it or use another CONFIGHUB_DATA_DIR. If you are sure no gateway uses the directory, remove ${file}`,
    );
  });

  it('refuses a lock file it cannot read', async () => {
    const directory = temporaryDirectory();
    writeFileSync(path.join(directory, LOCK_FILE), 'not json');
    await expect(DataDirLock.acquire(directory)).rejects.toThrow(/holds a lock file that cannot be read .*; if you are sure no gateway uses the directory, remove that file$/);
  });
});

/** A gateway process (`node --import tsx src/main.ts`) on an embedded data directory, as `npm start` runs it. */
class Gateway {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static spawn(dataDir: string): Gateway {
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', HOST: '127.0.0.1', CONFIGHUB_DATA_DIR: dataDir, LOG_LEVEL: 'info', NODE_ENV: 'test' };
    for (const name of ['DATABASE_URL', 'NATS_URL', 'CONFIGHUB_ADMIN_TOKEN']) delete env[name];
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    processes.push(child);
    return new Gateway(child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves with the base URL once the gateway logs that it listens; rejects if it exits first. */
  async listening(): Promise<string> {
    const url = await new Promise<string>((resolve, reject) => {
      const look = () => {
        const line = this.stdout.split('\n').find((text) => text.includes('"confighub listening"'));
        if (line) resolve(JSON.parse(line).url);
      };
      this.child.stdout!.on('data', look);
      look();
      void this.exited.then((code) => reject(new Error(`gateway exited (${code}) before it listened:\n${this.stdout}\n${this.stderr}`)));
    });
    return url;
  }
}

describe('the data directory lock, between gateway processes', () => {
  // Several gateway starts (the first initialises PGlite: seconds on a busy two-core machine).
  const TIMEOUT = 180_000;
  const dataDir = temporaryDirectory();
  let first: Gateway;
  let url: string;
  let token: string;

  async function graphql(query: string) {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query }),
    });
    return (await response.json()) as { data: any };
  }

  it('refuses a second gateway on the same directory at once, naming the directory and the owner', { timeout: TIMEOUT }, async () => {
    first = Gateway.spawn(dataDir);
    url = await first.listening();
    token = readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();

    const second = Gateway.spawn(dataDir);
    const startedAt = Date.now();
    // Rejects when the process exits before it listens; a second gateway that served would fail here.
    await expect(second.listening()).rejects.toThrow(/^gateway exited \(1\) before it listened/);
    // Refused before PGlite opens anything: the time to load the code, not to open a database.
    expect(Date.now() - startedAt).toBeLessThan(30_000);
    expect(second.stderr).toMatch(
      new RegExp(
        `^confighub failed to start: the data directory ${escapeRegExp(dataDir)} ` +
          `is in use by process ${first.pid} \\(started \\d{4}-\\d{2}-\\d{2}T[^)]+\\); stop it or use another CONFIGHUB_DATA_DIR\\n$`,
      ),
    );
    expect(second.stdout).not.toContain('confighub listening');
  });

  it('leaves the first gateway serving, reads and writes', { timeout: TIMEOUT }, async () => {
    expect(first.child.exitCode).toBeNull();
    expect((await fetch(`${url}/health`)).status).toBe(200);
    const created = await graphql(`mutation { createConfig(input: { service: "lock-check", config: { level: 1 } }) {
      __typename ... on ConfigWrite { config { version } } } }`);
    expect(created.data.createConfig).toEqual({ __typename: 'ConfigWrite', config: { version: 1 } });
    const read = await graphql(`{ config(service: "lock-check") { ... on ServiceConfig { version config } } }`);
    expect(read.data.config).toEqual({ version: 1, config: { level: 1 } });
  });

  it('starts again on the directory after the owner was SIGKILLed, and frees it on a clean stop', { timeout: TIMEOUT }, async () => {
    first.child.kill('SIGKILL');
    await first.exited;
    // The killed owner could not remove its lock: the next start finds it, sees the process gone, takes over.
    expect(JSON.parse(readFileSync(path.join(dataDir, LOCK_FILE), 'utf8')).pid).toBe(first.pid);
    const next = Gateway.spawn(dataDir);
    url = await next.listening();
    expect((await fetch(`${url}/health`)).status).toBe(200);
    expect(next.stdout).toContain('took over the data directory lock of a process that is gone');
    expect(JSON.parse(readFileSync(path.join(dataDir, LOCK_FILE), 'utf8')).pid).toBe(next.pid);

    next.child.kill('SIGTERM');
    expect(await next.exited).toBe(0);
    expect(existsSync(path.join(dataDir, LOCK_FILE))).toBe(false);
  });
});
