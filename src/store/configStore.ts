import { Prisma, type PrismaClient, type ServiceConfig } from '../generated/prisma/client.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { nextTurn } from '../turns.ts';
import { CHANGE_CHANNEL } from '../protocol/changes.ts';
import { ConfigCache, type ConfigReads } from './cache.ts';
import {
  type JsonObject,
  type JsonValue,
  type PatchOperation,
  applyMergePatch,
  documentText,
  requireObject,
} from './documents.ts';
import { AlreadyExistsError, ChangeRequestError, NotFoundError, SecretRejectedError, ValidationError, VersionConflictError } from './errors.ts';
import { type ChangeRequest, ChangeRequests, ProtectedEnvironments, type RequestWriter, approvalsOf, requestExpiry } from './approvals.ts';
import { isJsonObject, sameValue } from '../protocol/json.ts';
import { type ConfigSchema, ConfigSchemas } from './configSchemas.ts';
import { DocumentChecker, WORKER_THRESHOLD_CHARS } from './documentChecks.ts';
import { BlameReader } from './blame.ts';
import { type ConfigOverride, ConfigOverrides, OVERRIDE_ACTOR, type OverrideWriter, overrideChanges, overrideExpiry } from './overrides.ts';
import { ConfigHistory } from './history.ts';
import type { PatchText } from './patchText.ts';
import { ConfigInstances, instanceName } from './instances.ts';
import { ConfigRollouts, type Rollout, type RolloutInput, type RolloutWriter, rolloutPlan } from './rollouts.ts';
import { MAX_DESCRIPTION_BYTES, MAX_REASON_BYTES, reasonWithin, requireTexts } from './texts.ts';
import { SECRET_ADVICE } from './secretGuard.ts';
import { type ConfigKey, configKey, keyString } from './names.ts';
import { CREATE_SQL, RETURNING_COLUMNS, type RowWrite, WriteBatcher } from './writeBatch.ts';

export type { ServiceConfig };

/** Who makes a change, and why; recorded in the audit log. */
export interface ChangeAuthor {
  actor: string;
  reason?: string | null;
  /** Whether the author may break glass in a protected environment (an admin; the faces decide). */
  mayBreakGlass?: boolean;
}

/** Which config a write is for. */
interface ConfigInput {
  service: string;
  environment?: string | null;
  /** Written at once in a protected environment, by an admin with a reason (recorded as such). */
  breakGlass?: boolean | null;
}

export interface CreateConfigInput extends ConfigInput {
  config?: unknown;
  description?: string | null;
}

export interface LifecycleInput extends ConfigInput {
  /** Refuse the change unless the config is at this version. */
  expectedVersion?: number | null;
}

export interface UpdateConfigInput extends LifecycleInput {
  /** An RFC 7396 merge patch; give this or `config`. */
  patch?: unknown;
  /** The whole new document; give this or `patch`. */
  config?: unknown;
  description?: string | null;
  /** Validate and compute the diff, write nothing. */
  dryRun?: boolean | null;
  /** A temporary override: reverted by the hub at this time (see overrides.ts). */
  expiresAt?: Date | null;
  /** A temporary override: reverted by the hub this long after the write (`90m`, `2h`, `3d`). */
  expiresIn?: string | null;
  /** In a protected environment: how long the change request stays open (`2h`, `3d`; 7 days if not given). */
  requestExpiresIn?: string | null;
  /** Roll the change out in steps (see rollouts.ts) instead of serving it to every instance at once. */
  rollout?: RolloutInput | null;
}

export interface RollbackConfigInput extends LifecycleInput {
  toVersion: number;
  dryRun?: boolean | null;
  requestExpiresIn?: string | null;
}

/**
 * What a write makes of a config's row (see ConfigStore.write); `checked`: its document is checked (schema
 * and secret guard), being new, not one the config had.
 */
type NextRow = Pick<RowWrite, 'config' | 'description' | 'deleted' | 'rollback'> & { checked: boolean };

