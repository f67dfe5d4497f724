import type { ConfigChange } from '../generated/prisma/client.ts';
import type { JsonObject, PatchOperation } from '../store/documents.ts';
import { changePatch } from '../store/history.ts';

/**
 * One committed change, as published on NATS subject `config.update.<service>` (JSON) and delivered
 * to GraphQL subscribers. `config` is the full new document (null for a deletion); `patch` the RFC 6902
 * operations from the previous version.
 */
export interface ConfigEvent {
  service: string;
  environment: string;
  version: number;
  revision: number;
  action: ConfigChange['action'];
  config: JsonObject | null;
  patch: PatchOperation[];
  changedBy: string;
  changedAt: string;
  reason: string | null;
}

export const SUBJECT_PREFIX = 'config.update';

/** The NATS subject of a service's changes. */
export const subjectFor = (service: string) => `${SUBJECT_PREFIX}.${service}`;

/**
 * The event of a change. Its patch is worked out when first read (by a subscriber that selects it, or
 * when the event is written out for NATS), not for every change the relay publishes: with nobody
 * listening on this instance, only the read cache takes the event, and it needs the version alone.
 */
export function configEventFrom(change: ConfigChange): ConfigEvent {
  let patch: PatchOperation[] | undefined;
  return {
    service: change.serviceName,
    environment: change.environment,
    version: change.version,
    revision: Number(change.revision),
    action: change.action,
    config: change.newConfig as JsonObject | null,
    get patch() {
      patch ??= changePatch(change);
      return patch;
    },
    changedBy: change.changedBy,
    changedAt: change.changedAt.toISOString(),
    reason: change.reason,
  };
}

/** Reads an event off the wire; anything that is not one is refused. */
export function parseConfigEvent(value: unknown): ConfigEvent | null {
  if (typeof value !== 'object' || value === null) return null;
  const event = value as Partial<ConfigEvent>;
  if (typeof event.service !== 'string' || typeof event.environment !== 'string') return null;
  if (!Number.isInteger(event.version) || !Number.isInteger(event.revision)) return null;
  return event as ConfigEvent;
}
