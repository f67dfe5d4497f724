import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from '../db/database.ts';
import type { ConfigChange } from '../generated/prisma/client.ts';
import type { Logger } from '../logger.ts';
import { CHANGE_COLUMNS } from '../store/history.ts';
import { CHANGE_CHANNEL, type ConfigEvent } from '../protocol/changes.ts';
import { configEventFrom } from './configEvent.ts';

export interface OutboxRelayOptions {
  db: Database;
  /** Publishes in order and resolves once the events are safely out; throws when they cannot be. */
  publish: (events: ConfigEvent[]) => Promise<void>;
  /**
   * Whether `publish` can fail (NATS can be away): then each batch is claimed, published and committed in
   * one transaction, and a failed publish leaves it in the outbox. Otherwise (in-process) a batch is
   * claimed and taken out of the outbox in one statement. @default true
   */
  publishMayFail?: boolean;
  logger: Logger;
  /** Rows claimed per transaction. @default 500 */
  batchSize?: number;
  /** Longest wait between retries while publishing fails. @default 5_000 */
  maxRetryDelayMs?: number;
  /**
   * While changes keep coming, runs start at most this often, each publishing the changes of that time
   * together; the first change after a quiet spell goes at once, a backlog is drained without pause. @default 25
   */
  minRunIntervalMs?: number;
}

/** See `minRunIntervalMs`. */
const RUN_INTERVAL_MS = 25;


/**
 * Publishes every committed change once, after commit. Each change enters the outbox (`config_outbox`)
 * in the transaction that makes it; the relay takes the oldest waiting ones out in revision order inside
 * a transaction (SQL function `confighub_claim_outbox`, one instance at a time), publishes them and
 * commits: a crash or a failed publish rolls back, and they wait for the next attempt. Changes committed
 * out of revision order are never skipped: the claim is "still in the outbox", not "after the last".
 */
export class OutboxRelay {
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private failures = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** A run put off by the pacing: resolves once it has started (or the relay stopped). */
  private scheduled: Promise<void> | undefined;
  private lastRunAt = Number.NEGATIVE_INFINITY;
  private stopListening: (() => Promise<void>) | undefined;
  /** Changes this instance has published. */
  publishedCount = 0;

  constructor(private readonly options: OutboxRelayOptions) {}

  async start(): Promise<void> {
    this.stopListening = await this.options.db.listen(CHANGE_CHANNEL, () => this.wake(), () => this.wake());
    // Every second, a look for rows nobody announced (another instance died mid-batch).
    this.sweepTimer = setInterval(() => void this.sweep(), 1000).unref();
    // What waits from before the start goes out now; an empty outbox costs one cheap look, not a claim.
    void this.sweep();
  }

  /** Wakes the relay if anything waits; one cheap indexed look, no transaction. */
  private async sweep(): Promise<void> {
    if (this.running || this.stopped) return;
    const waiting = await this.options.db.query(`SELECT 1 FROM config_outbox LIMIT 1`).catch(() => [{}]);
    if (waiting.length > 0) this.wake();
  }

  /** Runs the relay now, or as soon as the pacing allows (after the run under way, if one is). */
  wake(): void {
    if (this.stopped) return;
    if (this.running || this.scheduled) {
      this.again = true;
      return;
    }
    const wait = this.lastRunAt + (this.options.minRunIntervalMs ?? RUN_INTERVAL_MS) - performance.now();
    if (wait <= 0) {
      this.run();
      return;
    }
    this.scheduled = sleep(wait, undefined, { ref: false }).then(() => {
      this.scheduled = undefined;
      if (!this.stopped) this.run();
    });
  }

  private run(): void {
    this.lastRunAt = performance.now();
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
    while (this.running || this.scheduled) await (this.running ?? this.scheduled);
  }

  private async drain(): Promise<void> {
    const batchSize = this.options.batchSize ?? 500;
    try {
      for (;;) {
        this.again = false;
        // A full batch: more may wait, so on at once. Changes announced meanwhile wait for the pacing.
        if ((await this.relayBatch(batchSize)) < batchSize) break;
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
      }, delay).unref();
    }
  }

  /**
   * Claims the oldest waiting changes and publishes them; returns how many. When publishing may fail, in
   * one transaction (claim with BEGIN, publish, commit: two round trips); otherwise one statement.
   */
  private async relayBatch(batchSize: number): Promise<number> {
    const claim = `SELECT ${CHANGE_COLUMNS} FROM confighub_claim_outbox(${Math.trunc(batchSize)}) AS c ORDER BY c.revision`;
    if (this.options.publishMayFail === false) return this.publish(await this.options.db.query<ConfigChange>(claim));
    return this.options.db.transaction(async (sql) => this.publish(await sql.query<ConfigChange>(claim)));
  }

  private async publish(changes: ConfigChange[]): Promise<number> {
    if (changes.length === 0) return 0;
    await this.options.publish(changes.map((change) => configEventFrom(change)));
    this.publishedCount += changes.length;
    return changes.length;
  }

  /** How many changes wait, and how old the oldest is. */
  async backlog(): Promise<{ count: number; oldestAgeSeconds: number }> {
    const [row] = await this.options.db.query<{ count: number | string; oldest: Date | null }>(
      `SELECT count(*)::int AS count, min(a.changed_at) AS oldest FROM config_outbox o JOIN config_audit_log a USING (revision)`,
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