/** The outcome of a write: the config as it is now (or would be, on a dry run) and what changed. */
export interface ConfigWrite {
  config: ServiceConfig;
  /** The version before the change. */
  previousVersion: number;
  /**
   * The RFC 6902 operations from the previous content, worked out once, when first asked (most writers read
   * the new version only); a large diff comes written out (patchText.ts), to be read a page at a time.
   */
  diff(): Promise<PatchOperation[] | PatchText>;
  dryRun: boolean;
  /** False when the write would change nothing; then nothing was written. */
  changed: boolean;
  /** The override this write opened (an update with an expiry that changed something). */
  override?: ConfigOverride;
  /** In a protected environment: nothing was written; this request holds the change until it is approved. */
  request?: ChangeRequest;
  /** The rollout this write began (an update with a rollout that changed something). */
  rollout?: Rollout;
}

export interface ListConfigsFilter {
  environment?: string | null;
  /** Only services whose name contains this. */
  nameContains?: string | null;
  includeDeleted?: boolean | null;
  /** Only these services (exact names): what the caller may see. */
  services?: readonly string[] | null;
  /** Only these environments: what the caller may see. */
  environments?: readonly string[] | null;
}

/** A notification from the audit trigger (channel `config_changes`): a change committed, by anyone. */
export interface ChangeNotice {
  revision: number;
  service: string;
  environment: string;
  version: number;
}

/** Attempts of a write whose read went stale under it (no expectedVersion given). */
const MAX_WRITE_ATTEMPTS = 50;

/**
 * The domain: current configs, their reads (cached) and their audited writes. GraphQL and REST are
 * two faces of this class. Every write is one statement: the audit trigger records it in the same
 * transaction, with the author passed as transaction-local settings. Updates, deletes and restores that
 * arrive together share one statement (group commit, writeBatch.ts), each with its own audit row,
 * author, version check and outcome; writes of one config run one after another, in arrival order.
 */
export class ConfigStore {
  readonly history: ConfigHistory;
  /** Blame per setting: the change that last set each leaf. */
  readonly blame: BlameReader;
  /** Temporary overrides, and their reverts at expiry. */
  readonly overrides: ConfigOverrides;
  /** The fleet report: which instance of a service runs which version. */
  readonly instances: ConfigInstances;
  readonly schemas: ConfigSchemas;
  /** Environments whose changes need approvals, and the change requests that hold them. */
  readonly protection: ProtectedEnvironments;
  readonly requests: ChangeRequests;
  /** Progressive rollouts: which instances are served a candidate version, and its steps. */
  readonly rollouts: ConfigRollouts;
  /** Where documents and new schemas are checked (on a worker thread when large). */
  private readonly checker: DocumentChecker;
  /** For the GraphQL layer's Prisma plugin, which plans selections; writes go through this class. */
  readonly prisma: PrismaClient;
  private stopListening: (() => Promise<void>) | undefined;
  /** Group commit of compare-and-swap writes. */
  readonly batcher: WriteBatcher;
  /**
   * Per config (keyString) with writes under way here: the end of the last one started, and how many are
   * not settled yet (the one under way and those waiting behind it).
   */
  private readonly writing = new Map<string, { last: Promise<unknown>; unsettled: number }>();
  /** What stops the sweeps that run every second (rollouts due to move, overrides due to revert). */
  private readonly sweeps: (() => Promise<void>)[] = [];
  /** Who else follows the database's notices of committed changes (the change feed). */
  private readonly noticeListeners = new Set<(notice: ChangeNotice) => void>();

  readonly cache = new ConfigCache();

  constructor(
    private readonly db: Database,
    private readonly logger?: Logger,
  ) {
    this.batcher = new WriteBatcher((sql, params, queryOptions) => db.query(sql, params, queryOptions));
    this.prisma = db.prisma;
    this.schemas = new ConfigSchemas(db, logger);
    this.checker = new DocumentChecker(this.schemas);
    this.history = new ConfigHistory(db, (from, to) => this.checker.diff(from, to));
    this.blame = new BlameReader((key, before) => this.history.changesBefore(key, before), (key) => this.load(key));
    this.overrides = new ConfigOverrides(db);
    this.instances = new ConfigInstances(db.prisma);
    this.protection = new ProtectedEnvironments(db, (error) => logger?.error({ err: error }, 'the protected environments could not be read again; the last ones read still apply'));
    this.requests = new ChangeRequests(db, this.requestWriter);
    this.rollouts = new ConfigRollouts(db, (error) => logger?.error({ err: error }, 'a rollout could not be read or moved on; retrying'));
  }

