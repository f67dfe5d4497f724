import type { ServiceConfig } from '../generated/prisma/client.ts';
import { type JsonObject, documentText } from './documents.ts';

/** One compare-and-swap of a config row: applied only if the row is still at `version`. */
export interface RowWrite {
  id: number;
  /** The version the change was computed from. */
  version: number;
  config: JsonObject;
  description: string | null;
  /** Soft-deleted after the change (a delete), or live (an update, a restore). */
  deleted: boolean;
  actor: string;
  reason: string | null;
  /** Recorded in the audit log as a rollback (else as an update, a delete or a restore, by what changed). */
  rollback?: boolean;
  /**
   * Whether another write of the same config waits for this one to be settled (its store writes one
   * config at a time): asked when the statement has committed. See `WriteBatcher.send`.
   */
  followed?: () => boolean;
}

/** Runs one parameterised statement and returns its rows (Database.query). */
export type StatementRunner = <Row>(sql: string, params: unknown[], options?: { name?: string }) => Promise<Row[]>;

export interface WriteBatcherOptions {
  /** Most rows in one statement. @default 64 */
  maxBatch?: number;
  /** Most statements under way at once. @default 4 */
  maxInFlight?: number;
  /**
   * How long a statement under way holds the next one back, so that writes arriving meanwhile go together
   * in fewer, larger statements; after this long it is taken to be stuck and the next goes without it. @default 20
   */
  holdMs?: number;
}

interface Pending {
  write: RowWrite;
  resolve(row: ServiceConfig | null): void;
  reject(error: unknown): void;
}

export const RETURNING_COLUMNS = `c.id, c.service_name AS "serviceName", c.environment, c.config, c.version,
  c.description, c.created_at AS "createdAt", c.updated_at AS "updatedAt", c.updated_by AS "updatedBy",
  c.deleted_at AS "deletedAt"`;

/**
 * The audited compare-and-swap of many configs in ONE statement (its own transaction, one round trip).
 * $1: the rows, a JSON array of {id, version, config, description, deleted}; $2: their authors, a JSON
 * object keyed by config id, which the version and audit triggers read from the transaction-local
 * setting confighub.authors (prisma/schema.sql), so each row gets its own actor, reason and, for a rollback, action.
 * A row whose version moved is not updated and not returned; the others are.
 */
export const BATCH_UPDATE_SQL = `WITH author AS (
    SELECT set_config('confighub.authors', $2, true) AS authors, set_config('confighub.action', 'UPDATE', true) AS action
  ), input AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(id integer, version integer, config jsonb, description text, deleted boolean)
  )
  UPDATE service_configs AS c
     SET config = i.config,
         description = i.description,
         deleted_at = CASE WHEN i.deleted THEN coalesce(c.deleted_at, now()) END
    FROM input AS i, author
   WHERE c.id = i.id AND c.version = i.version
  RETURNING ${RETURNING_COLUMNS}`;

/**
 * The audited insert of a new config, in the same shape: its author in confighub.authors, keyed by the
 * row's id, which the statement takes from the sequence first ($1 actor, $2 reason, $3 service,
 * $4 environment, $5 config, $6 description); the version trigger sets updated_by from it, as for an
 * update. A config that exists already is not touched: no row returned.
 */
export const CREATE_SQL = `WITH new_row AS (
    SELECT nextval('service_configs_id_seq')::int AS id
  ), author AS (
    SELECT set_config('confighub.authors', jsonb_build_object(n.id::text, jsonb_build_object('actor', $1::text, 'reason', $2::text))::text, true) AS authors
      FROM new_row AS n
  )
  INSERT INTO service_configs AS c (id, service_name, environment, config, description)
  SELECT n.id, $3, $4, $5::jsonb, $6 FROM new_row AS n, author
  ON CONFLICT (service_name, environment) DO NOTHING
  RETURNING ${RETURNING_COLUMNS}`;

/** Prepared once per connection under this name. */
const STATEMENT_NAME = 'confighub_batch_update';

/**
 * Group commit for config writes: writes that arrive in the same turn of the event loop, or while a
 * statement is under way (see `holdMs`), go together as one statement and one transaction. Each keeps its
 * own audit row, its own compare-and-swap (null when its version moved) and its own failure (a refused
 * batch is retried write by write). A batch holds at most one write per config, so their order is kept.
 */
export class WriteBatcher {
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  /** The batch under way for less than `holdMs`, if any: while there is one, the queue waits for it. */
  private holder: Pending[] | undefined;
  private scheduled = false;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;
  private readonly holdMs: number;
  /**
   * Statements that committed, rows written through them, the largest batch sent, and batches the
   * database refused that were then tried write by write (tests, metrics).
   */
  readonly stats = { statements: 0, rows: 0, largestBatch: 0, split: 0 };

