import { hostname } from 'node:os';
import path from 'node:path';
import { type BackoffOptions, backoffDelay } from './backoff.ts';
import { type ConfigPath, type ConfigPathValue, changedPaths, deepFreeze, overlay, valueAt } from './documents.ts';
import { type LiveChange, type LiveFeed, type NatsOptions, followNats, followWebSocket } from './live.ts';
import { FleetReporter, reportableError } from './fleetReport.ts';
import { ClientConfig } from './operations.ts';
import type { JsonObject } from '../protocol/json.ts';
import { SnapshotWriter, readSnapshot } from './snapshot.ts';
import { type HubConnection, answered, hubRequest } from './transport.ts';

/**
 * STARTING: its first fetch or first live connection is under way (it runs its snapshot or defaults
 * meanwhile; a normal start goes STARTING -> READY). READY: runs the hub's config and follows its changes.
 * STALE: runs a cached or snapshot config, the hub or its live updates away. ERROR: runs its defaults only.
 */
export type ClientState = 'STARTING' | 'READY' | 'STALE' | 'ERROR';

const NOT_FETCHED_YET = 'no config fetched from the hub yet';
const NOT_CONNECTED_YET = 'live updates not connected yet';

/** Where the config a client runs came from. */
export type ConfigSource = 'defaults' | 'snapshot' | 'hub';

export interface ClientStatus {
  state: ClientState;
  /** When the client entered this state. */
  since: Date;
  /** Why it is not READY (null when it is). */
  reason: string | null;
  /** The hub version it runs; null on defaults only. */
  version: number | null;
  source: ConfigSource;
}

/** A version the client refused to apply; it kept the config it had. */
export interface ConfigRejection {
  version: number;
  reason: string;
  issues: { path: string; message: string }[];
  at: Date;
}

/** What a zod schema offers (`z.object(...)` fits); any object with this `safeParse` does. */
export interface SettingsSchema<T> {
  safeParse(value: unknown):
    | { success: true; data: T }
    | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
}

/** How changes reach the client. */
export type LiveUpdates =
  | {
      via: 'graphql-ws';
      /** Pings the hub this often; a hub that does not answer within as long again is taken for gone. @default 15_000 */
      keepAliveMs?: number;
    }
  /** Needs the optional package @nats-io/transport-node next to this one. */
  | { via: 'nats'; servers: string | string[]; options?: NatsOptions }
  | { via: 'none' };

export interface ConfigClientOptions<T> {
  /** The service whose config this is. */
  service: string;
  /** @default 'production' */
  environment?: string;
  /** The hub (its base URL and the service's token). */
  hub: HubConnection;
  /** Safe defaults: a value for every key, used until (and under) whatever the hub says. */
  defaults: T;
  /** Every config is checked with this before it is applied (defaults overlaid); a failing one is refused. */
  schema?: SettingsSchema<T>;
  /** Where the last-known-good config is kept; false keeps none. @default '.confighub/client/<service>.<environment>.json' */
  snapshotFile?: string | false;
  /** How changes arrive. @default { via: 'graphql-ws' } */
  live?: LiveUpdates;
  /** The config is fetched again this long after the last fetch, in the background. @default 300_000 // 5 minutes */
  ttlMs?: number;
  /** Spacing of retries (fetches and reconnects). @default { initialMs: 250, maxMs: 30_000, factor: 2 } */
  backoff?: BackoffOptions;
  /** This instance's id in the hub's fleet report. @default `${hostname()}:${process.pid}` */
  instanceId?: string;
  /** Report the applied version (and refusals) to the hub. @default true */
  report?: boolean;
  /** Called when one of your callbacks throws. @default process.emitWarning */
  onListenerError?: (error: unknown) => void;
}

export type ChangeListener<T> = (next: T, previous: T, changedPaths: string[]) => void;

const DEFAULT_TTL_MS = 300_000;
const DEFAULT_KEEPALIVE_MS = 15_000;

/**
 * A service's runtime configuration, typed by its settings type. Starts at once from defaults and the
 * last snapshot on disk, then follows the hub: fetched over GraphQL (retried with backoff), refreshed
 * every `ttlMs`, changed live through NATS or graphql-ws. Reads are synchronous and never wait.
 */
export class ConfigClient<T extends object> {
  readonly service: string;
  readonly environment: string;
  readonly instanceId: string;

  private readonly options: ConfigClientOptions<T>;
  private readonly defaults: T;
  private readonly ttlMs: number;
  private readonly snapshots: SnapshotWriter | undefined;
  private current: T;
  private version: number | null = null;
  private source: ConfigSource = 'defaults';
  private rejection: ConfigRejection | null = null;
  private snapshotSavedAt: string | undefined;