  /** Follows changes committed by anyone (psql, other instances) so the cache never goes stale. */
  async start(): Promise<void> {
    await this.schemas.start();
    await this.protection.start();
    await this.rollouts.start();
    this.everySecond(() => this.rollouts.sweep(this.rolloutWriter), this.rollouts.onError);
    const overrideWriter: OverrideWriter = {
      current: this.current,
      replace: async (key, config, expectedVersion, reason) => {
        const write = await this.writeUpdate({ service: key.service, environment: key.environment, config, expectedVersion }, { actor: OVERRIDE_ACTOR, reason });
        return write.changed ? write.config.version : null;
      },
    };
    this.everySecond(
      () => this.overrides.sweep(overrideWriter),
      (error) => this.logger?.error({ err: error }, 'an expired override could not be reverted; retrying'),
    );
    this.stopListening = await this.db.listen(CHANGE_CHANNEL, (payload) => {
      try {
        const notice = JSON.parse(payload) as ChangeNotice;
        this.cache.changed(notice, notice.version);
        for (const listener of this.noticeListeners) listener(notice);
      } catch (error) {
        this.logger?.warn({ err: error, payload }, 'unreadable change notification');
      }
    }, () => this.cache.clear());
  }

  /** Calls `listener` with the database's notice of every change committed from now on; returns what stops it. */
  onCommitted(listener: (notice: ChangeNotice) => void): () => void {
    this.noticeListeners.add(listener);
    return () => this.noticeListeners.delete(listener);
  }

  /** Runs `sweep` now and every second, one run at a time (the timer does not hold the process). */
  private everySecond(sweep: () => Promise<void>, onError: (error: unknown) => void): void {
    let running: Promise<void> | undefined;
    const tick = () => {
      running ??= sweep()
        .catch(onError)
        .finally(() => (running = undefined));
    };
    tick();
    const timer = setInterval(tick, 1_000).unref();
    this.sweeps.push(async () => {
      clearInterval(timer);
      await running;
    });
  }

  async stop(): Promise<void> {
    for (const stop of this.sweeps.splice(0)) await stop();
    await this.rollouts.stop();
    await this.protection.stop();
    await this.schemas.stop();
    await this.checker.close();
    await this.stopListening?.();
    this.stopListening = undefined;
  }

  /**
   * The live config; deleted and unknown configs are not found. Served from the cache when it can. `reads`,
   * when given, records what was read (an answer cache checks later that it is still what is served).
   * While a rollout is under way, an instance outside its step (and a caller naming none) is served the
   * stable version (see rollouts.ts).
   */
  async getConfig(service: unknown, environment?: unknown, reads?: ConfigReads, instance?: string | null): Promise<ServiceConfig> {
    const key = configKey(service, environment);
    const name = instanceName(instance);
    // A rollout the database announced before this config's change is known here before the change is served.
    if (this.rollouts.pending) await this.rollouts.settled();
    const row = this.cache.get(key) ?? (await this.load(key));
    const served = row && this.rollouts.served(row, name);
    reads?.push({ key: keyString(key), row: served ?? null });
    if (!served || served.deletedAt) throw new NotFoundError(key.service, key.environment);
    return served;
  }

  /** Configs by key in the order asked (null where there is none), one query for the cache misses. */
  async findConfigs(keys: readonly ConfigKey[]): Promise<(ServiceConfig | null)[]> {
    const missing = keys.filter((key) => !this.cache.get(key));
    const rows =
      missing.length === 0
        ? []
        : await this.prisma.serviceConfig.findMany({ where: { OR: missing.map((key) => ({ serviceName: key.service, environment: key.environment })) } });
    rows.forEach((row) => this.cache.offer(row));
    const loaded = new Map(rows.map((row) => [keyString({ service: row.serviceName, environment: row.environment }), row]));
    return keys.map((key) => this.cache.get(key) ?? loaded.get(keyString(key)) ?? null);
  }

  /** Configs for a listing, oldest first; `query` carries paging and selection (Pothos' `...query`). */
  async listConfigs(filter: ListConfigsFilter, query: Omit<Prisma.ServiceConfigFindManyArgs, 'where'> = {}) {
    return this.prisma.serviceConfig.findMany({ orderBy: { id: 'asc' }, ...query, where: listingWhere(filter) });
  }

  async countConfigs(filter: ListConfigsFilter): Promise<number> {
    return this.prisma.serviceConfig.count({ where: listingWhere(filter) });
  }

