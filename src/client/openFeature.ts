import {
  ErrorCode,
  type EvaluationContext,
  type JsonValue as FlagJson,
  OpenFeatureEventEmitter,
  type Provider,
  ProviderEvents,
  type ResolutionDetails,
  StandardResolutionReasons,
} from '@openfeature/server-sdk';
import type { ClientStatus, ConfigClient } from './configClient.ts';
import { valueAt } from './documents.ts';

// The entry `@confighub/client/openfeature`: an OpenFeature provider whose flags are a section of a
// service's config (`features` by default), evaluated from the client's cache (never a network call) and
// following its changes. It needs @openfeature/server-sdk beside the client.

export interface ConfighubProviderOptions {
  /** The dotted path of the flags in the config. @default 'features' */
  section?: string;
}

type FlagType = 'boolean' | 'string' | 'number' | 'object';

/**
 * Flags from a ConfigClient the service runs (and starts and closes itself). A flag key is a dotted path
 * under the section (`fast_path`, or `checkout.new_flow`). The value is the config's, reason STATIC while
 * the client is READY and STALE otherwise (a snapshot or defaults); a missing flag is FLAG_NOT_FOUND and a
 * value of another type TYPE_MISMATCH, both answered with the caller's default. Changes under the section
 * emit PROVIDER_CONFIGURATION_CHANGED with the flags that changed; the client going STALE or ERROR emits
 * PROVIDER_STALE, and READY again PROVIDER_READY.
 */
export class ConfighubProvider implements Provider {
  readonly metadata = { name: 'confighub' } as const;
  readonly runsOn = 'server' as const;
  readonly events = new OpenFeatureEventEmitter();
  private readonly section: string;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly client: ConfigClient<object>,
    options: ConfighubProviderOptions = {},
  ) {
    this.section = options.section ?? 'features';
  }

  /** Follows the client; resolves at once (flags evaluate from whatever the client runs, READY or not). */
  async initialize(_context?: EvaluationContext): Promise<void> {
    const prefix = `${this.section}.`;
    this.unsubscribe.push(
      this.client.onChange((_next, _previous, changedPaths) => {
        const flagsChanged = changedPaths.filter((path) => path.startsWith(prefix)).map((path) => path.slice(prefix.length));
        if (flagsChanged.length > 0 || changedPaths.includes(this.section)) {
          this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged, metadata: { version: this.client.status.version ?? -1 } });
        }
      }),
      this.client.onStatus((status: ClientStatus) => {
        if (status.state === 'READY') this.events.emit(ProviderEvents.Ready);
        else this.events.emit(ProviderEvents.Stale, { message: status.reason ?? status.state });
      }),
    );
  }

  async onClose(): Promise<void> {
    for (const stop of this.unsubscribe.splice(0)) stop();
  }

  private resolve<T>(flagKey: string, defaultValue: T, type: FlagType): ResolutionDetails<T> {
    const status = this.client.status;
    const value = valueAt(this.client.get(), `${this.section}.${flagKey}`);
    const flagMetadata: Record<string, number> = status.version === null ? {} : { version: status.version };
    if (value === undefined) {
      return { value: defaultValue, reason: StandardResolutionReasons.ERROR, errorCode: ErrorCode.FLAG_NOT_FOUND, errorMessage: `no setting ${this.section}.${flagKey}`, flagMetadata };
    }
    const actual = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
    if (actual !== type && !(type === 'object' && actual === 'array')) {
      return { value: defaultValue, reason: StandardResolutionReasons.ERROR, errorCode: ErrorCode.TYPE_MISMATCH, errorMessage: `${this.section}.${flagKey} is a ${actual}, not a ${type}`, flagMetadata };
    }
    return { value: value as T, reason: status.state === 'READY' ? StandardResolutionReasons.STATIC : StandardResolutionReasons.STALE, flagMetadata };
  }

  async resolveBooleanEvaluation(flagKey: string, defaultValue: boolean): Promise<ResolutionDetails<boolean>> {
    return this.resolve(flagKey, defaultValue, 'boolean');
  }

  async resolveStringEvaluation(flagKey: string, defaultValue: string): Promise<ResolutionDetails<string>> {
    return this.resolve(flagKey, defaultValue, 'string');
  }

  async resolveNumberEvaluation(flagKey: string, defaultValue: number): Promise<ResolutionDetails<number>> {
    return this.resolve(flagKey, defaultValue, 'number');
  }

  async resolveObjectEvaluation<T extends FlagJson>(flagKey: string, defaultValue: T): Promise<ResolutionDetails<T>> {
    return this.resolve(flagKey, defaultValue, 'object');
  }
}
