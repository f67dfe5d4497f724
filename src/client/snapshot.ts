import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { type JsonObject, isJsonObject } from '../protocol/json.ts';

// The last-known-good config on disk: what a service starts from when the hub is away.

/** What the snapshot file holds: the hub's document as it was applied, with its version. */
export interface Snapshot {
  service: string;
  environment: string;
  version: number;
  config: JsonObject;
  /** When it was written (ISO 8601). */
  savedAt: string;
}

/** Reads a snapshot synchronously (a start must not wait); undefined when there is none, with why when it is unusable. */
export function readSnapshot(file: string, service: string, environment: string): { snapshot?: Snapshot; problem?: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    return { problem: `cannot read snapshot ${file}: ${(error as Error).message}` };
  }
  try {
    const parsed = JSON.parse(text) as Partial<Snapshot>;
    if (parsed.service !== service || parsed.environment !== environment) {
      return { problem: `snapshot ${file} belongs to ${parsed.service}/${parsed.environment}` };
    }
    if (!Number.isInteger(parsed.version) || (parsed.version as number) < 1 || !isJsonObject(parsed.config)) {
      return { problem: `snapshot ${file} has no version or config` };
    }
    return { snapshot: parsed as Snapshot };
  } catch (error) {
    return { problem: `snapshot ${file} is not JSON: ${(error as Error).message}` };
  }
}

/**
 * Writes snapshots atomically (a temporary file in the same directory, then rename), one at a time and
 * in order, so a crash leaves the old snapshot or the new one, never half of one, and never an older
 * version over a newer one.
 */
export class SnapshotWriter {
  private chain: Promise<void> = Promise.resolve();

  constructor(readonly file: string) {}

  /** Queues a write; the promise settles when it is on disk (rejects with why it is not). */
  write(snapshot: Snapshot): Promise<void> {
    const next = this.chain.then(() => this.writeNow(snapshot));
    this.chain = next.catch(() => {});
    return next;
  }

  /** Resolves once every queued write has finished. */
  async flush(): Promise<void> {
    await this.chain;
  }

  private async writeNow(snapshot: Snapshot): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    const temporary = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      const handle = await open(temporary, 'w', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(snapshot, null, 2)}\n`);
        // On disk before the rename makes it the snapshot: a power cut must not leave an empty file.
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, this.file);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }
}
