import { createHash } from 'node:crypto';
import type { Database } from '../db/database.ts';
import type { ConfigInstance, ServiceConfig } from '../generated/prisma/client.ts';
import { durationMs } from '../protocol/durations.ts';
import type { JsonObject } from '../protocol/json.ts';
import type { RolloutMark, RolloutNotice } from '../protocol/changes.ts';
import { RolloutError, ValidationError, VersionConflictError } from './errors.ts';
import { type ConfigKey, keyString } from './names.ts';
import { MAX_REASON_BYTES, reasonWithin, requireTexts } from './texts.ts';

// Progressive rollouts (README, "Progressive rollouts"): the candidate version is written as any change, and
// while the rollout is under way only the instances of its current step (by a stable hash of the config and
// the instance id) are served it, on every read and live path. Every gateway ticks; steps and ends are
// compare-and-set updates of the rollout's row, so with several gateways exactly one acts on each step.

/** The actor of the rollbacks the hub makes on its own. */
export const ROLLOUT_ACTOR = 'rollout';
export const MAX_STEPS = 10;
export const MIN_BAKE_MS = 1_000;
export const MAX_BAKE_MS = 7 * 86_400_000;
const MAX_ERRORS_LIMIT = 10_000;
/** A rollback claim older than this is taken over (its gateway died mid-rollback). */
const STALE_CLAIM_SECONDS = 60;
/** A rollout whose candidate was not written this long after it began is dropped (its gateway died between). */
const UNWRITTEN_SECONDS = 60;
/** Instances are put in buckets 0..BUCKETS-1; a step of p% serves buckets below p * BUCKETS / 100. */
const BUCKETS = 10_000;

export type RolloutState = 'active' | 'rolling_back' | 'completed' | 'rolled_back' | 'aborted' | 'superseded';
export type RolloutEventKind = 'started' | 'advanced' | 'promoted' | 'completed' | 'rolled_back' | 'aborted' | 'superseded';

/** A rollout as asked: percentages of the instances, rising; the bake time of each step; the errors tolerated. */
export interface RolloutInput {
  steps: readonly number[];
  bake: string;
  maxErrors?: number | null;
}

export interface RolloutPlan {
  steps: number[];
  bakeMs: number;
  maxErrors: number;
}

export interface Rollout extends ConfigKey {
  id: string;
  stableVersion: number;
  stableConfig: JsonObject;
  stableUpdatedAt: Date;
  stableUpdatedBy: string;
  candidateVersion: number;
  steps: number[];
  bakeMs: number;
  maxErrors: number;
  stepIndex: number;
  stepStartedAt: Date;
  state: RolloutState;
  createdBy: string;
  reason: string | null;
  createdAt: Date;
  endedAt: Date | null;
  endedBy: string | null;
  rollbackVersion: number | null;
  outcome: string | null;
}

export interface RolloutEvent {
  id: string;
  at: Date;
  actor: string;
  kind: RolloutEventKind;
  percent: number;
  detail: string | null;
}

/** The steps, bake time and threshold asked for, checked; refused (at `/rollout/...`) outside the limits. */
export function rolloutPlan(input: RolloutInput): RolloutPlan {
  const steps = [...input.steps];
  if (steps.length === 0 || steps.length > MAX_STEPS) throw ValidationError.at('/rollout/steps', `from 1 to ${MAX_STEPS} steps`);
  steps.forEach((step, index) => {
    if (!Number.isInteger(step) || step < 1 || step > 100) throw ValidationError.at(`/rollout/steps/${index}`, 'a percentage of the instances: an integer from 1 to 100');
    if (index > 0 && step <= steps[index - 1]!) throw ValidationError.at(`/rollout/steps/${index}`, 'steps must rise');
  });
  const bakeMs = typeof input.bake === 'string' ? durationMs(input.bake) : Number.NaN;
  if (Number.isNaN(bakeMs)) throw ValidationError.at('/rollout/bake', 'a duration such as 30s, 5m or 1h');
  if (bakeMs < MIN_BAKE_MS || bakeMs > MAX_BAKE_MS) throw ValidationError.at('/rollout/bake', 'a step bakes from 1 second to 7 days');
  const maxErrors = input.maxErrors ?? 0;
  if (!Number.isInteger(maxErrors) || maxErrors < 0 || maxErrors > MAX_ERRORS_LIMIT) throw ValidationError.at('/rollout/maxErrors', `an integer from 0 to ${MAX_ERRORS_LIMIT}`);
  return { steps, bakeMs: Math.round(bakeMs), maxErrors };
}

