import { LRUCache } from 'lru-cache';
import { nextTurn } from '../turns.ts';
import type { Database } from '../db/database.ts';
import { type ConfigChange, Prisma, type PrismaClient } from '../generated/prisma/client.ts';
import { type JsonValue, type PatchOperation, diffDocuments, keptOn } from './documents.ts';
import { isLargeDiff } from './documentChecks.ts';
import { NotFoundError, PageTooLargeError, ValidationError } from './errors.ts';
import { type ConfigKey, groupByConfig, keyString } from './names.ts';
import { type PatchText, patchLength } from './patchText.ts';

export type { ConfigChange };

const PATCH = Symbol('changePatch');

/** The RFC 6902 operations a change made, worked out once however many fields (patch, its count, the event) ask. */
export function changePatch(change: ConfigChange): PatchOperation[] {
  return keptOn(change, PATCH, () => diffDocuments(change.oldConfig as JsonValue, change.newConfig as JsonValue));
}

/**
 * The most JSON text of config documents (each change's old and new one) a single read of the audit log
 * may bring: loading them, working out their patches and sending them costs time in proportion, on the
 * event loop. A 256 KiB config makes half a MiB a change; a config of a few KiB, hundreds of changes.
 */
export const MAX_READ_DOCUMENT_BYTES = 1024 * 1024;

// The revision is read as text (a bigint does not fit a JS number); sort by the column (c.revision), not
// this alias, or "100" sorts before "95".
/** SQL: the size of a change's documents (old and new) as JSON text, in bytes. */
const DOCUMENT_BYTES = '(coalesce(octet_length(old_config::text), 0) + coalesce(octet_length(new_config::text), 0))::int';

export const CHANGE_COLUMNS = `revision::text AS revision, config_id AS "configId", service_name AS "serviceName", environment, version,
  action::text AS action, old_config AS "oldConfig", new_config AS "newConfig", changed_by AS "changedBy",
  reason, changed_at AS "changedAt"`;

/** A change as `changesAfter` reads it: its documents as JSON text. */
export type ChangeText = Omit<ConfigChange, 'oldConfig' | 'newConfig'> & { oldText: string | null; newText: string | null };

const CHANGE_TEXT_COLUMNS = `revision::text AS revision, config_id AS "configId", service_name AS "serviceName", environment, version,
  action::text AS action, old_config::text AS "oldText", new_config::text AS "newText", changed_by AS "changedBy",
  reason, changed_at AS "changedAt"`;

type ChangeQuery = Omit<Prisma.ConfigChangeFindManyArgs, 'where' | 'orderBy'>;

/** Whether a query's selection loads the documents (no selection loads every column). */
const loadsDocuments = (select: Prisma.ConfigChangeSelect | null | undefined) => !select || Boolean(select.oldConfig || select.newConfig);

/** How many of the leading changes, by their documents' sizes, fit in one read. */
function fitting(bytes: readonly number[]): number {
  let total = 0;
  for (let index = 0; index < bytes.length; index++) {
    total += bytes[index]!;
    if (total > MAX_READ_DOCUMENT_BYTES) return index;
  }
  return bytes.length;
}

/** How many patch operations of diffs are kept, in all (some 60 bytes each, written out). */
const CACHED_DIFF_OPERATIONS = 100_000;

/** Reads the audit log: what changed, when, by whom, and the content at any version. */
export class ConfigHistory {
  private readonly prisma: PrismaClient;
  private readonly query: Database['query'];
  /**
   * Diffs by revision (a change's own) or `from>to` (between two), bounded by their operations in all; a
   * diff asked for while it is being worked out is waited for, not worked out again.
   */
  private readonly diffs = new LRUCache<string, PatchOperation[] | PatchText, () => Promise<[string | null, string | null]>>({
    maxSize: CACHED_DIFF_OPERATIONS,
    sizeCalculation: (patch) => patchLength(patch) + 1,
    fetchMethod: async (_key, _stale, { context: texts }) => this.diff(...(await texts())),
  });

  /**
   * `diff` works out the operations between two versions' JSON texts (null for a deletion): the store
   * passes its DocumentChecker's, which does it on a worker thread when the documents are large, and
   * hands those over written out.
   */
  constructor(
    db: Pick<Database, 'prisma' | 'query'>,
    private readonly diff: (from: string | null, to: string | null) => Promise<PatchOperation[] | PatchText>,
  ) {
    this.prisma = db.prisma;
    this.query = (sql, params, options) => db.query(sql, params, options);
  }

