import type { Database } from '../db/database.ts';
import { durationMs } from '../protocol/durations.ts';
import { type JsonObject, type JsonValue, escapeKey, isJsonObject, sameValue, valueAtPath } from '../protocol/json.ts';
import { leavesOf } from './blame.ts';
import { NotFoundError, ValidationError, VersionConflictError } from './errors.ts';
import type { ConfigKey } from './names.ts';
import { reasonWithin } from './texts.ts';

// Temporary overrides (README, "Temporary overrides"): a change with an expiry, written as any other, beside
// which the hub keeps the settings it changed; at expiry one gateway (by a claim in the database) writes the
// revert as a new audited version, leaving any setting a later change touched.

/** The longest an override may last. */
export const MAX_OVERRIDE_MS = 90 * 86_400_000;
/** The shortest. */
export const MIN_OVERRIDE_MS = 1_000;
/** A claim older than this is taken over (its gateway died mid-revert; the revert is idempotent). */
const STALE_CLAIM_SECONDS = 60;
/** The actor of the reverts. */
export const OVERRIDE_ACTOR = 'override';

/** One setting an override changed (`before`/`after` absent: the setting did not exist then). */
export interface OverrideChange {
  path: string[];
  before?: JsonValue;
  after?: JsonValue;
}

export interface ConfigOverride extends ConfigKey {
  id: string;
  version: number;
  changes: OverrideChange[];
  expiresAt: Date;
  createdBy: string;
  reason: string | null;
  createdAt: Date;
  state: 'open' | 'reverting' | 'reverted';
  revertedAt: Date | null;
  revertedVersion: number | null;
  outcome: string | null;
}

/** The pointer of a change's setting. */
export const changePointer = (change: OverrideChange) => change.path.map((key) => `/${escapeKey(key)}`).join('');

/** The settings (leaves) whose values differ between two documents, with both values. */
export function overrideChanges(before: JsonObject, after: JsonObject): OverrideChange[] {
  const changes = new Map<string, OverrideChange>();
  for (const [document, side] of [[before, 'before'], [after, 'after']] as const) {
    for (const leaf of leavesOf(document)) {
      if (leaf.path.length === 0) continue;
      const change = changes.get(leaf.pointer) ?? { path: leaf.path };
      change[side] = leaf.value;
      changes.set(leaf.pointer, change);
    }
  }
  return [...changes.values()].filter((change) => !(change.before !== undefined && change.after !== undefined && sameValue(change.before, change.after)));
}


/** Sets (or, for undefined, removes) the value at a path, making the objects on the way; false if a step is not an object. */
function putAtPath(document: JsonObject, path: readonly string[], value: JsonValue | undefined): boolean {
  let parent: JsonObject = document;
  for (const key of path.slice(0, -1)) {
    const next = parent[key];
    if (next === undefined) {
      if (value === undefined) return true;
      parent = parent[key] = {};
    } else if (isJsonObject(next)) parent = next;
    else return false;
  }
  const last = path.at(-1)!;
  if (value === undefined) delete parent[last];
  else parent[last] = value;
  return true;
}

/**
 * The document with what is still the override's own put back: a setting whose value is still what the
 * override set returns to what it was; the others are left, each with why.
 */
export function revertedDocument(current: JsonObject, changes: readonly OverrideChange[]): { document: JsonObject; reverted: string[]; kept: string[] } {
  const document = structuredClone(current);
  const reverted: string[] = [];
  const kept: string[] = [];
  // What the override added goes first: an object it put where a setting was (or the other way round)
  // is removed before the setting is put back.
  const ordered = [...changes].sort((a, b) => Number(a.before !== undefined) - Number(b.before !== undefined));
  for (const change of ordered) {
    const now = valueAtPath(document, change.path);
    const stillOwn = change.after === undefined ? now === undefined : now !== undefined && sameValue(now, change.after);
    if (stillOwn && putAtPath(document, change.path, change.before)) reverted.push(changePointer(change));
    else kept.push(changePointer(change));
  }
  return { document, reverted, kept };
}

/**
 * When an override asked for ends: `expiresAt` as given, or now plus `expiresIn` (`90m`, `2h`, `3d`);
 * refused outside the limits.
 */
export function overrideExpiry(expiresAt: Date | null | undefined, expiresIn: string | null | undefined, now = Date.now()): Date | undefined {
  if (expiresAt == null && expiresIn == null) return undefined;
  if (expiresAt != null && expiresIn != null) throw ValidationError.at('/expiresIn', 'give expiresIn or expiresAt, not both');
  const pointer = expiresAt != null ? '/expiresAt' : '/expiresIn';
  const inMs = expiresIn == null ? 0 : durationMs(expiresIn);
  if (Number.isNaN(inMs)) throw ValidationError.at(pointer, 'a duration such as 90m, 2h or 3d');
  const at = expiresAt != null ? expiresAt.getTime() : now + inMs;
  if (!Number.isFinite(at) || at - now < MIN_OVERRIDE_MS) throw ValidationError.at(pointer, 'an override must last at least a second');
  if (at - now > MAX_OVERRIDE_MS) throw ValidationError.at(pointer, 'an override may last at most 90 days');
  return new Date(at);
}