/** Where an instance of a config falls (0..9999): the same for every rollout of that config. */
export function instanceBucket(key: ConfigKey, instance: string): number {
  return createHash('sha256').update(`${key.service}\u0000${key.environment}\u0000${instance}`).digest().readUInt32BE(0) % BUCKETS;
}

/** The share of instances served the candidate now. */
export function rolloutPercent(rollout: Pick<Rollout, 'state' | 'steps' | 'stepIndex'>): number {
  if (rollout.state === 'active') return rollout.steps[rollout.stepIndex]!;
  return rollout.state === 'completed' || rollout.state === 'superseded' ? 100 : 0;
}

/** What services on NATS are told of a rollout's move (protocol/changes.ts). */
export function rolloutNotice(rollout: Rollout): RolloutNotice {
  const { service, environment, id, state, stableVersion, candidateVersion } = rollout;
  return { service, environment, id, state, stableVersion, candidateVersion, percent: rolloutPercent(rollout) };
}

/** Whether an instance is served the candidate now (an unnamed caller only once every instance is). */
export function inStep(rollout: Rollout, instance: string | null | undefined): boolean {
  const percent = rolloutPercent(rollout);
  if (percent >= 100) return true;
  return instance != null && instance !== '' && instanceBucket(rollout, instance) < (percent * BUCKETS) / 100;
}

/**
 * What a stream of changes does with `version` for `instance`: send it; hold it (the candidate of a rollout
 * whose step does not serve the instance yet); or drop it (the candidate of a rollout being or already
 * rolled back or aborted: the rollback that follows it replaces it).
 */
export type Delivery = 'send' | 'hold' | 'drop';

/**
 * Why the rollout must roll back now, or null: an instance refused the candidate, or more instances in its
 * step than tolerated report an error, since the rollout began.
 */
export function rollbackCause(rollout: Rollout, instances: readonly ConfigInstance[]): string | null {
  const recent = instances.filter((instance) => instance.reportedAt.getTime() >= rollout.createdAt.getTime());
  const refused = recent.filter((instance) => instance.rejectedVersion === rollout.candidateVersion);
  const errored = recent.filter((instance) => instance.status === 'ERROR' && instance.rejectedVersion !== rollout.candidateVersion && inStep(rollout, instance.instanceId));
  const first = refused[0];
  if (first) return `instance ${first.instanceId} refused version ${rollout.candidateVersion}${first.error ? `: ${first.error}` : ''}`;
  if (errored.length > rollout.maxErrors) {
    return `${errored.length} instance(s) report errors (at most ${rollout.maxErrors} tolerated): ${errored[0]!.instanceId}${errored[0]!.error ? `: ${errored[0]!.error}` : ''}`;
  }
  return null;
}

/** What the rollouts need of the store: the config now, the audited rollback, and the fleet report. */
export interface RolloutWriter {
  current(key: ConfigKey): Promise<{ version: number; deleted: boolean } | null>;
  /** Writes `config` (the stable version's) back as a rollback, pinned to `expectedVersion`; the version written. */
  rollBack(key: ConfigKey, config: JsonObject, expectedVersion: number, author: { actor: string; reason: string }): Promise<number>;
  instances(key: ConfigKey): Promise<ConfigInstance[]>;
}

const COLUMNS = `id::text AS id, service_name AS service, environment, stable_version AS "stableVersion", stable_config AS "stableConfig",
  stable_updated_at AS "stableUpdatedAt", stable_updated_by AS "stableUpdatedBy", candidate_version AS "candidateVersion", steps,
  bake_ms AS "bakeMs", max_errors AS "maxErrors", step_index AS "stepIndex", step_started_at AS "stepStartedAt", state,
  created_by AS "createdBy", reason, created_at AS "createdAt", ended_at AS "endedAt", ended_by AS "endedBy",
  rollback_version AS "rollbackVersion", outcome`;

/** The rollouts of the configs: those under way kept in memory (reloaded on every gateway's notice), and their moves. */
export class ConfigRollouts {
  private underWay = new Map<string, Rollout>();
  /** Per config, the candidates of rollouts that were rolled back or aborted: never delivered. */
  private withdrawn = new Map<string, Set<number>>();
  private reloading: Promise<void> | undefined;
  private reloadAgain = false;
  private readonly listeners = new Set<(rollout: Rollout) => void>();
  private stopListening: (() => Promise<void>) | undefined;
  /** Told of every move this gateway makes (a rollout begun, a step, an end), once: for services on NATS. */
  onMoved: ((rollout: Rollout) => void) | undefined;