  /** The names of every service with a config (deleted ones included), in order. */
  async serviceNames(): Promise<string[]> {
    const rows = await this.db.query<{ service_name: string }>('SELECT DISTINCT service_name FROM service_configs ORDER BY 1');
    return rows.map((row) => row.service_name);
  }

  async createConfig(input: CreateConfigInput, author: ChangeAuthor): Promise<ConfigWrite> {
    const key = configKey(input.service, input.environment);
    requireAuthorTexts(author, input.description);
    author = this.unlessProtected(key, input, author, 'create');
    const config = requireObject(input.config, '/config', 'config');
    await aTurnForOthersIfLarge(config);
    await this.checkDocument(key.service, config);
    const [created] = await this.db.query<ServiceConfig>(CREATE_SQL, [
      author.actor,
      author.reason ?? null,
      key.service,
      key.environment,
      documentText(config),
      input.description ?? null,
    ]);
    if (!created) {
      const existing = await this.load(key);
      throw new AlreadyExistsError(key.service, key.environment, Boolean(existing?.deletedAt));
    }
    this.cache.written(created);
    this.logger?.info({ service: key.service, environment: key.environment, actor: author.actor }, 'config created');
    return this.withDiff({ config: created, previousVersion: 0, dryRun: false, changed: true }, {}, config);
  }

  /**
   * Applies a merge patch or replaces the document; optimistic, retried while no expectedVersion binds it.
   * In a protected environment nothing is written: a change request holds the change (see approvals.ts).
   */
  async updateConfig(input: UpdateConfigInput, author: ChangeAuthor): Promise<ConfigWrite> {
    const key = configKey(input.service, input.environment);
    requireAuthorTexts(author, input.description);
    if (input.rollout != null) return this.rollOut(key, input, author);
    // A change by hand while a rollout is under way is refused (promote or abort it first); a dry run is not.
    if (!input.dryRun) await this.rollouts.requireNoneUnderWay(key);
    const approvals = input.dryRun ? 0 : this.approvalsNeeded(key, input);
    if (approvals === 0) return this.writeUpdate(input, this.breakingGlass(key, input, author));
    if (input.expiresAt != null || input.expiresIn != null) {
      throw ValidationError.at(input.expiresAt != null ? '/expiresAt' : '/expiresIn', `an override in protected environment "${key.environment}" needs breakGlass`);
    }
    const expiresAt = requestExpiry(input.requestExpiresIn);
    // The request's base is the database's current version, not one a write on another gateway has moved
    // past before this gateway's cache heard of it: read, the cache is offered the row the preview then takes.
    await this.load(key);
    const preview = await this.writeUpdate({ ...input, dryRun: true }, author);
    const asked = input.patch != null ? { patch: input.patch as JsonObject } : { config: input.config as JsonObject };
    return this.openRequest(key, preview, { ...asked, description: input.description ?? null }, approvals, author, expiresAt);
  }

  /** The write of updateConfig, without the protection's check (also the override reverts' and approved requests'). */
  private async writeUpdate(input: UpdateConfigInput, author: ChangeAuthor): Promise<ConfigWrite> {
    const key = configKey(input.service, input.environment);
    const hasPatch = input.patch !== undefined && input.patch !== null;
    const hasConfig = input.config !== undefined && input.config !== null;
    if (hasPatch === hasConfig) {
      throw ValidationError.at('', 'give exactly one of patch (RFC 7396 merge patch) or config (full replacement)');
    }
    const patch = hasPatch ? requireObject(input.patch, '/patch', 'patch') : undefined;
    const replacement = hasConfig ? requireObject(input.config, '/config', 'config') : undefined;
    const expiresAt = overrideExpiry(input.expiresAt, input.expiresIn);
    await aTurnForOthersIfLarge(patch ?? replacement!);
    let before: JsonObject | undefined;
    const write = await this.write(key, input.expectedVersion, author, input.dryRun, 'updated', (current) => {
      if (current.deletedAt) throw new NotFoundError(key.service, key.environment);
      before = current.config as JsonObject;
      return {
        config: patch ? applyMergePatch(current.config as JsonObject, patch) : replacement!,
        description: input.description === undefined ? current.description : input.description,
        deleted: false,
        checked: true,
      };
    });
    if (!expiresAt || write.dryRun || !write.changed) return write;
    const changes = overrideChanges(before!, write.config.config as JsonObject);
    return { ...write, override: await this.overrides.record(key, write.config.version, changes, expiresAt, { actor: author.actor, reason: author.reason ?? null }) };
  }