  constructor(
    private readonly run: StatementRunner,
    options: WriteBatcherOptions = {},
  ) {
    this.maxBatch = Math.max(1, options.maxBatch ?? 64);
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 4);
    this.holdMs = Math.max(0, options.holdMs ?? 20);
  }

  /** Resolves with the written row, or null when the row is no longer at `write.version`. */
  write(write: RowWrite): Promise<ServiceConfig | null> {
    return new Promise((resolve, reject) => {
      this.queue.push({ write, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0 || this.inFlight >= this.maxInFlight || this.holder !== undefined) return;
    this.scheduled = true;
    // After the I/O callbacks of this turn of the event loop: every request that arrived with this one
    // has had the chance to join.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** Sends the next batch, unless a statement under way holds it back; whether it sent one. */
  private flush(): boolean {
    if (this.queue.length === 0 || this.inFlight >= this.maxInFlight || this.holder !== undefined) return false;
    const batch = this.take();
    this.inFlight++;
    this.holder = batch;
    const release = () => {
      if (this.holder === batch) this.holder = undefined;
    };
    const timer = setTimeout(() => {
      release();
      this.schedule();
    }, this.holdMs);
    void this.send(batch, (sendNow) => {
      clearTimeout(timer);
      release();
      this.inFlight--;
      if (sendNow) return this.flush();
      this.schedule();
      return false;
    });
    return true;
  }

  /** The oldest queued writes, at most one per config and `maxBatch` in all. */
  private take(): Pending[] {
    if (this.queue.length === 1) return this.queue.splice(0, 1);
    const batch: Pending[] = [];
    const ids = new Set<number>();
    const rest: Pending[] = [];
    for (const pending of this.queue) {
      if (batch.length < this.maxBatch && !ids.has(pending.write.id)) {
        ids.add(pending.write.id);
        batch.push(pending);
      } else {
        rest.push(pending);
      }
    }
    this.queue.length = 0;
    this.queue.push(...rest);
    return batch;
  }

  /**
   * Runs one batch's statement and settles its writes. `done` is called once the batch no longer needs the
   * database; `done(true)` sends the waiting writes at once (and tells whether there were any), `done(false)`
   * in the next turn. Waiting writes go before this batch is settled, so their statement runs meanwhile,
   * unless one follows a write of this batch (`RowWrite.followed`): then this batch is settled first.
   */
  private async send(batch: Pending[], done: (sendNow: boolean) => boolean = () => false): Promise<void> {
    let rows: ServiceConfig[];
    try {
      rows = await this.statement(batch.map((pending) => pending.write));
    } catch (error) {
      // The database refused the statement (it carries an SQLSTATE): nothing of it was written. Try each
      // write alone so that only the one at fault fails. Without an SQLSTATE (the connection broke) the
      // outcome is unknown: every write of the batch fails, as a single write would.
      try {
        if (batch.length > 1 && hasSqlState(error)) {
          this.stats.split++;
          await Promise.all(batch.map((pending) => this.send([pending])));
        } else {
          for (const pending of batch) pending.reject(error);
        }
      } finally {
        done(false);
      }
      return;
    }
    this.stats.statements++;
    this.stats.rows += rows.length;
    if (batch.length > this.stats.largestBatch) this.stats.largestBatch = batch.length;
    const followed = batch.some((pending) => pending.write.followed?.());
    if (!followed && done(true)) await new Promise(setImmediate);
    if (batch.length === 1) {
      batch[0]!.resolve(rows[0] ?? null);
    } else {
      const byId = new Map(rows.map((row) => [row.id, row]));
      for (const pending of batch) pending.resolve(byId.get(pending.write.id) ?? null);
    }
    if (followed) done(false);
  }

  private statement(batch: RowWrite[]): Promise<ServiceConfig[]> {
    // In id order: concurrent batches (of this instance or others) then lock their rows in one order.
    const writes = batch.length > 1 ? [...batch].sort((x, y) => x.id - y.id) : batch;
    let rows = '[';
    let authors = '{';
    for (let i = 0; i < writes.length; i++) {
      const write = writes[i]!;
      if (i > 0) {
        rows += ',';
        authors += ',';
      }
      rows += `{"id":${write.id},"version":${write.version},"config":${documentText(write.config)},"description":${JSON.stringify(write.description)},"deleted":${write.deleted}}`;
      authors += `"${write.id}":{"actor":${JSON.stringify(write.actor)},"reason":${JSON.stringify(write.reason)}${write.rollback ? ',"action":"ROLLBACK"' : ''}}`;
    }
    return this.run<ServiceConfig>(BATCH_UPDATE_SQL, [`${rows}]`, `${authors}}`], { name: STATEMENT_NAME });
  }
}

/**
 * Whether the server refused the statement (and so rolled it back): an error message from PostgreSQL,
 * with its severity and SQLSTATE. A Node system error (EPIPE, ECONNRESET) leaves the outcome unknown.
 */
function hasSqlState(error: unknown): boolean {
  const { code, severity } = (error ?? {}) as { code?: unknown; severity?: unknown };
  return typeof severity === 'string' && typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}