  constructor(
    private readonly db: Pick<Database, 'query' | 'listen'>,
    /** Where a failed reload, move or sweep is told (each is tried again). */
    readonly onError: (error: unknown) => void,
  ) {}

  async start(): Promise<void> {
    const reload = () => void this.reload().catch(this.onError);
    this.stopListening = await this.db.listen('config_rollouts', reload, reload);
    await this.reload();
  }

  async stop(): Promise<void> {
    await this.stopListening?.();
    await this.reloading?.catch(() => {});
  }

  /** The rollout under way of a config, as last loaded. */
  underWayFor(key: ConfigKey): Rollout | undefined {
    return this.underWay.get(keyString(key));
  }

  /** Whether a reload announced by the database is not done yet (reads then wait for it: `settled`). */
  get pending(): boolean {
    return this.reloading !== undefined;
  }

  async settled(): Promise<void> {
    while (this.reloading) await this.reloading.catch(() => {});
  }

  /** Calls `listener` with each config whose rollout changed (began, moved a step, ended); returns what stops it. */
  onChange(listener: (rollout: Rollout) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** What a stream of changes of a config does with `version` for `instance` (see Delivery). */
  deliveryOf(key: ConfigKey, version: number, instance: string | null | undefined): Delivery {
    const k = keyString(key);
    if (this.withdrawn.get(k)?.has(version)) return 'drop';
    const rollout = this.underWay.get(k);
    if (!rollout || version !== rollout.candidateVersion) return 'send';
    if (rollout.state === 'rolling_back') return 'drop';
    return inStep(rollout, instance) ? 'send' : 'hold';
  }

  /**
   * The row to serve `instance` for a config's current row: the stable version's while the current one is
   * the candidate of a rollout that does not serve the instance yet, else the row itself.
   */
  served(row: ServiceConfig, instance: string | null | undefined): ServiceConfig {
    const key = { service: row.serviceName, environment: row.environment };
    const rollout = this.underWay.get(keyString(key));
    if (!rollout || this.deliveryOf(key, row.version, instance) === 'send') return row;
    return { ...row, version: rollout.stableVersion, config: rollout.stableConfig, updatedAt: rollout.stableUpdatedAt, updatedBy: rollout.stableUpdatedBy };
  }

  /** Records a rollout of the change about to be written on `stable` (candidate `stable.version + 1`; the reason checked already). */
  async begin(key: ConfigKey, stable: ServiceConfig, plan: RolloutPlan, author: { actor: string; reason?: string | null }): Promise<Rollout> {
    const rows = await this.db
      .query<Rollout>(
        `WITH began AS (
           INSERT INTO config_rollouts (service_name, environment, stable_version, stable_config, stable_updated_at, stable_updated_by, candidate_version,
                                        steps, bake_ms, max_errors, created_by, reason)
           VALUES ($1, $2, $3, $4::jsonb, $5, $6, $3 + 1, $7::int[], $8, $9, $10, $11) RETURNING *)
         , noted AS (INSERT INTO config_rollout_events (rollout_id, actor, kind, percent, detail)
                     SELECT id, created_by, 'started', steps[1], $12 FROM began)
         SELECT ${COLUMNS} FROM began`,
        [
          key.service,
          key.environment,
          stable.version,
          JSON.stringify(stable.config),
          stable.updatedAt,
          stable.updatedBy,
          `{${plan.steps.join(',')}}`,
          plan.bakeMs,
          plan.maxErrors,
          author.actor,
          author.reason ?? null,
          `steps ${plan.steps.map((step) => `${step}%`).join(', ')}; bake ${plan.bakeMs / 1000}s; errors tolerated ${plan.maxErrors}`,
        ],
      )
      .catch((error: unknown) => {
        // A unique violation: another rollout of the config is under way.
        if ((error as { code?: string } | null)?.code === '23505') throw this.busy(key);
        throw error;
      });
    await this.reload();
    return rows[0]!;
  }

  /** Tells `onMoved` of a move this gateway made (never of a write failing because of it). */
  private moved(rollout: Rollout | undefined | null): void {
    if (!rollout) return;
    try {
      this.onMoved?.(rollout);
    } catch (error) {
      this.onError(error);
    }
  }

  /** The candidates among `events`, marked with their rollout (a rollout announced before its change is known first). */
  async marked<T extends { service: string; environment: string; version: number }>(events: T[]): Promise<(T & { rollout?: RolloutMark })[]> {
    if (this.pending) await this.settled();
    if (this.underWay.size === 0) return events;
    return events.map((event) => {
      const rollout = this.underWay.get(keyString(event));
      if (!rollout || rollout.candidateVersion !== event.version) return event;
      // A copy (an event's lazy patch is worked out here: it is about to be written out anyway).
      return { ...event, rollout: { id: rollout.id, stableVersion: rollout.stableVersion, percent: rolloutPercent(rollout) } };
    });
  }

  /** Drops a rollout whose candidate could not be written (nothing was served from it). */
  async cancel(id: string): Promise<void> {
    await this.db.query(`WITH gone AS (DELETE FROM config_rollout_events WHERE rollout_id = $1::bigint) DELETE FROM config_rollouts WHERE id = $1::bigint`, [id]);
    await this.reload();
  }

  /**
   * Refuses a change to a config whose rollout is under way. What this gateway holds in memory may be a
   * moment behind the database (the rollout ended elsewhere, or here a moment ago): it is asked before refusing.
   */
  async requireNoneUnderWay(key: ConfigKey): Promise<void> {
    if (!this.underWayFor(key)) return;
    await this.settled();
    const known = this.underWayFor(key);
    if (!known) return;
    const fresh = await this.find(known.id);
    if (fresh && (fresh.state === 'active' || fresh.state === 'rolling_back')) throw this.busy(key, fresh);
    await this.reload();
  }

  /** The refusal of a change to a config while its rollout is under way. */
  busy(key: ConfigKey, rollout = this.underWayFor(key)): RolloutError {
    const which = rollout ? `rollout ${rollout.id} of version ${rollout.candidateVersion}` : 'a rollout';
    return new RolloutError(rollout?.id ?? null, `${which} of "${key.service}" in "${key.environment}" is under way: promote or abort it first`);
  }

  async find(id: string): Promise<Rollout | null> {
    const [row] = await this.db.query<Rollout>(`SELECT ${COLUMNS} FROM config_rollouts WHERE id = $1::bigint`, [id]);
    return row ?? null;
  }

  /** The rollouts of a config, newest first. */
  async list(key: ConfigKey, take = 20): Promise<Rollout[]> {
    return this.db.query<Rollout>(`SELECT ${COLUMNS} FROM config_rollouts WHERE service_name = $1 AND environment = $2 ORDER BY config_rollouts.id DESC LIMIT $3`, [
      key.service,
      key.environment,
      Math.min(Math.max(take, 1), 100),
    ]);
  }

  async events(id: string): Promise<RolloutEvent[]> {
    return this.db.query<RolloutEvent>(`SELECT id::text AS id, at, actor, kind, percent, detail FROM config_rollout_events WHERE rollout_id = $1::bigint ORDER BY config_rollout_events.id`, [id]);
  }

  /** Moves a rollout to its next step at once (the last step: completes it); by hand, audited. */
  async promote(id: string, author: { actor: string; reason?: string | null }): Promise<Rollout> {
    requireTexts([{ text: author.reason, pointer: '/reason', maxBytes: MAX_REASON_BYTES }]);
    const rollout = await this.requireUnderWay(id);
    const moved = await this.advance(rollout, author.actor, 'promoted', author.reason ?? null);
    if (!moved) throw new RolloutError(id, `rollout ${id} moved meanwhile: look again`);
    return moved;
  }

  /** Ends a rollout by writing the stable version back (a ROLLBACK by `author`); audited. */
  async abort(id: string, author: { actor: string; reason?: string | null }, writer: RolloutWriter): Promise<Rollout> {
    requireTexts([{ text: author.reason, pointer: '/reason', maxBytes: MAX_REASON_BYTES }]);
    const rollout = await this.requireUnderWay(id);
    const ended = await this.rollBack(rollout, author.actor, `aborted by ${author.actor}${author.reason ? `: ${author.reason}` : ''}`, writer);
    if (!ended) throw new RolloutError(id, `rollout ${id} moved meanwhile: look again`);
    return ended;
  }

  private async requireUnderWay(id: string): Promise<Rollout> {
    const rollout = await this.find(id);
    if (!rollout) throw new RolloutError(id, `no rollout ${id}`);
    if (rollout.state !== 'active') throw new RolloutError(id, `rollout ${id} is ${rollout.state.replace('_', ' ')}, not under way`);
    return rollout;
  }

  /** Acts on every rollout that is due: rolls back, advances, completes or drops it. */
  async sweep(writer: RolloutWriter): Promise<void> {
    // Every rollout under way (or being rolled back) is in memory, reloaded on each notice: none, nothing to ask.
    if (this.underWay.size === 0 && !this.pending) return;
    const rows = await this.db.query<Rollout & { bakedMs: number; claimAge: number | null; age: number }>(
      `SELECT ${COLUMNS}, (EXTRACT(EPOCH FROM now() - step_started_at) * 1000)::float8 AS "bakedMs",
              (EXTRACT(EPOCH FROM now() - claimed_at))::float8 AS "claimAge", (EXTRACT(EPOCH FROM now() - created_at))::float8 AS age
         FROM config_rollouts WHERE state IN ('active', 'rolling_back') ORDER BY config_rollouts.id`,
    );
    for (const rollout of rows) {
      if (rollout.state === 'rolling_back') {
        if ((rollout.claimAge ?? Infinity) < STALE_CLAIM_SECONDS) continue;
        // Its gateway died mid-rollback: claim it again and finish it.
        const [claimed] = await this.db.query<Rollout>(
          `UPDATE config_rollouts SET claimed_at = now() WHERE id = $1::bigint AND state = 'rolling_back'
              AND claimed_at < now() - interval '${STALE_CLAIM_SECONDS} seconds' RETURNING ${COLUMNS}`,
          [rollout.id],
        );
        if (claimed) await this.finishRollback(claimed, writer);
        continue;
      }
      const current = await writer.current(rollout);
      if (!current || current.deleted || current.version > rollout.candidateVersion) {
        await this.end(rollout, 'superseded', ROLLOUT_ACTOR, current?.deleted ? 'the config was deleted' : `version ${current?.version ?? '?'} was written since`);
        continue;
      }
      if (current.version < rollout.candidateVersion) {
        if (rollout.age >= UNWRITTEN_SECONDS) await this.end(rollout, 'aborted', ROLLOUT_ACTOR, 'its candidate was never written');
        continue;
      }
      const cause = rollbackCause(rollout, await writer.instances(rollout));
      if (cause) await this.rollBack(rollout, ROLLOUT_ACTOR, cause, writer);
      else if (rollout.bakedMs >= rollout.bakeMs) await this.advance(rollout, ROLLOUT_ACTOR, 'advanced', null);
    }
  }

  /** The next step (or the end) of a rollout still at `rollout.stepIndex`; null if it moved meanwhile. */
  private async advance(rollout: Rollout, actor: string, kind: 'advanced' | 'promoted', detail: string | null): Promise<Rollout | null> {
    const last = rollout.stepIndex >= rollout.steps.length - 1;
    const [moved] = await this.db.query<Rollout>(
      `WITH moved AS (
         UPDATE config_rollouts
            SET step_index = CASE WHEN $3 THEN step_index ELSE step_index + 1 END, step_started_at = now(),
                state = CASE WHEN $3 THEN 'completed' ELSE state END,
                ended_at = CASE WHEN $3 THEN now() END, ended_by = CASE WHEN $3 THEN $4 END,
                outcome = CASE WHEN $3 THEN $6 END
          WHERE id = $1::bigint AND state = 'active' AND step_index = $2 RETURNING *)
       , noted AS (INSERT INTO config_rollout_events (rollout_id, actor, kind, percent, detail)
                   SELECT id, $4, CASE WHEN $3 AND $5 = 'advanced' THEN 'completed' ELSE $5 END, CASE WHEN $3 THEN 100 ELSE steps[step_index + 1] END, $7 FROM moved)
       SELECT ${COLUMNS} FROM moved`,
      [rollout.id, rollout.stepIndex, last, actor, kind, last ? `served to every instance${kind === 'promoted' ? ` (promoted by ${actor})` : ''}` : null, detail],
    );
    return this.afterMove(moved);
  }

  /** Ends a rollout without writing anything; null if it moved meanwhile. */
  private async end(rollout: Rollout, state: 'superseded' | 'aborted', actor: string, outcome: string): Promise<Rollout | null> {
    const [ended] = await this.db.query<Rollout>(
      `WITH ended AS (
         UPDATE config_rollouts SET state = $2, ended_at = now(), ended_by = $3, outcome = $4
          WHERE id = $1::bigint AND state = 'active' AND step_index = $5 RETURNING *)
       , noted AS (INSERT INTO config_rollout_events (rollout_id, actor, kind, percent, detail) SELECT id, $3, $2, $6, $4 FROM ended)
       SELECT ${COLUMNS} FROM ended`,
      [rollout.id, state, actor, outcome, rollout.stepIndex, state === 'superseded' ? 100 : 0],
    );
    return this.afterMove(ended);
  }

  /** After a move of this gateway's: reads what is under way again and tells `onMoved`; null if the row had moved meanwhile. */
  private async afterMove(moved: Rollout | undefined): Promise<Rollout | null> {
    if (moved) await this.reload();
    this.moved(moved);
    return moved ?? null;
  }

  /**
   * Claims the rollback of a rollout still where it was seen, writes the stable version back and ends the
   * rollout; null if another gateway (or hand) acted first.
   */
  private async rollBack(rollout: Rollout, actor: string, cause: string, writer: RolloutWriter): Promise<Rollout | null> {
    const [claimed] = await this.db.query<Rollout>(
      `UPDATE config_rollouts SET state = 'rolling_back', claimed_at = now(), ended_by = $3, outcome = $4
        WHERE id = $1::bigint AND state = 'active' AND step_index = $2 RETURNING ${COLUMNS}`,
      [rollout.id, rollout.stepIndex, actor, cause],
    );
    if (!claimed) return null;
    await this.reload();
    this.moved(claimed);
    return this.finishRollback(claimed, writer);
  }

  private async finishRollback(rollout: Rollout, writer: RolloutWriter): Promise<Rollout> {
    const actor = rollout.endedBy ?? ROLLOUT_ACTOR;
    const kind = actor === ROLLOUT_ACTOR ? 'rolled_back' : 'aborted';
    let version: number | null = null;
    let detail = rollout.outcome ?? '';
    try {
      const reason = reasonWithin(`rollout ${rollout.id} of version ${rollout.candidateVersion} ${kind === 'aborted' ? 'aborted' : 'rolled back'}: `, rollout.outcome ?? '');
      version = await writer.rollBack(rollout, rollout.stableConfig, rollout.candidateVersion, { actor, reason });
    } catch (error) {
      // Written already (by a gateway that died before it noted so), or changed since: nothing to write back.
      if (!(error instanceof VersionConflictError)) throw error;
      detail = `${detail} (the config had moved on to version ${error.currentVersion}: nothing written back)`;
    }
    const [ended] = await this.db.query<Rollout>(
      `WITH ended AS (
         UPDATE config_rollouts SET state = $2, ended_at = now(), rollback_version = $3 WHERE id = $1::bigint AND state = 'rolling_back' RETURNING *)
       , noted AS (INSERT INTO config_rollout_events (rollout_id, actor, kind, percent, detail) SELECT id, $4, $2, 0, $5 FROM ended)
       SELECT ${COLUMNS} FROM ended`,
      [rollout.id, kind, version, actor, detail],
    );
    // Ended here or by another gateway: either way, read what is under way now.
    await this.reload();
    this.moved(ended);
    return ended ?? (await this.find(rollout.id))!;
  }

  /** Reads the rollouts under way again (coalescing notices that arrive meanwhile), then tells the listeners what changed. */
  private reload(): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      try {
        do {
          this.reloadAgain = false;
          const rows = await this.db.query<Rollout>(`SELECT ${COLUMNS} FROM config_rollouts WHERE state IN ('active', 'rolling_back')`);
          const withdrawn = await this.db.query<ConfigKey & { version: number }>(
            `SELECT service_name AS service, environment, candidate_version AS version FROM config_rollouts WHERE state IN ('rolled_back', 'aborted')`,
          );
          const before = this.underWay;
          this.underWay = new Map(rows.map((row) => [keyString(row), row]));
          this.withdrawn = new Map();
          for (const row of withdrawn) {
            const k = keyString(row);
            (this.withdrawn.get(k) ?? this.withdrawn.set(k, new Set()).get(k)!).add(row.version);
          }
          for (const key of new Set([...before.keys(), ...this.underWay.keys()])) {
            const was = before.get(key);
            const now = this.underWay.get(key);
            if (was?.id === now?.id && was?.state === now?.state && was?.stepIndex === now?.stepIndex) continue;
            for (const listener of this.listeners) listener(was ?? now!);
          }
        } while (this.reloadAgain);
      } finally {
        this.reloading = undefined;
      }
    })();
    return this.reloading;
  }
}