  /**
   * An update rolled out in steps: checked like any update (a dry run), its rollout recorded on the version
   * it was checked on, then written pinned to that version. A write that fails drops the rollout.
   */
  private async rollOut(key: ConfigKey, input: UpdateConfigInput, author: ChangeAuthor): Promise<ConfigWrite> {
    const plan = rolloutPlan(input.rollout!);
    if (input.expiresAt != null || input.expiresIn != null) throw ValidationError.at('/rollout', 'a rollout cannot also be a temporary override');
    if (this.approvalsNeeded(key, input) > 0) {
      throw new ChangeRequestError(null, `"${key.environment}" is protected: a rollout there needs an admin breaking glass (change requests carry no rollout)`);
    }
    if (!input.dryRun) await this.rollouts.requireNoneUnderWay(key);
    const current = await this.load(key);
    if (!current || current.deletedAt) throw new NotFoundError(key.service, key.environment);
    const pinned = input.expectedVersion ?? current.version;
    const preview = await this.writeUpdate({ ...input, rollout: null, dryRun: true, expectedVersion: pinned }, author);
    if (input.dryRun || !preview.changed) return preview;
    author = this.breakingGlass(key, input, author);
    const rollout = await this.rollouts.begin(key, current, plan, author);
    const steps = plan.steps.map((step) => `${step}%`).join(', ');
    const reason = reasonWithin('', author.reason ?? 'rolled out', ` (rollout ${rollout.id}: ${steps}, bake ${plan.bakeMs / 1000}s)`);
    try {
      const write = await this.writeUpdate(
        { service: key.service, environment: key.environment, config: preview.config.config, description: input.description, expectedVersion: current.version },
        { ...author, reason },
      );
      return { ...write, rollout };
    } catch (error) {
      await this.rollouts.cancel(rollout.id);
      throw error;
    }
  }

  /** What the rollouts need of the store: the config now, the audited rollback of a candidate, the fleet report. */
  private readonly rolloutWriter: RolloutWriter = {
    current: (key) => this.current(key),
    rollBack: async (key, config, expectedVersion, author) => {
      const write = await this.write(key, expectedVersion, author, false, 'rolled back', (current) => ({
        config,
        description: current.description,
        deleted: false,
        checked: false,
        rollback: true,
      }));
      return write.config.version;
    },
    instances: async (key) => (await this.instances.ofConfigs([key]))[0]!,
  };

  /** Ends a rollout by hand, writing the stable version back. */
  abortRollout(id: string, author: ChangeAuthor): Promise<Rollout> {
    return this.rollouts.abort(id, author, this.rolloutWriter);
  }

  /** Writes a new version whose content equals `toVersion`'s (a deleted config comes back with it). */
  async rollbackConfig(input: RollbackConfigInput, author: ChangeAuthor): Promise<ConfigWrite> {
    const key = configKey(input.service, input.environment);
    requireAuthorTexts(author);
    if (!input.dryRun) await this.rollouts.requireNoneUnderWay(key);
    if (!(await this.load(key))) throw new NotFoundError(key.service, key.environment);
    const target = requireObject(await this.history.contentAt(key, input.toVersion, '/toVersion'), '/toVersion', 'that version');
    const reason = author.reason ?? `rollback to version ${input.toVersion}`;
    const next = (current: ServiceConfig): NextRow => ({ config: target, description: current.description, deleted: false, checked: true, rollback: true });
    const approvals = input.dryRun ? 0 : this.approvalsNeeded(key, input);
    if (approvals > 0) {
      const expiresAt = requestExpiry(input.requestExpiresIn);
      const preview = await this.write(key, input.expectedVersion, { ...author, reason }, true, 'rolled back', next);
      return this.openRequest(key, preview, { config: target, description: null }, approvals, { ...author, reason }, expiresAt);
    }
    return this.write(key, input.expectedVersion, this.breakingGlass(key, input, { ...author, reason }), input.dryRun, 'rolled back', next);
  }

  /** Soft delete: the row and its history stay; `restoreConfig` or a rollback brings it back. */
  deleteConfig(input: LifecycleInput, author: ChangeAuthor): Promise<ConfigWrite> {
    return this.setDeleted(input, author, true);
  }

