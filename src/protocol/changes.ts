// The wire contract of a committed change: what the hub publishes on NATS and sends to subscribers, on
// which subject, and the PostgreSQL channels its instances listen on. Imports nothing but JSON's types:
// the server, the client library and the CLI all read it.
import type { JsonObject, JsonValue } from './json.ts';

/** One RFC 6902 operation. */
export interface PatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test' | '_get';
  path: string;
  from?: string;
  value?: JsonValue;
}

/**
 * One committed change, as published on NATS subject `config.update.<service>` (JSON) and delivered to
 * GraphQL subscribers. `config` is the full new document (null for a deletion); `patch` the RFC 6902
 * operations from the previous version.
 */
export interface ConfigEvent {
  service: string;
  environment: string;
  version: number;
  revision: number;
  action: 'CREATE' | 'UPDATE' | 'DELETE' | 'RESTORE' | 'ROLLBACK';
  config: JsonObject | null;
  patch: PatchOperation[];
  changedBy: string;
  changedAt: string;
  reason: string | null;
  /**
   * On NATS, set on the event of a rollout's candidate: the instances it is for now (see RolloutNotice).
   * A service that honours rollouts runs it only when its bucket is below `percent` × 100.
   */
  rollout?: RolloutMark;
}

/** Which rollout a candidate belongs to, and the share of instances it is served to. */
export interface RolloutMark {
  id: string;
  stableVersion: number;
  percent: number;
}

/**
 * Published on `config.rollout.<service>` when a rollout begins, moves a step or ends. An instance is in
 * the share `percent` when its bucket, the first four bytes of SHA-256(`<service>\0<environment>\0<instance id>`)
 * read as a big-endian unsigned integer modulo 10,000, is below `percent` × 100. `state` `rolled_back` or
 * `aborted`: the candidate is withdrawn (the version that writes the stable content back follows on
 * `config.update`); `completed` or `superseded`: it is for everyone.
 */
export interface RolloutNotice extends RolloutMark {
  service: string;
  environment: string;
  state: 'active' | 'rolling_back' | 'completed' | 'rolled_back' | 'aborted' | 'superseded';
  candidateVersion: number;
}

/** The NATS subject of a service's rollout notices. */
export const rolloutSubjectFor = (service: string) => `config.rollout.${service}`;

/** The NATS subject of a service's changes. */
export const subjectFor = (service: string) => `config.update.${service}`;

/** The NATS subject that takes every service's changes. */
export const ALL_CHANGES_SUBJECT = 'config.update.>';

/** Reads an event off the wire; anything that is not one is refused. */
export function parseConfigEvent(value: unknown): ConfigEvent | null {
  if (typeof value !== 'object' || value === null) return null;
  const event = value as Partial<ConfigEvent>;
  if (typeof event.service !== 'string' || typeof event.environment !== 'string') return null;
  if (!Number.isInteger(event.version) || !Number.isInteger(event.revision)) return null;
  if (event.config !== null && (typeof event.config !== 'object' || Array.isArray(event.config))) return null;
  return event as ConfigEvent;
}

/** PostgreSQL NOTIFY channels: a committed change, a new schema version, a changed token. */
export const CHANGE_CHANNEL = 'config_changes';
export const SCHEMA_CHANNEL = 'config_schemas';
export const TOKEN_CHANNEL = 'api_tokens';