  private fetchProblem: string | null = NOT_FETCHED_YET;
  private liveProblem: string | null;
  private statusValue: ClientStatus;

  private readonly stop = new AbortController();
  private started = false;
  private closing: Promise<void> | undefined;
  private live: LiveFeed | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private fetchAttempt = 0;
  private fetching: Promise<void> | undefined;
  private followUp: Promise<void> | undefined;
  private readonly reporter: FleetReporter;

  private readonly changeListeners = new Set<ChangeListener<T>>();
  private readonly statusListeners = new Set<(status: ClientStatus) => void>();
  private readonly rejectListeners = new Set<(rejection: ConfigRejection) => void>();

  constructor(options: ConfigClientOptions<T>) {
    this.options = options;
    this.service = options.service;
    this.environment = options.environment ?? 'production';
    this.instanceId = options.instanceId ?? `${hostname()}:${process.pid}`;
    this.ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
    this.reporter = new FleetReporter(options.hub, this.stop.signal);
    this.liveProblem = (options.live?.via ?? 'graphql-ws') === 'none' ? null : NOT_CONNECTED_YET;
    this.defaults = structuredClone(options.defaults) as T;
    const checkedDefaults = this.check({});
    // Defaults that fail the service's own schema are a bug in the service: say so at once.
    if (!checkedDefaults.ok) throw new TypeError(`ConfigClient(${this.service}): the defaults fail the schema: ${checkedDefaults.reason}`);
    this.current = checkedDefaults.value;

    const snapshotFile =
      options.snapshotFile === false
        ? undefined
        : path.resolve(options.snapshotFile ?? path.join('.confighub', 'client', `${this.service}.${this.environment}.json`));
    this.snapshots = snapshotFile ? new SnapshotWriter(snapshotFile) : undefined;
    if (snapshotFile) this.loadSnapshot(snapshotFile);
    this.statusValue = { ...this.computeStatus(), since: new Date(), version: this.version, source: this.source };
  }

  /** Starts fetching and following the hub; returns at once (reads already work). */
  start(): this {
    if (this.started || this.stop.signal.aborted) return this;
    this.started = true;
    void this.refresh();
    const live = this.options.live ?? { via: 'graphql-ws' };
    const backoff = this.options.backoff ?? {};
    const handlers = {
      change: (change: LiveChange) => this.onLiveChange(change),
      up: () => {
        this.liveProblem = null;
        this.updateStatus();
        // Whatever changed while it was down: read it again (graphql-ws also replays it).
        void this.refresh();
      },
      down: (reason: string) => {
        this.liveProblem = `live updates down: ${reason}`;
        this.updateStatus();
      },
    };
    if (live.via === 'nats') {
      const servers = (Array.isArray(live.servers) ? live.servers : live.servers.split(',')).map((server) => server.trim());
      this.live = followNats(
        { service: this.service, environment: this.environment, backoff, servers, name: `confighub-client:${this.service}@${this.instanceId}`, options: live.options },
        handlers,
      );
    } else if (live.via === 'graphql-ws') {
      this.live = followWebSocket(
        {
          service: this.service,
          environment: this.environment,
          backoff,
          connection: this.options.hub,
          afterVersion: () => this.version,
          instance: this.instanceId,
          keepAliveMs: live.keepAliveMs ?? DEFAULT_KEEPALIVE_MS,
        },
        handlers,
      );
    }
    return this;
  }

  /** The config in effect (frozen). */
  get(): T;
  /** The value at a dotted path of the config in effect, e.g. `get('operational.batch_size')`. */
  get<P extends ConfigPath<T>>(path: P): ConfigPathValue<T, P>;
  get(path?: string): unknown {
    return path === undefined ? this.current : valueAt(this.current, path);
  }

  /** READY, STALE or ERROR, since when and why. */
  get status(): ClientStatus {
    return this.statusValue;
  }

  /** The last version refused (cleared when a later one is applied). */
  get lastRejection(): ConfigRejection | null {
    return this.rejection;
  }

  /** Called after each change with the new and old config and the dotted paths that changed. */
  onChange(listener: ChangeListener<T>): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Called when the value at `path` changes (or anything under it). */
  watch<P extends ConfigPath<T>>(path: P, listener: (value: ConfigPathValue<T, P>, previous: ConfigPathValue<T, P>) => void): () => void {
    return this.onChange((next, previous, paths) => {
      if (paths.includes(path)) listener(valueAt(next, path) as ConfigPathValue<T, P>, valueAt(previous, path) as ConfigPathValue<T, P>);
    });
  }