  /**
   * Changes of one config, newest first. `query` carries paging and selection (Pothos' `...query`). A page
   * whose documents would pass MAX_READ_DOCUMENT_BYTES is refused (PageTooLargeError) before it is loaded.
   */
  async listChanges(key: ConfigKey, query: ChangeQuery = {}) {
    const where = { serviceName: key.service, environment: key.environment };
    if (loadsDocuments(query.select)) {
      const page = await this.prisma.configChange.findMany({ ...query, where, orderBy: { revision: 'desc' }, select: { revision: true } });
      this.requireFitting(await this.documentBytes(page.map((change) => change.revision)));
    }
    return this.prisma.configChange.findMany({ ...query, where, orderBy: { revision: 'desc' } });
  }

  /**
   * The newest `take` changes of each config, newest first, in two statements however many configs are
   * asked for: one lateral join picks each config's revisions (and their documents' sizes), then the rows
   * are read with `query`'s selection (what ServiceConfig.history needs under a listing of configs).
   */
  async latestChanges(
    keys: readonly ConfigKey[],
    take: number,
    query: Omit<Prisma.ConfigChangeFindManyArgs, 'where' | 'orderBy' | 'take' | 'skip' | 'cursor'> = {},
  ): Promise<ConfigChange[][]> {
    const picked = await this.prisma.$queryRaw<{ revision: bigint; service_name: string; environment: string; bytes: number }[]>`
      SELECT change.revision, asked.service_name, asked.environment, change.bytes
        FROM unnest(${keys.map((key) => key.service)}::text[], ${keys.map((key) => key.environment)}::text[]) AS asked (service_name, environment)
        CROSS JOIN LATERAL (
          SELECT revision, ${Prisma.raw(DOCUMENT_BYTES)} AS bytes
            FROM config_audit_log
           WHERE service_name = asked.service_name AND environment = asked.environment
           ORDER BY revision DESC
           LIMIT ${take}) AS change`;
    if (loadsDocuments(query.select)) this.requireFitting(picked.map((row) => row.bytes));
    const keyOfRevision = new Map(picked.map((row) => [String(row.revision), keyString({ service: row.service_name, environment: row.environment })]));
    const rows =
      picked.length === 0
        ? []
        : await this.prisma.configChange.findMany({ ...query, where: { revision: { in: picked.map((row) => row.revision) } }, orderBy: { revision: 'desc' } });
    return groupByConfig(keys, rows, (row) => keyOfRevision.get(String(row.revision))!);
  }

  /**
   * Changes of one config after `afterVersion` (and before `beforeVersion`), oldest first, as many as one
   * read may carry (at least one): read on from the last one's version until none is left. Their
   * documents come as JSON text, for `parseChange` to make into a change one at a time.
   */
  async changesAfter(key: ConfigKey, afterVersion: number, beforeVersion?: number): Promise<ChangeText[]> {
    return this.changeTexts(key, 'c.version > $3 AND ($4::int IS NULL OR c.version < $4)', [afterVersion, beforeVersion ?? null], 'ASC');
  }

  /** Changes of one config older than revision `before` (null: from the newest), newest first, as many as one read may carry. */
  async changesBefore(key: ConfigKey, before: string | null): Promise<ChangeText[]> {
    return this.changeTexts(key, '($3::bigint IS NULL OR c.revision < $3::bigint)', [before], 'DESC');
  }

  private async changeTexts(key: ConfigKey, condition: string, params: unknown[], order: 'ASC' | 'DESC'): Promise<ChangeText[]> {
    // Straight through the driver: a replay of large documents costs Prisma several times as much.
    const next = await this.query<{ revision: string; bytes: number }>(
      `SELECT c.revision::text AS revision, ${DOCUMENT_BYTES} AS bytes
         FROM config_audit_log c
        WHERE c.service_name = $1 AND c.environment = $2 AND ${condition}
        ORDER BY c.revision ${order} LIMIT 500`,
      [key.service, key.environment, ...params],
    );
    if (next.length === 0) return [];
    const count = Math.max(1, fitting(next.map((change) => change.bytes)));
    return this.query<ChangeText>(`SELECT ${CHANGE_TEXT_COLUMNS} FROM config_audit_log c WHERE c.revision = ANY($1::bigint[]) ORDER BY c.revision ${order}`, [
      next.slice(0, count).map((change) => change.revision),
    ]);
  }

  /**
   * A change read as text, as a change, with its RFC 6902 operations when its documents are large (worked
   * out on the worker thread from the text, and kept written out; a small change's `changePatch` works
   * them out if asked). Its old document is parsed only if read: the patch is all a subscriber needs of it.
   */
  async parseChange({ oldText, newText, ...row }: ChangeText): Promise<{ change: ConfigChange; patch?: PatchOperation[] | PatchText }> {
    const large = isLargeDiff(oldText, newText);
    // Several subscribers replaying one config ask for the same changes: each is diffed once.
    const patch = large ? await this.diffOnce(String(row.revision), async () => [oldText, newText]) : undefined;
    // Parsing a large document costs milliseconds: in a turn of its own, not on top of whatever else the
    // turn the worker's answer came in has to do.
    if (large) await nextTurn();
    let oldConfig: JsonValue | undefined;
    const newConfig = newText === null ? null : (JSON.parse(newText) as JsonValue);
    const change = { ...row, newConfig } as Omit<ConfigChange, 'oldConfig'> as ConfigChange;
    Object.defineProperty(change, 'oldConfig', {
      enumerable: true,
      get: () => (oldConfig ??= oldText === null ? null : (JSON.parse(oldText) as JsonValue)),
    });
    return { change, patch };
  }

