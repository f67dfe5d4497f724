import { headers } from '@nats-io/transport-node';
import type { Logger } from '../logger.ts';
import { ALL_CHANGES_SUBJECT, subjectFor } from '../protocol/changes.ts';
import type { BusListener, EventBus } from './bus.ts';
import { NatsLink } from './nats.ts';
import { ensureChangeStream } from './jetstream.ts';

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
