import { randomUUID } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import type { Logger } from '../logger.ts';
import { StartupError } from '../startupError.ts';

// One gateway per embedded data directory: two PGlite processes on one directory would overwrite each
// other's writes. So the directory holds a lock file naming its owner, taken before PGlite opens it and
// removed on close. It is created atomically (written to a file of its own, then hard-linked to the lock's
// name); a lock whose owner is gone (pid, and on Linux its start time and the boot id) is taken over, then
// checked again; a lock from another host is refused, saying how to remove it.

/** The lock's name inside the data directory. */
export const LOCK_FILE = 'confighub.lock';

/** How long a process that met another's lock waits before it checks the lock it took is still its own. */
const RECHECK_MS = 100;
const MAX_ATTEMPTS = 10;

/** What a lock file says about its owner. */
export interface LockOwner {
  pid: number;
  hostname: string;
  /** Random, one per acquisition: tells two locks of one pid apart. */
  instance: string;
  /** When the owner took the lock (ISO 8601). */
  startedAt: string;
  /** Linux: the kernel's boot id when the lock was taken. */
  bootId?: string;
  /** Linux: the owner's start time in clock ticks since boot (/proc/<pid>/stat, field 22). */
  processStart?: string;
}

/** The data directory is in use, or its lock cannot be judged; the message names the directory and the owner. */
export class DataDirLockError extends StartupError {
  override name = 'DataDirLockError';
  constructor(
    message: string,
    readonly directory: string,
    /** The owner the lock names, when it could be read. */
    readonly owner: LockOwner | null,
  ) {
    super(message);
  }
}

/** Instances this process holds: a lock of our own pid is live only if it is one of these. */
const held = new Set<string>();

/** The exclusive use of one data directory by this process, until `release()` or the process ends. */
export class DataDirLock {
  private released = false;
  private readonly onExit = () => this.release();

  private constructor(
    /** The data directory, resolved. */
    readonly directory: string,
    /** The lock file. */
    readonly file: string,
    readonly owner: LockOwner,
  ) {
    // A start that fails after the lock, or a `process.exit`, still leaves the directory free.
    process.once('exit', this.onExit);
  }

  /**
   * Takes the lock of `dataDir` (created if missing), or throws `DataDirLockError` naming the process
   * that holds it. A lock left by a process that is gone is taken over (logged).
   */
  static async acquire(dataDir: string, options: { logger?: Logger } = {}): Promise<DataDirLock> {
    const directory = path.resolve(dataDir);
    await mkdir(directory, { recursive: true });
    const file = path.join(directory, LOCK_FILE);
    const owner = currentOwner();
    // Ours from the moment it may be linked: another acquisition in this process must see it live.
    held.add(owner.instance);
    try {
      await takeLock(directory, file, owner, options.logger);
      return new DataDirLock(directory, file, owner);
    } catch (error) {
      held.delete(owner.instance);
      throw error;
    }
  }

  /** Removes the lock if it is still this one's. Idempotent, never throws; synchronous, so that it also runs on exit. */
  release(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this.owner.instance);
    process.off('exit', this.onExit);
    try {
      if (parseOwner(readFileSync(this.file, 'utf8'))?.instance === this.owner.instance) unlinkSync(this.file);
    } catch {
      // Gone already, or unreachable: a lock left behind is taken over at the next start.
    }
  }
}