  /** The size of each change's documents, as JSON text, in the order asked. */
  private async documentBytes(revisions: bigint[]): Promise<number[]> {
    if (revisions.length === 0) return [];
    const rows = await this.prisma.$queryRaw<{ revision: bigint; bytes: number }[]>`
      SELECT revision, ${Prisma.raw(DOCUMENT_BYTES)} AS bytes
        FROM config_audit_log WHERE revision = ANY(${revisions}::bigint[])`;
    const bytes = new Map(rows.map((row) => [String(row.revision), row.bytes]));
    return revisions.map((revision) => bytes.get(String(revision)) ?? 0);
  }

  private requireFitting(bytes: readonly number[]): void {
    const fits = fitting(bytes);
    if (fits < bytes.length) throw new PageTooLargeError(bytes.reduce((sum, size) => sum + size, 0), MAX_READ_DOCUMENT_BYTES, Math.max(1, fits - 1));
  }

  /** The change that produced `version`; its `newConfig` is the content at that version. */
  async getChange(key: ConfigKey, version: number): Promise<ConfigChange> {
    const change = await this.prisma.configChange.findFirst({
      where: { serviceName: key.service, environment: key.environment, version },
      orderBy: { revision: 'desc' },
    });
    if (!change) throw new NotFoundError(key.service, key.environment, version);
    return change;
  }

  /** Like getChange, null when there is no such version. */
  async findChange(key: ConfigKey, version: number): Promise<ConfigChange | null> {
    return this.getChange(key, version).catch((error: unknown) => {
      if (error instanceof NotFoundError) return null;
      throw error;
    });
  }

  /** A column of the change that produced `version` (the newest, should a version recur). */
  private async atVersion(key: ConfigKey, version: number, column: string): Promise<string | null> {
    const [row] = await this.query<{ value: string | null }>(
      `SELECT ${column} AS value FROM config_audit_log
        WHERE service_name = $1 AND environment = $2 AND version = $3 ORDER BY revision DESC LIMIT 1`,
      [key.service, key.environment, version],
    );
    if (!row) throw new NotFoundError(key.service, key.environment, version);
    return row.value;
  }

  /**
   * The JSON text of the document a revision wrote (null for a deletion), read straight through the
   * driver as text: nothing is parsed on the event loop that a worker can parse (see diffVersions).
   */
  private async documentTextOf(revision: string): Promise<string | null> {
    const [row] = await this.query<{ text: string | null }>(`SELECT new_config::text AS text FROM config_audit_log WHERE revision = $1::bigint`, [revision]);
    return row?.text ?? null;
  }

  /** The operations between two documents, worked out once per `key` (audit rows never change); shared: read-only. */
  private async diffOnce(key: string, texts: () => Promise<[string | null, string | null]>): Promise<PatchOperation[] | PatchText> {
    return (await this.diffs.fetch(key, { context: texts }))!;
  }

  /** The content of a config at `version`; `pointer` names the input that asked for it. */
  async contentAt(key: ConfigKey, version: number, pointer = '/version'): Promise<JsonValue> {
    const text = await this.atVersion(key, version, 'new_config::text');
    if (text === null) {
      throw ValidationError.at(pointer, `version ${version} of "${key.service}" is a deletion and holds no config`);
    }
    return JSON.parse(text) as JsonValue;
  }

  /** The RFC 6902 operations that turn the content at `fromVersion` into the content at `toVersion`. */
  async diffVersions(key: ConfigKey, fromVersion: number, toVersion: number): Promise<PatchOperation[] | PatchText> {
    // Both read at once; when both are missing, the refusal names `fromVersion` whichever answer came first.
    const [from, to] = await Promise.allSettled([this.atVersion(key, fromVersion, 'revision::text'), this.atVersion(key, toVersion, 'revision::text')]);
    if (from.status === 'rejected') throw from.reason;
    if (to.status === 'rejected') throw to.reason;
    const [fromRevision, toRevision] = [from.value!, to.value!];
    return this.diffOnce(`${fromRevision}>${toRevision}`, () => Promise.all([this.documentTextOf(fromRevision), this.documentTextOf(toRevision)]));
  }
}
