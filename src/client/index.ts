// The package entry of `@confighub/client` (packages/client): what a service embeds. Nothing here loads server code.
export { ConfigClient } from './configClient.ts';
export type {
  ChangeListener,
  ClientState,
  ClientStatus,
  ConfigClientOptions,
  ConfigRejection,
  ConfigSource,
  LiveUpdates,
  SettingsSchema,
} from './configClient.ts';
export { HubRequestError, answered, hubRequest } from './transport.ts';
export type { HubConnection, HubErrorCode, HubGraphQLError, TypedDocument } from './transport.ts';
export { backoffCeiling, backoffDelay } from './backoff.ts';
export type { BackoffOptions } from './backoff.ts';
export type { ConfigPath, ConfigPathValue } from './documents.ts';
export type { NatsOptions } from './live.ts';
export { escapeKey, isJsonObject, pointerSegments } from '../protocol/json.ts';
export type { JsonObject, JsonValue } from '../protocol/json.ts';
export { durationMs } from '../protocol/durations.ts';