/** Takes the lock of `directory` for `owner`, taking over one whose owner is gone, or throws `DataDirLockError`. */
async function takeLock(directory: string, file: string, owner: LockOwner, logger: Logger | undefined): Promise<void> {
  let contended = false;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (await createLock(file, owner)) {
      if (contended) {
        await sleep(RECHECK_MS);
        if ((await readOwner(file))?.instance !== owner.instance) continue;
      }
      return;
    }
    contended = true;
    const present = await readOwner(file);
    if (present === undefined) continue;
    // Our own lock, put back by a process that had moved it away by mistake (see `takeOver`).
    if (present?.instance === owner.instance) return;
    if (!present) {
      throw new DataDirLockError(
        `the data directory ${directory} holds a lock file that cannot be read (${file}); if you are sure no gateway uses the directory, remove that file`,
        directory,
        null,
      );
    }
    if (present.hostname !== owner.hostname) {
      throw new DataDirLockError(
        `the data directory ${directory} is in use by process ${present.pid} on host ${present.hostname} (started ${present.startedAt}), ` +
          `which cannot be checked from ${owner.hostname}; stop it or use another CONFIGHUB_DATA_DIR. ` +
          `If you are sure no gateway uses the directory, remove ${file}`,
        directory,
        present,
      );
    }
    if (isAlive(present)) {
      throw new DataDirLockError(
        `the data directory ${directory} is in use by process ${present.pid} (started ${present.startedAt}); stop it or use another CONFIGHUB_DATA_DIR`,
        directory,
        present,
      );
    }
    if (await takeOver(file, present, owner)) {
      logger?.warn({ lock: file, pid: present.pid, startedAt: present.startedAt }, 'took over the data directory lock of a process that is gone');
    }
  }
  throw new DataDirLockError(`could not take the lock of the data directory ${directory} (${file}) after ${MAX_ATTEMPTS} tries`, directory, null);
}

/** Writes `owner` to a file of its own and links it to the lock's name; false if a lock is there. */
async function createLock(file: string, owner: LockOwner): Promise<boolean> {
  const draft = `${file}.${owner.instance}`;
  await writeFile(draft, `${JSON.stringify(owner)}\n`, { flag: 'wx' });
  try {
    await link(draft, file);
    return true;
  } catch (error) {
    if (isCode(error, 'EEXIST')) return false;
    throw error;
  } finally {
    await unlink(draft).catch(() => {});
  }
}

/**
 * Removes the lock of `stale`, a process that is gone. Another process may have done so and taken the
 * lock in between: what was moved away is checked, and put back if it is not the stale lock.
 */
async function takeOver(file: string, stale: LockOwner, owner: LockOwner): Promise<boolean> {
  const moved = `${file}.stale-${owner.instance}`;
  try {
    await rename(file, moved);
  } catch (error) {
    if (isCode(error, 'ENOENT')) return false;
    throw error;
  }
  try {
    if ((await readOwner(moved))?.instance === stale.instance) return true;
    await link(moved, file).catch((error: unknown) => {
      // Someone linked a new lock meanwhile; the owner of the moved one finds out when it checks again.
      if (!isCode(error, 'EEXIST')) throw error;
    });
    return false;
  } finally {
    await unlink(moved).catch(() => {});
  }
}

/** The lock's owner (null if the file cannot be parsed), or undefined if there is no lock. */
async function readOwner(file: string): Promise<LockOwner | null | undefined> {
  try {
    return parseOwner(await readFile(file, 'utf8'));
  } catch (error) {
    if (isCode(error, 'ENOENT')) return undefined;
    throw error;
  }
}

function parseOwner(text: string): LockOwner | null {
  try {
    const owner = JSON.parse(text) as Partial<LockOwner>;
    const valid =
      Number.isInteger(owner.pid) &&
      owner.pid! > 0 &&
      typeof owner.hostname === 'string' &&
      typeof owner.instance === 'string' &&
      typeof owner.startedAt === 'string';
    return valid ? (owner as LockOwner) : null;
  } catch {
    return null;
  }
}

/** Whether the process a lock names (on this host) still runs. */
function isAlive(owner: LockOwner): boolean {
  if (owner.pid === process.pid) return held.has(owner.instance);
  const bootId = readBootId();
  if (owner.bootId && bootId && owner.bootId !== bootId) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    // EPERM: it runs, as another user.
    if (isCode(error, 'ESRCH')) return false;
  }
  const start = processStart(owner.pid);
  // Without /proc there is no telling a reused pid apart: a live pid keeps the lock.
  return !owner.processStart || start === undefined || start === owner.processStart;
}

function currentOwner(): LockOwner {
  const [bootId, start] = [readBootId(), processStart(process.pid)];
  const owner = { pid: process.pid, hostname: hostname(), instance: randomUUID(), startedAt: new Date().toISOString() };
  return { ...owner, ...(bootId && { bootId }), ...(start && { processStart: start }) };
}

function readBootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat (after the command, which may hold spaces and parentheses). */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const isCode = (error: unknown, code: string) => (error as NodeJS.ErrnoException | null)?.code === code;
