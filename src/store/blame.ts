import { LRUCache } from 'lru-cache';
import type { ConfigAction } from '../generated/prisma/enums.ts';
import { type JsonValue, escapeKey, isJsonObject, sameValue, valueAtPath } from '../protocol/json.ts';
import { NotFoundError } from './errors.ts';
import type { ChangeText } from './history.ts';
import { type ConfigKey, keyString } from './names.ts';

// Blame per setting (README, "Blame per setting"): for every leaf of a config, the newest audited change whose
// old and new documents differ there, in one pass over the audit log, newest first, a page at a time, at most
// MAX_SCAN_BYTES in all. Each config's last answer is kept: the next version's blame reads only the changes since.

/** What set one leaf. */
export interface SettingBlame {
  /** JSON pointer of the setting (`/operational/batch_size`). */
  pointer: string;
  value: JsonValue;
  version: number;
  action: ConfigAction;
  changedBy: string;
  changedAt: Date;
  reason: string | null;
}

export interface ConfigBlame extends ConfigKey {
  /** The version blamed (the newest). */
  version: number;
  /** Every leaf, in document order. */
  settings: SettingBlame[];
  /** False when the scan stopped at MAX_SCAN_BYTES with leaves left: those are absent from `settings`. */
  complete: boolean;
}

interface Leaf {
  pointer: string;
  path: string[];
  value: JsonValue;
}

/** The leaves of a document, in document order (arrays and empty objects are leaves). */
export function leavesOf(document: JsonValue, path: string[] = [], pointer = ''): Leaf[] {
  if (!isJsonObject(document) || (Object.keys(document).length === 0 && path.length > 0)) return [{ pointer, path, value: document }];
  return Object.entries(document).flatMap(([key, value]) => leavesOf(value, [...path, key], `${pointer}/${escapeKey(key)}`));
}

/** One change as the scan needs it. */
export type BlameChange = Omit<SettingBlame, 'pointer' | 'value'> & { oldConfig: JsonValue | null; newConfig: JsonValue | null };

/**
 * Attributes the leaves of `current` to changes offered newest first; `offer` answers true once every
 * leaf has its change.
 */
export class BlameScan {
  private readonly leaves: Leaf[];
  private readonly open: Map<string, Leaf>;
  private readonly found = new Map<string, SettingBlame>();

  constructor(current: JsonValue) {
    this.leaves = leavesOf(current);
    this.open = new Map(this.leaves.map((leaf) => [leaf.pointer, leaf]));
  }

  offer(change: BlameChange): boolean {
    for (const [pointer, leaf] of this.open) {
      const before = valueAtPath(change.oldConfig ?? undefined, leaf.path);
      const after = valueAtPath(change.newConfig ?? undefined, leaf.path);
      if (before !== undefined && after !== undefined && sameValue(before, after)) continue;
      const { version, action, changedBy, changedAt, reason } = change;
      this.found.set(pointer, { pointer, value: leaf.value, version, action, changedBy, changedAt, reason });
      this.open.delete(pointer);
    }
    return this.open.size === 0;
  }

  /** The leaves still open take their change from an earlier blame (no change since touched them). */
  inherit(earlier: readonly SettingBlame[]): void {
    for (const setting of earlier) {
      const leaf = this.open.get(setting.pointer);
      if (!leaf) continue;
      this.found.set(setting.pointer, { ...setting, value: leaf.value });
      this.open.delete(setting.pointer);
    }
  }

  get done(): boolean {
    return this.open.size === 0;
  }

  /** The leaves found, in document order. */
  settings(): SettingBlame[] {
    return this.leaves.flatMap((leaf) => this.found.get(leaf.pointer) ?? []);
  }
}

/** The most JSON text one blame reads in all. */
export const MAX_SCAN_BYTES = 64 * 1024 * 1024;

export class BlameReader {
  /** The last answer per config: the next version's blame reads only the changes since. */
  private readonly answers = new LRUCache<string, ConfigBlame>({ max: 500 });

  /**
   * `changesBefore` reads the audit log a page at a time, newest first (ConfigHistory's); `current` reads a
   * config's row now (uncached: the scan starts at the audit log's newest change).
   */
  constructor(
    private readonly changesBefore: (key: ConfigKey, before: string | null) => Promise<ChangeText[]>,
    private readonly current: (key: ConfigKey) => Promise<{ version: number; config: unknown; deletedAt: Date | null } | null>,
  ) {}

  /** Blame of the config's current version; NotFoundError when there is no such config (or it is deleted). */
  async blame(key: ConfigKey): Promise<ConfigBlame> {
    const head = await this.current(key);
    if (!head || head.deletedAt) throw new NotFoundError(key.service, key.environment);
    const cacheKey = keyString(key);
    const previous = this.answers.get(cacheKey);
    if (previous?.version === head.version) return previous;
    // Changes up to a complete earlier answer's version need not be read again: a setting no later change
    // touched was set where that answer says.
    const known = previous?.complete && previous.version < head.version ? previous : undefined;

    const scan = new BlameScan(head.config as JsonValue);
    let before: string | null = null;
    let scanned = 0;
    reading: while (!scan.done && scanned < MAX_SCAN_BYTES) {
      const page = await this.changesBefore(key, before);
      if (page.length === 0) break;
      for (const row of page) {
        if (known && row.version <= known.version) break reading;
        scanned += Buffer.byteLength(row.oldText ?? '') + Buffer.byteLength(row.newText ?? '');
        const change = {
          ...row,
          oldConfig: row.oldText === null ? null : (JSON.parse(row.oldText) as JsonValue),
          newConfig: row.newText === null ? null : (JSON.parse(row.newText) as JsonValue),
        };
        if (scan.offer(change)) break reading;
      }
      before = String(page.at(-1)!.revision);
    }
    if (known) scan.inherit(known.settings);
    const answer: ConfigBlame = { ...key, version: head.version, settings: scan.settings(), complete: scan.done };
    this.answers.set(cacheKey, answer);
    return answer;
  }
}
