import { jetstreamManager } from '@nats-io/jetstream';
import { headers, nanos } from '@nats-io/transport-node';
import type { Logger } from '../logger.ts';
import { ALL_CHANGES_SUBJECT, subjectFor } from '../protocol/changes.ts';
import type { BusListener, EventBus } from './bus.ts';
import { NatsLink, type NatsConnection } from './nats.ts';

/**
 * The bus on NATS: each event is published on its service's subject, with its revision as JetStream's
 * de-duplication id; one subscription to every service's subject, made whenever the connection is up
 * (nats.js renews it across reconnects), hands each message to the listeners. Publishing while NATS is
 * away throws, so the outbox keeps what was not sent.
 */
export function createNatsBus(servers: string, logger: Logger): EventBus {
  const link = new NatsLink(servers, logger);
  const listeners = new Set<BusListener>();
  link.whenConnected((connection) => {
    ensureChangeStream(connection, logger).catch((error: unknown) =>
      logger.warn({ err: error }, 'could not set up the JetStream stream; core subscribers are unaffected'),
    );
    connection.subscribe(ALL_CHANGES_SUBJECT, {
      callback: (error, message) => {
        if (error) return logger.warn({ err: error }, 'NATS subscription error');
        let event: unknown;
        try {
          event = message.json();
        } catch (parseError) {
          return logger.warn({ err: parseError, subject: message.subject }, 'unreadable NATS message dropped');
        }
        for (const listener of listeners) listener(event);
      },
    });
  });
  return {
    kind: 'nats',
    listen(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async publish(events) {
      const connection = link.current();
      if (!connection) throw new Error('NATS is not connected');
      for (const event of events) {
        const messageHeaders = headers();
        // JetStream, where a stream captures config.update.>, drops a re-published revision.
        messageHeaders.set('Nats-Msg-Id', `confighub-revision-${event.revision}`);
        connection.publish(subjectFor(event.service), JSON.stringify(event), { headers: messageHeaders });
      }
      await link.flush();
    },
    announce(subject, message) {
      link.current()?.publish(subject, JSON.stringify(message));
    },
    isConnected: () => link.isConnected(),
    onResumed: (callback) => link.whenResumed(callback),
    close: () => link.close(),
  };
}

/** The JetStream stream that keeps `config.update.>` for services that want durable replay. */
const STREAM_NAME = 'CONFIG_UPDATES';

/**
 * Where the NATS server runs JetStream, makes sure the stream exists: it stores every change for a week
 * and drops a change published twice (the relay sets `Nats-Msg-Id` to the change's revision). Without
 * JetStream nothing is needed: core subscribers get every change live.
 */
async function ensureChangeStream(connection: NatsConnection, logger: Logger): Promise<void> {
  let manager: Awaited<ReturnType<typeof jetstreamManager>>;
  try {
    manager = await jetstreamManager(connection, { timeout: 2000 });
  } catch {
    logger.info('NATS has no JetStream: changes are published to core subscribers only');
    return;
  }
  try {
    await manager.streams.info(STREAM_NAME);
  } catch {
    await manager.streams.add({
      name: STREAM_NAME,
      subjects: [ALL_CHANGES_SUBJECT],
      max_age: nanos(7 * 24 * 60 * 60 * 1000),
      duplicate_window: nanos(10 * 60 * 1000),
    });
    logger.info({ stream: STREAM_NAME }, 'JetStream stream created for config changes');
  }
}
