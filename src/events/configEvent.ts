import type { ConfigChange } from '../generated/prisma/client.ts';
import type { ConfigEvent, PatchOperation } from '../protocol/changes.ts';
import type { JsonObject } from '../protocol/json.ts';
import { changePatch } from '../store/history.ts';

/**
 * The event of a change (its wire form: protocol/changes.ts). Its patch is worked out when first read (by
 * a subscriber that selects it, or when the event is written out for NATS), not for every change the
 * relay publishes: with nobody listening on this instance, only the read cache takes the event, and it
 * needs the version alone. A patch already worked out (a replayed change's, feed.ts) is given.
 */
export function configEventFrom(change: ConfigChange, knownPatch?: PatchOperation[]): ConfigEvent {
  let patch = knownPatch;
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
