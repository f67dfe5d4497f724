import type { Database } from '../db/database.ts';
import type { ConfigChange } from '../generated/prisma/client.ts';
import type { Logger } from '../logger.ts';
import { type ConfigEvent, configEventFrom } from './configEvent.ts';

export interface OutboxRelayOptions {
  db: Database;
  /** Publishes in order and resolves once the events are safely out; throws when they cannot be. */
  publish: (events: ConfigEvent[]) => Promise<void>;
  logger: Logger;
  /** Rows claimed per transaction. @default 500 */
  batchSize?: number;
  /** A sweep for rows nobody announced (another instance died mid-batch). @default 1_000 */
  sweepIntervalMs?: number;
  /** Longest wait between retries while publishing fails. @default 5_000 */
  maxRetryDelayMs?: number;
}

/** Held for the duration of one relay transaction, so instances relay one at a time, in revision order. */
const RELAY_LOCK_KEY = 72_707_370;

// The revision is read as text (a bigint does not fit a JS number); sort by the column, not this alias,
// or "100" sorts before "95".
const CHANGE_COLUMNS = `revision::text AS revision, config_id AS "configId", service_name AS "serviceName", environment, version,
  action::text AS action, old_config AS "oldConfig", new_config AS "newConfig", changed_by AS "changedBy",
  reason, changed_at AS "changedAt", published_at AS "publishedAt"`;

/**
 * Publishes every committed change once, after commit, from the audit log (the outbox). It claims
 * unpublished rows in revision order inside a transaction, publishes them, and marks them published in
 * the same transaction: a crash or a failed publish leaves them for the next attempt. Rows committed
 * out of revision order are never skipped, since the claim is "not yet published", not "after the last".
 */
export class OutboxRelay {
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private failures = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopListening: (() => Promise<void>) | undefined;
  /** Changes this instance has published. */
  publishedCount = 0;

  constructor(private readonly options: OutboxRelayOptions) {}

  async start(): Promise<void> {
    this.stopListening = await this.options.db.listen('config_changes', () => this.wake(), () => this.wake());
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepIntervalMs ?? 1000);
    this.sweepTimer.unref();
    this.wake();
  }

  /** Wakes the relay if anything waits; one cheap indexed look, no transaction. */
  private async sweep(): Promise<void> {
    if (this.running || this.stopped) return;
    const waiting = await this.options.db
      .query(`SELECT 1 FROM config_audit_log WHERE published_at IS NULL LIMIT 1`)
      .catch(() => [{}]);
    if (waiting.length > 0) this.wake();
  }

  /** Runs the relay now, or once more right after the run under way. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.again && !this.retryTimer) {
        this.again = false;
        this.wake();
      }
    });
  }

  /** Resolves when nothing is being relayed (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    const batchSize = this.options.batchSize ?? 500;
    try {
      for (;;) {
        this.again = false;
        const relayed = await this.relayBatch(batchSize);
        if (relayed < batchSize && !this.again) break;
      }
      this.failures = 0;
    } catch (error) {
      this.failures++;
      const delay = Math.min(this.options.maxRetryDelayMs ?? 5000, 100 * 2 ** Math.min(this.failures, 10));
      this.options.logger.warn({ err: error, retryInMs: delay }, 'outbox relay could not publish; changes wait in the outbox');
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.wake();
      }, delay);
      this.retryTimer.unref();
    }
  }

  /** One transaction: claim, publish, mark. Returns how many rows it published. */
  private async relayBatch(batchSize: number): Promise<number> {
    return this.options.db.transaction(async (sql) => {
      // Claimed only while this transaction holds the relay lock, so instances relay one at a time.
      // Instances relay one at a time. The lock comes first, in its own statement, so the claim's snapshot
      // is taken after the previous holder committed and sees everything it marked.
      const [lock] = await sql.query<{ locked: boolean }>(`SELECT pg_try_advisory_xact_lock(${RELAY_LOCK_KEY}) AS locked`);
      if (!lock?.locked) return 0;
      // Claimed narrow (revisions only) and read whole afterwards: a large backlog costs a sort of
      // numbers, not of documents.
      const rows = await sql.query<ConfigChange>(
        `WITH claimed AS (SELECT revision FROM config_audit_log WHERE published_at IS NULL
                           ORDER BY revision LIMIT $1 FOR UPDATE SKIP LOCKED)
         SELECT ${CHANGE_COLUMNS} FROM config_audit_log
          WHERE revision IN (SELECT revision FROM claimed)
          ORDER BY config_audit_log.revision`,
        [batchSize],
      );
      if (rows.length === 0) return 0;
      await this.options.publish(rows.map(configEventFrom));
      await sql.query(`UPDATE config_audit_log SET published_at = now() WHERE revision = ANY($1::bigint[])`, [
        rows.map((row) => String(row.revision)),
      ]);
      this.publishedCount += rows.length;
      return rows.length;
    });
  }

  /** How many changes wait, and how old the oldest is. */
  async backlog(): Promise<{ count: number; oldestAgeSeconds: number }> {
    const [row] = await this.options.db.query<{ count: number | string; oldest: Date | null }>(
      `SELECT count(*)::int AS count, min(changed_at) AS oldest FROM config_audit_log WHERE published_at IS NULL`,
    );
    const oldest = row?.oldest ? (Date.now() - row.oldest.getTime()) / 1000 : 0;
    return { count: Number(row?.count ?? 0), oldestAgeSeconds: Math.max(0, oldest) };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweepTimer);
    clearTimeout(this.retryTimer);
    await this.stopListening?.();
    await this.idle();
  }
}
