import { CustomEvent } from '@whatwg-node/events';
import type { Logger } from '../logger.ts';
import { ALL_CHANGES_SUBJECT, type ConfigEvent, subjectFor } from '../protocol/changes.ts';
import { NatsLink } from './nats.ts';
import { createNatsEventTarget } from './natsEventTarget.ts';
import { ensureChangeStream } from './stream.ts';

/** The topic of every committed change of every config, in order per config. */
const TOPIC = 'config.update';

/** Called with each event as it arrives, to be checked (NATS brings whatever was published). */
export type HubListener = (event: unknown) => void;

/**
 * Where committed changes travel: in-process on the embedded default, NATS when NATS_URL is set
 * (every instance subscribes to `config.update.>`). The outbox relay publishes; every instance's feed
 * listens.
 */
export interface ConfigHub {
  readonly kind: 'in-process' | 'nats';
  /** Calls `listener` with every event published from now on, by any instance; returns what stops it. */
  listen(listener: HubListener): () => void;
  /** Publishes in order; resolves once the events are out of this process (NATS has them). */
  publish(events: ConfigEvent[]): Promise<void>;
  /** Whether events can travel now; readiness reflects it. */
  isConnected(): boolean;
  /** Calls back whenever events travel again after a gap (NATS reconnected): what was published meanwhile is lost to this instance. */
  onResumed(callback: () => void): () => void;
  close(): Promise<void>;
}

export function createInProcessHub(): ConfigHub {
  const listeners = new Set<HubListener>();
  return {
    kind: 'in-process',
    listen(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async publish(events) {
      for (const event of events) for (const listener of listeners) listener(event);
    },
    isConnected: () => true,
    onResumed: () => () => {},
    async close() {},
  };
}

export function createNatsHub(servers: string, logger: Logger): ConfigHub {
  const link = new NatsLink(servers, logger);
  link.whenConnected((connection) => {
    ensureChangeStream(connection, logger).catch((error: unknown) =>
      logger.warn({ err: error }, 'could not set up the JetStream stream; core subscribers are unaffected'),
    );
  });
  const target = createNatsEventTarget({
    link,
    logger,
    subscriptionSubject: (topic) => (topic === TOPIC ? ALL_CHANGES_SUBJECT : topic),
    publishSubject: (event) => subjectFor((event.detail as ConfigEvent).service),
    // JetStream, where a stream captures config.update.>, drops a re-published revision.
    messageId: (event) => `confighub-revision-${(event.detail as ConfigEvent).revision}`,
  });
  return {
    kind: 'nats',
    listen(listener) {
      const handler = (event: Event) => listener((event as CustomEvent).detail);
      target.addEventListener(TOPIC, handler);
      return () => target.removeEventListener(TOPIC, handler);
    },
    async publish(events) {
      if (!link.isConnected()) throw new Error('NATS is not connected');
      for (const event of events) target.dispatchEvent(new CustomEvent(TOPIC, { detail: event }));
      await link.flush();
    },
    isConnected: () => link.isConnected(),
    onResumed: (callback) => link.whenResumed(callback),
    close: () => link.close(),
  };
}