/** The reason of a revert: which override expired, and its own reason, cut to fit the audit log's limit. */
export function revertReason(override: Pick<ConfigOverride, 'version' | 'reason'>): string {
  const head = `override of version ${override.version} expired`;
  return override.reason ? reasonWithin(`${head} (`, override.reason, ')') : head;
}

const COLUMNS = `id::text AS id, service_name AS service, environment, version, changes, expires_at AS "expiresAt", created_by AS "createdBy",
  reason, created_at AS "createdAt", state, reverted_at AS "revertedAt", reverted_version AS "revertedVersion", outcome`;

/** What the overrides need of the store: the config now, and an audited replacement pinned to its version. */
export interface OverrideWriter {
  current(key: ConfigKey): Promise<{ version: number; config: JsonObject; deleted: boolean } | null>;
  replace(key: ConfigKey, config: JsonObject, expectedVersion: number, reason: string): Promise<number | null>;
}

export class ConfigOverrides {

  constructor(private readonly db: Pick<Database, 'query'>) {}

  /** Records an override of a write that is done. */
  async record(key: ConfigKey, version: number, changes: OverrideChange[], expiresAt: Date, author: { actor: string; reason: string | null }): Promise<ConfigOverride> {
    const [row] = await this.db.query<ConfigOverride>(
      `INSERT INTO config_overrides (service_name, environment, version, changes, expires_at, created_by, reason)
       VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7) RETURNING ${COLUMNS}`,
      [key.service, key.environment, version, JSON.stringify(changes), expiresAt, author.actor, author.reason],
    );
    return row!;
  }

  /** The overrides of a config not reverted yet, soonest to expire first. */
  async open(key: ConfigKey): Promise<ConfigOverride[]> {
    return this.db.query<ConfigOverride>(
      `SELECT ${COLUMNS} FROM config_overrides WHERE service_name = $1 AND environment = $2 AND state <> 'reverted' ORDER BY expires_at, config_overrides.id`,
      [key.service, key.environment],
    );
  }

  async find(id: string): Promise<ConfigOverride | null> {
    const [row] = await this.db.query<ConfigOverride>(`SELECT ${COLUMNS} FROM config_overrides WHERE id = $1::bigint`, [id]);
    return row ?? null;
  }

  /** Reverts every due override, claiming each first; returns when none is left. */
  async sweep(writer: OverrideWriter): Promise<void> {
    for (;;) {
      const [claimed] = await this.db.query<ConfigOverride>(
        `UPDATE config_overrides SET state = 'reverting', claimed_at = now()
          WHERE id = (SELECT id FROM config_overrides
                       WHERE (state = 'open' AND expires_at <= now())
                          OR (state = 'reverting' AND claimed_at < now() - interval '${STALE_CLAIM_SECONDS} seconds')
                       ORDER BY expires_at LIMIT 1 FOR UPDATE SKIP LOCKED)
          RETURNING ${COLUMNS}`,
      );
      if (!claimed) return;
      const { version, outcome } = await this.revert(claimed, writer);
      await this.db.query(`UPDATE config_overrides SET state = 'reverted', reverted_at = now(), reverted_version = $2, outcome = $3 WHERE id = $1::bigint`, [
        claimed.id,
        version,
        outcome,
      ]);
    }
  }

  private async revert(override: ConfigOverride, writer: OverrideWriter): Promise<{ version: number | null; outcome: string }> {
    for (let attempt = 0; ; attempt++) {
      const current = await writer.current(override);
      if (!current || current.deleted) return { version: null, outcome: 'the config was deleted: nothing reverted' };
      const { document, reverted, kept } = revertedDocument(current.config, override.changes);
      const keptNote = kept.length > 0 ? `; left (changed since): ${kept.join(', ')}` : '';
      if (reverted.length === 0) return { version: null, outcome: `nothing left to revert${keptNote}` };
      const reason = revertReason(override);
      try {
        const version = await writer.replace(override, document, current.version, reason);
        return { version, outcome: `reverted ${reverted.join(', ')}${keptNote}` };
      } catch (error) {
        // Someone wrote between the read and the write: read again.
        if (!(error instanceof VersionConflictError) || attempt >= 10) {
          if (error instanceof NotFoundError) return { version: null, outcome: 'the config was deleted: nothing reverted' };
          throw error;
        }
      }
    }
  }
}