  restoreConfig(input: LifecycleInput, author: ChangeAuthor): Promise<ConfigWrite> {
    return this.setDeleted(input, author, false);
  }

  private async setDeleted(input: LifecycleInput, author: ChangeAuthor, deleted: boolean): Promise<ConfigWrite> {
    const key = configKey(input.service, input.environment);
    requireAuthorTexts(author);
    await this.rollouts.requireNoneUnderWay(key);
    author = this.unlessProtected(key, input, author, deleted ? 'delete' : 'restore');
    return this.write(key, input.expectedVersion, author, false, deleted ? 'deleted' : 'restored', (current) => {
      if (Boolean(current.deletedAt) === deleted) {
        throw new NotFoundError(key.service, key.environment, null, deleted ? undefined : `config "${key.service}" in "${key.environment}" is not deleted`);
      }
      return { config: current.config as JsonObject, description: current.description, deleted, checked: false };
    });
  }

  /**
   * Runs the writes of one config one after another, in the order they arrived: each starts from the row
   * the previous one wrote (in the cache), instead of racing it and losing a round trip to a moved version.
   */
  private serially<T>(key: ConfigKey, work: () => Promise<T>): Promise<T> {
    const k = keyString(key);
    const writes = this.writing.get(k);
    const result = writes ? writes.last.then(work) : work();
    const last = result.then(ignore, ignore);
    const entry = writes ?? { last, unsettled: 0 };
    entry.last = last;
    entry.unsettled++;
    this.writing.set(k, entry);
    // Writes of one config settle in order: the count reaches 0 as the last one started settles.
    void last.then(() => {
      if (--entry.unsettled === 0) this.writing.delete(k);
    });
    return result;
  }

  /**
   * The one write path of an existing config (update, rollback, delete, restore): read, compute the next
   * row with `change` (which refuses a config in the wrong state), check it, and compare-and-swap it
   * through the batcher. The first read may come from the cache; when the write finds the version moved,
   * it reads again and, unless `expectedVersion` pins it, tries again. Writes of one config run in the
   * order they came (`serially`); a dry run or a change to nothing writes nothing.
   */
  private write(
    key: ConfigKey,
    expectedVersion: number | null | undefined,
    author: ChangeAuthor,
    dryRun: boolean | null | undefined,
    done: 'updated' | 'rolled back' | 'deleted' | 'restored',
    change: (current: ServiceConfig) => NextRow,
  ): Promise<ConfigWrite> {
    const attempt = async (): Promise<ConfigWrite> => {
      let current = this.cache.get(key) ?? (await this.load(key));
      for (let attempt = 1; ; attempt++) {
        if (!current) throw new NotFoundError(key.service, key.environment);
        if (expectedVersion != null && expectedVersion !== current.version) {
          const fresh = attempt === 1 ? await this.load(key) : current;
          if (!fresh || fresh.version !== expectedVersion) {
            throw new VersionConflictError(key.service, key.environment, expectedVersion, fresh?.version ?? current.version);
          }
          current = fresh;
        }
        const next = change(current);
        if (next.checked) await this.checkDocument(key.service, next.config);
        const before = (current.deletedAt ? {} : current.config) as JsonObject;
        const changed =
          Boolean(current.deletedAt) !== next.deleted || next.description !== current.description || !sameValue(current.config, next.config);
        const after = next.deleted ? {} : next.config;
        if (dryRun || !changed) {
          const config = changed
            ? { ...current, config: next.config, description: next.description, version: current.version + 1, deletedAt: null }
            : current;
          return this.withDiff({ config, previousVersion: current.version, dryRun: Boolean(dryRun), changed }, before, after);
        }
        // One audited UPDATE, applied only if the row is still at `current.version` (null if it moved), sent
        // with the other writes under way (group commit), each keeping its own author, check and outcome.
        const written = await this.batcher.write({
          id: current.id,
          version: current.version,
          config: next.config,
          description: next.description ?? null,
          deleted: next.deleted,
          actor: author.actor,
          reason: author.reason ?? null,
          rollback: next.rollback,
          // Whether a write of the config waits behind this one (see `serially`).
          followed: () => (this.writing.get(keyString(key))?.unsettled ?? 0) > 1,
        });
        if (written) {
          this.cache.written(written);
          this.logger?.info({ ...key, version: written.version, actor: author.actor }, `config ${done}`);
          return this.withDiff({ config: written, previousVersion: current.version, dryRun: false, changed: true }, before, after);
        }
        current = await this.load(key);
        if (expectedVersion != null) {
          if (!current) throw new NotFoundError(key.service, key.environment);
          throw new VersionConflictError(key.service, key.environment, expectedVersion, current.version);
        }
        if (attempt >= MAX_WRITE_ATTEMPTS) {
          throw new VersionConflictError(key.service, key.environment, current?.version ?? 0, current?.version ?? 0);
        }
      }
    };
    return dryRun ? attempt() : this.serially(key, attempt);
  }

