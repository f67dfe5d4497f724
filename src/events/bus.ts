import { headers } from '@nats-io/transport-node';
import type { Logger } from '../logger.ts';
import { ALL_CHANGES_SUBJECT, type ConfigEvent, subjectFor } from '../protocol/changes.ts';
import { NatsLink } from './nats.ts';
import { ensureChangeStream } from './jetstream.ts';

/** Called with each event as it arrives, to be checked (NATS brings whatever was published). */
export type BusListener = (event: unknown) => void;

/**
 * Where committed changes travel between instances: in-process on the embedded default, NATS when
 * NATS_URL is set (every instance subscribes to `config.update.>`). The outbox relay publishes; every
 * instance's feed listens.
 */
export interface EventBus {
  readonly kind: 'in-process' | 'nats';
  /** Calls `listener` with every event published from now on, by any instance; returns what stops it. */
  listen(listener: BusListener): () => void;
  /** Publishes in order; resolves once the events are out of this process (NATS has them). */
  publish(events: ConfigEvent[]): Promise<void>;
  /** Publishes a message on a subject for services on NATS, once, not kept (nothing on the in-process bus). */
  announce(subject: string, message: unknown): void;
  /** Whether events can travel now; readiness reflects it. */
  isConnected(): boolean;
  /** Calls back whenever events travel again after a gap (NATS reconnected): what was published meanwhile is lost to this instance. */
  onResumed(callback: () => void): () => void;
  close(): Promise<void>;
}

export function createInProcessBus(): EventBus {
  const listeners = new Set<BusListener>();
  return {
    kind: 'in-process',
    listen(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async publish(events) {
      for (const event of events) for (const listener of listeners) listener(event);
    },
    announce() {},
    isConnected: () => true,
    onResumed: () => () => {},
    async close() {},
  };
}

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