  /** Called on every change of state or reason. */
  onStatus(listener: (status: ClientStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /** Called when a version is refused (it failed the schema check); the client keeps its config. */
  onReject(listener: (rejection: ConfigRejection) => void): () => void {
    this.rejectListeners.add(listener);
    return () => this.rejectListeners.delete(listener);
  }

  /** Resolves once the client is READY; rejects after `timeoutMs` (or on close()) with the status it is in. */
  ready(timeoutMs = 10_000): Promise<ClientStatus> {
    if (this.statusValue.state === 'READY') return Promise.resolve(this.statusValue);
    if (this.stop.signal.aborted) return Promise.reject(new Error('the client is closed'));
    return new Promise((resolve, reject) => {
      const settle = (error: Error | null) => {
        clearTimeout(timer);
        unsubscribe();
        this.stop.signal.removeEventListener('abort', onClose);
        if (error) reject(error);
        else resolve(this.statusValue);
      };
      const onClose = () => settle(new Error(`closed before READY: ${this.statusValue.state} (${this.statusValue.reason})`));
      const timer = setTimeout(() => settle(new Error(`not READY within ${timeoutMs} ms: ${this.statusValue.state} (${this.statusValue.reason})`)), timeoutMs);
      const unsubscribe = this.onStatus((status) => {
        if (status.state === 'READY') settle(null);
      });
      this.stop.signal.addEventListener('abort', onClose, { once: true });
    });
  }

  /**
   * Fetches the config now (also what TTL expiry, reconnects and version gaps do); resolves once a fetch
   * that started after this call has finished. Calls during a fetch share one follow-up. Never rejects.
   */
  refresh(): Promise<void> {
    if (this.stop.signal.aborted) return Promise.resolve();
    if (this.fetching) {
      this.followUp ??= this.fetching.then(() => {
        this.followUp = undefined;
        return this.refresh();
      });
      return this.followUp;
    }
    clearTimeout(this.refreshTimer);
    this.fetching = this.fetchOnce().finally(() => {
      this.fetching = undefined;
    });
    return this.fetching;
  }

  /** Stops following the hub and releases every connection and timer; the last config stays readable. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stop.abort();
      clearTimeout(this.refreshTimer);
      await this.live?.close();
      await Promise.allSettled([this.followUp, this.fetching, this.reporter.settled(), this.snapshots?.flush()]);
      this.changeListeners.clear();
      this.statusListeners.clear();
      this.rejectListeners.clear();
    })();
    return this.closing;
  }

  private loadSnapshot(file: string): void {
    const { snapshot, problem } = readSnapshot(file, this.service, this.environment);
    if (problem) this.fetchProblem = `${this.fetchProblem}; ${problem}`;
    if (!snapshot) return;
    const checked = this.check(snapshot.config);
    if (!checked.ok) {
      this.fetchProblem = `${this.fetchProblem}; snapshot version ${snapshot.version} fails the schema: ${checked.reason}`;
      return;
    }
    this.current = checked.value;
    this.version = snapshot.version;
    this.source = 'snapshot';
    this.snapshotSavedAt = snapshot.savedAt;
  }

  private async fetchOnce(): Promise<void> {
    try {
      const data = await hubRequest(this.options.hub, ClientConfig, { service: this.service, environment: this.environment, instance: this.instanceId }, this.stop.signal);
      if (this.stop.signal.aborted) return;
      const result = answered(data.config, 'config');
      if (result.__typename !== 'ServiceConfig') {
        throw new Error(result.__typename === 'NotFoundError' ? `the hub has no config: ${result.message}` : `${result.__typename}: ${result.message}`);
      }
      this.fetchAttempt = 0;
      this.fetchProblem = null;
      this.offer(result.version, result.config as JsonObject);
      this.schedule(this.ttlMs);
      this.updateStatus();
      // Also a heartbeat: the fleet report shows when each instance last confirmed its version.
      this.report(true);
    } catch (error) {
      if (this.stop.signal.aborted) return;
      this.fetchProblem = `fetch failed: ${error instanceof Error ? error.message : String(error)}`;
      this.schedule(backoffDelay(this.fetchAttempt++, this.options.backoff));
      this.updateStatus();
    }
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.refreshTimer);
    if (this.stop.signal.aborted) return;
    this.refreshTimer = setTimeout(() => void this.refresh(), delayMs);
    // A service's own work keeps its process alive; the client's timers do not.
    this.refreshTimer.unref();
  }

  private onLiveChange(change: LiveChange): void {
    if (change.environment !== this.environment || this.stop.signal.aborted) return;
    if (this.version !== null && change.version <= this.version) return;
    if (this.version !== null && change.version === this.version + 1 && change.config !== null) {
      this.offer(change.version, change.config);
      this.updateStatus();
      return;
    }
    // A gap (a change was missed), a deletion, or nothing to compare with: read what the hub has.
    void this.refresh();
  }

  /**
   * Applies a hub version if it is newer and passes the check; otherwise keeps the config and says why.
   * Over a snapshot, the hub's version wins even when lower (its database may have been restored).
   */
  private offer(version: number, config: JsonObject): void {
    if (this.source === 'hub' && this.version !== null && version <= this.version) return;
    if (this.rejection?.version === version) return;
    const checked = this.check(config);
    if (!checked.ok) {
      this.rejection = { version, reason: checked.reason, issues: checked.issues, at: new Date() };
      for (const listener of this.rejectListeners) this.call(() => listener(this.rejection!));
      this.report();
      return;
    }
    const previous = this.current;
    const paths = changedPaths(previous, checked.value);
    this.current = checked.value;
    this.version = version;
    this.source = 'hub';
    if (this.rejection && this.rejection.version < version) this.rejection = null;
    this.snapshots
      ?.write({ service: this.service, environment: this.environment, version, config, savedAt: new Date().toISOString() })
      .catch((error: unknown) => this.call(() => { throw new Error(`snapshot not written: ${(error as Error).message}`); }));
    // Listeners that read the status see the version they are called for.
    this.updateStatus();
    if (paths.length > 0) for (const listener of this.changeListeners) this.call(() => listener(checked.value, previous, paths));
    this.report();
  }

  private check(config: JsonObject): { ok: true; value: T } | { ok: false; reason: string; issues: { path: string; message: string }[] } {
    const candidate = overlay(this.defaults, config);
    const parsed = this.options.schema?.safeParse(candidate) ?? { success: true, data: candidate };
    if (parsed.success) return { ok: true, value: deepFreeze(structuredClone(parsed.data)) };
    const issues = parsed.error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
    return { ok: false, reason: issues.map((issue) => `${issue.path || '(root)'}: ${issue.message}`).join('; '), issues };
  }

  private computeStatus(): { state: ClientState; reason: string | null } {
    const problem = [this.fetchProblem, this.liveProblem].filter((reason) => reason !== null).join('; ') || null;
    if (this.source === 'hub' && problem === null) return { state: 'READY', reason: null };
    const from = this.source === 'snapshot' ? `snapshot version ${this.version} saved ${this.snapshotSavedAt}` : `version ${this.version}`;
    // Until the first fetch and the first live connection have each come through, unless one failed.
    const fetchPending = this.fetchProblem?.startsWith(NOT_FETCHED_YET) ?? false;
    const livePending = this.liveProblem === NOT_CONNECTED_YET;
    const failed = (this.fetchProblem !== null && !fetchPending) || (this.liveProblem !== null && !livePending);
    if ((fetchPending || livePending) && !failed) {
      return { state: 'STARTING', reason: `starting, serving ${this.source === 'defaults' ? 'defaults' : from}: ${problem}` };
    }
    if (this.source === 'defaults') return { state: 'ERROR', reason: `running on defaults only: ${problem ?? 'no config from the hub'}` };
    return { state: 'STALE', reason: `serving ${from}: ${problem}` };
  }

  private updateStatus(): void {
    const { state, reason } = this.computeStatus();
    const before = this.statusValue;
    if (before.state === state && before.reason === reason && before.version === this.version && before.source === this.source) return;
    this.statusValue = { state, reason, version: this.version, source: this.source, since: before.state === state ? before.since : new Date() };
    for (const listener of this.statusListeners) this.call(() => listener(this.statusValue));
    if (before.state !== state) this.report();
  }

  /** Tells the hub what this instance runs (or why it refused a version). */
  private report(heartbeat = false): void {
    // STARTING is not reported: the fleet hears of the state the start ends in.
    if (this.options.report === false || !this.started || this.computeStatus().state === 'STARTING') return;
    this.reporter.report(() => {
      const status = this.computeStatus();
      return {
        service: this.service,
        environment: this.environment,
        instance: this.instanceId,
        // Never STARTING: a start, once ended, does not come back (checked before this was queued).
        status: status.state as Exclude<ClientState, 'STARTING'>,
        appliedVersion: this.version,
        rejectedVersion: this.rejection?.version ?? null,
        error: reportableError(this.rejection ? `refused version ${this.rejection.version}: ${this.rejection.reason}` : status.reason),
      };
    }, heartbeat);
  }

  private call(work: () => void): void {
    try {
      work();
    } catch (error) {
      if (this.options.onListenerError) this.options.onListenerError(error);
      else process.emitWarning(error instanceof Error ? error : new Error(String(error)), { code: 'CONFIGHUB_CLIENT_LISTENER' });
    }
  }
}