  /**
   * What every write checks before it writes: the service's JSON Schema (every violation, with its
   * pointer) and the secret guard (fields the schema marks as not secret aside).
   */
  private async checkDocument(service: string, document: JsonObject): Promise<void> {
    const { violations, secrets } = await this.checker.check(service, document);
    if (violations.length > 0) throw new ValidationError(violations);
    if (secrets.length > 0) throw new SecretRejectedError(secrets, SECRET_ADVICE);
  }


  /**
   * Adds a version of a service's schema. Refused when it is not a valid JSON Schema, when a live config
   * of the service breaks it (every violation is returned), or when `expectedVersion` is not the newest.
   */
  async setConfigSchema(
    input: { service: string; schema?: unknown; expectedVersion?: number | null },
    author: ChangeAuthor,
  ): Promise<ConfigSchema> {
    const { service } = configKey(input.service);
    requireAuthorTexts(author);
    const schema = requireObject(input.schema, '/schema', 'schema');
    const newest = await this.schemas.newestVersion(service);
    const expected = input.expectedVersion ?? newest;
    // A stale version is refused before the schema is compiled, which costs up to a few hundred ms.
    if (expected !== newest) throw new VersionConflictError(service, '*', expected, newest);
    const configs = await this.prisma.serviceConfig.findMany({ where: { serviceName: service, deletedAt: null }, orderBy: { environment: 'asc' } });
    const vetting = await this.checker.vetSchema(schema, configs.map((row) => ({ environment: row.environment, config: row.config as JsonValue })));
    if (vetting.validation.length > 0) throw new ValidationError(vetting.validation);
    if (vetting.secrets.length > 0) throw new SecretRejectedError(vetting.secrets, SECRET_ADVICE);
    const inserted = await this.schemas.insert(service, schema, author.actor, author.reason ?? null, expected);
    if (!inserted) throw new VersionConflictError(service, '*', expected, await this.schemas.newestVersion(service));
    this.logger?.info({ service, version: inserted.version, actor: author.actor }, 'config schema set');
    return inserted;
  }

  /** What a change request would change: RFC 6902 operations from its base's content to its document. */
  async requestDiff(request: ChangeRequest): Promise<PatchOperation[] | PatchText> {
    const base = await this.requestWriter.contentAt({ service: request.service, environment: request.environment }, request.baseVersion);
    return this.checker.diff(documentText(base ?? {}), documentText(request.proposed));
  }

  /** What applying a change request needs: the config now, its content at a version, and the write. */
  private readonly requestWriter: RequestWriter = {
    current: (key) => this.current(key),
    contentAt: async (key, version) => {
      const content: JsonValue = await this.history.contentAt(key, version).catch(() => null);
      return isJsonObject(content) ? content : null;
    },
    write: async (request, config, expectedVersion) => {
      const approvers = approvalsOf(request).map((review) => review.reviewer);
      const reason = reasonWithin('', request.reason, ` (change request ${request.id}, approved by ${approvers.join(', ')})`);
      const key = { service: request.service, environment: request.environment };
      const write = await this.writeUpdate({ ...key, config, description: request.description ?? undefined, expectedVersion }, { actor: request.author, reason });
      return write.config.version;
    },
  };

  /** The approvals a change needs: those of a protected environment, none when an admin breaks glass. */
  private approvalsNeeded(key: ConfigKey, input: ConfigInput): number {
    return input.breakGlass ? 0 : this.protection.approvalsFor(key.environment);
  }

