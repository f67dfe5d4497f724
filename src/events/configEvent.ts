import type { ConfigChange } from '../generated/prisma/client.ts';
import type { ConfigEvent, PatchOperation } from '../protocol/changes.ts';
import type { JsonObject } from '../protocol/json.ts';
import { changePatch } from '../store/history.ts';
import { type PatchText, readPatch } from '../store/patchText.ts';

const WRITTEN_OUT = Symbol('patchText');

/**
 * The event of a change (its wire form: protocol/changes.ts). Its patch is worked out when first read, not
 * for every change the relay publishes; one already worked out (a replayed change's, feed.ts) is given, and
 * a large one is kept written out: `eventPatch` hands it to whoever reads a page of it.
 */
export function configEventFrom(change: ConfigChange, known?: PatchOperation[] | PatchText): ConfigEvent {
  const writtenOut = known && !Array.isArray(known) ? known : undefined;
  let patch = Array.isArray(known) ? known : undefined;
  const event: ConfigEvent = {
    service: change.serviceName,
    environment: change.environment,
    version: change.version,
    revision: Number(change.revision),
    action: change.action,
    config: change.newConfig as JsonObject | null,
    get patch() {
      patch ??= writtenOut ? readPatch(writtenOut) : changePatch(change);
      return patch;
    },
    changedBy: change.changedBy,
    changedAt: change.changedAt.toISOString(),
    reason: change.reason,
  };
  if (writtenOut) Object.defineProperty(event, WRITTEN_OUT, { value: writtenOut });
  return event;
}

/** An event's patch as it is held: written out when it came so (read a page at a time), else the operations. */
export function eventPatch(event: ConfigEvent): PatchOperation[] | PatchText {
  return (event as ConfigEvent & { [WRITTEN_OUT]?: PatchText })[WRITTEN_OUT] ?? event.patch;
}
