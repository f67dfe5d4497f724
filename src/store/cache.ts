import type { ServiceConfig } from '../generated/prisma/client.ts';
import { type ConfigKey, keyString } from './names.ts';

/**
 * What an operation's answer was made of: each config it asked for (by key string) and the row it found
 * (null: none). An answer stays true while the cache serves the same rows (see `ConfigCache.isCurrent`).
 */
export type ConfigReads = { key: string; row: ServiceConfig | null }[];

/**
 * The configs this instance has read or written, by (service, environment).
 * It never goes back in time: once a version is known to be committed (written here or announced
 * by the database), no older row is served or stored, even from a read that was already under way.
 */
export class ConfigCache {
  private readonly rows = new Map<string, ServiceConfig>();
  /** The newest version known to be committed, per config. */
  private readonly floors = new Map<string, number>();

  get(key: ConfigKey): ServiceConfig | undefined {
    return this.rows.get(keyString(key));
  }

  /** Keeps a row read from the database unless something newer is known. */
  offer(row: ServiceConfig): void {
    const key = keyString({ service: row.serviceName, environment: row.environment });
    const cached = this.rows.get(key);
    if (row.version < (this.floors.get(key) ?? 0) || (cached && cached.version >= row.version)) return;
    this.rows.set(key, row);
  }

  /**
   * A change this instance committed: serve it from now on, unless a newer one was announced already (the
   * database's notice of another instance's later change can arrive before this write's own answer: they
   * come over different connections).
   */
  written(row: ServiceConfig): void {
    const key = keyString({ service: row.serviceName, environment: row.environment });
    this.raiseFloor(key, row.version);
    if (row.version < this.floors.get(key)!) return;
    const cached = this.rows.get(key);
    if (!cached || cached.version <= row.version) this.rows.set(key, row);
  }

  /** A change committed elsewhere (another instance, psql): drop anything older. */
  changed(key: ConfigKey, version: number): void {
    const k = keyString(key);
    this.raiseFloor(k, version);
    const cached = this.rows.get(k);
    if (cached && cached.version < version) this.rows.delete(k);
  }

  /** Whether `row` is what the cache serves for a config (by its key string) right now. */
  isCurrent(key: string, row: ServiceConfig): boolean {
    return this.rows.get(key) === row;
  }

  clear(): void {
    this.rows.clear();
  }

  private raiseFloor(key: string, version: number): void {
    if (version > (this.floors.get(key) ?? 0)) this.floors.set(key, version);
  }
}
