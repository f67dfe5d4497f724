import { jetstreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { Logger } from '../logger.ts';
import { ALL_CHANGES_SUBJECT } from '../protocol/changes.ts';
import type { NatsConnection } from './nats.ts';

/** The JetStream stream that keeps `config.update.>` for services that want durable replay. */
export const STREAM_NAME = 'CONFIG_UPDATES';

/**
 * Where the NATS server runs JetStream, makes sure the stream exists: it stores every change for a week
 * and drops a change published twice (the relay sets `Nats-Msg-Id` to the change's revision). Without
 * JetStream nothing is needed: core subscribers get every change live.
 */
export async function ensureChangeStream(connection: NatsConnection, logger: Logger): Promise<boolean> {
  let manager: Awaited<ReturnType<typeof jetstreamManager>>;
  try {
    manager = await jetstreamManager(connection, { timeout: 2000 });
  } catch {
    logger.info('NATS has no JetStream: changes are published to core subscribers only');
    return false;
  }
  try {
    await manager.streams.info(STREAM_NAME);
    return true;
  } catch {
    await manager.streams.add({
      name: STREAM_NAME,
      subjects: [ALL_CHANGES_SUBJECT],
      max_age: nanos(7 * 24 * 60 * 60 * 1000),
      duplicate_window: nanos(10 * 60 * 1000),
    });
    logger.info({ stream: STREAM_NAME }, 'JetStream stream created for config changes');
    return true;
  }
}
