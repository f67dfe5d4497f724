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
}

export const SUBJECT_PREFIX = 'config.update';

/** The NATS subject of a service's changes. */
export const subjectFor = (service: string) => `${SUBJECT_PREFIX}.${service}`;

/** The NATS subject that takes every service's changes. */
export const ALL_CHANGES_SUBJECT = `${SUBJECT_PREFIX}.>`;

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