  /** The author of a write that breaks glass (in a protected environment), its reason marked so; refused unless allowed and explained. */
  private breakingGlass(key: ConfigKey, input: ConfigInput, author: ChangeAuthor): ChangeAuthor {
    if (!input.breakGlass || this.protection.approvalsFor(key.environment) === 0) return author;
    if (!author.mayBreakGlass) throw new ChangeRequestError(null, `only an admin may break glass (in "${key.environment}")`);
    if (!author.reason) throw ValidationError.at('/reason', 'breaking glass needs a reason');
    return { ...author, reason: reasonWithin('break glass: ', author.reason) };
  }

  /** `write` with its diff from `from` to `to`, worked out once, when first asked; a large one on the worker thread. */
  private withDiff(write: Omit<ConfigWrite, 'diff'>, from: JsonObject, to: JsonObject): ConfigWrite {
    let diff: Promise<PatchOperation[] | PatchText> | undefined;
    return { ...write, diff: () => (diff ??= this.checker.diffDocuments(from, to)) };
  }

  private unlessProtected(key: ConfigKey, input: ConfigInput, author: ChangeAuthor, action: string): ChangeAuthor {
    if (this.protection.approvalsFor(key.environment) > 0 && !input.breakGlass) {
      throw new ChangeRequestError(null, `"${key.environment}" is protected: to ${action} a config there, an admin breaks glass (breakGlass, with a reason)`);
    }
    return this.breakingGlass(key, input, author);
  }

  /** Opens the request for a change previewed by a dry run; nothing is written. A change that changes nothing opens none. */
  private async openRequest(
    key: ConfigKey,
    preview: ConfigWrite,
    asked: { patch?: JsonObject; config?: JsonObject; description: string | null },
    approvals: number,
    author: ChangeAuthor,
    expiresAt: Date,
  ): Promise<ConfigWrite> {
    const current = (await this.load(key))!;
    const unchanged = { config: current, previousVersion: current.version, diff: preview.diff, dryRun: false, changed: false };
    if (!preview.changed) return unchanged;
    const request = await this.requests.open(key, asked, preview.previousVersion, preview.config.config as JsonObject, approvals, author, expiresAt);
    this.logger?.info({ service: key.service, environment: key.environment, actor: author.actor, request: request.id }, 'change request opened');
    return { ...unchanged, request };
  }

  /** A config's version and document as the database has them now, for overrides, rollouts and change requests. */
  private readonly current = async (key: ConfigKey) => {
    const row = await this.load(key);
    return row && { version: row.version, config: row.config as JsonObject, deleted: row.deletedAt !== null };
  };

  /** Reads one config from the database (deleted ones too) and offers it to the cache. */
  private async load(key: ConfigKey): Promise<ServiceConfig | null> {
    // Through the driver: this read sits on the write path (a retry after a moved version) and on cache misses.
    const [row] = await this.db.query<ServiceConfig>(
      `SELECT ${RETURNING_COLUMNS} FROM service_configs AS c WHERE c.service_name = $1 AND c.environment = $2`,
      [key.service, key.environment],
    );
    if (row) this.cache.offer(row);
    return row ?? null;
  }
}

function listingWhere(filter: ListConfigsFilter): Prisma.ServiceConfigWhereInput {
  const conditions: Prisma.ServiceConfigWhereInput[] = [];
  if (filter.environment) conditions.push({ environment: configKey('any', filter.environment).environment });
  if (filter.nameContains) conditions.push({ serviceName: { contains: filter.nameContains } });
  if (filter.services) conditions.push({ serviceName: { in: [...filter.services] } });
  if (filter.environments) conditions.push({ environment: { in: [...filter.environments] } });
  if (!filter.includeDeleted) conditions.push({ deletedAt: null });
  return { AND: conditions };
}

const ignore = () => {};

/**
 * A large document costs milliseconds to parse, walk, merge and write out on the event loop: between
 * reading the request and working on it, other requests (`/health` among them) get a turn.
 */
async function aTurnForOthersIfLarge(document: JsonObject): Promise<void> {
  if (documentText(document).length >= WORKER_THRESHOLD_CHARS) await nextTurn();
}

/** The free texts of a write: its reason and the config's description. */
function requireAuthorTexts(author: ChangeAuthor, description?: string | null): void {
  requireTexts([
    { text: author.reason, pointer: '/reason', maxBytes: MAX_REASON_BYTES },
    { text: description, pointer: '/description', maxBytes: MAX_DESCRIPTION_BYTES },
  ]);
}
