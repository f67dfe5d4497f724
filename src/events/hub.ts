import { type PubSub, createPubSub } from '@graphql-yoga/subscription';
import type { Logger } from '../logger.ts';
import { type ConfigEvent, SUBJECT_PREFIX, subjectFor } from './configEvent.ts';
import { NatsLink } from './nats.ts';
import { createNatsEventTarget } from './natsEventTarget.ts';
import { ensureChangeStream } from './stream.ts';

/** The topics that travel between gateway instances. */
export type HubTopics = {
  /** Every committed change of every config, in order per config. */
  'config.update': [event: ConfigEvent];
};

/**
 * Where committed changes travel: in-process on the embedded default, NATS when NATS_URL is set
 * (every instance subscribes to `config.update.>`). The outbox relay publishes; every instance's feed
 * listens.
 */
export interface ConfigHub {
  readonly kind: 'in-process' | 'nats';
  readonly pubsub: PubSub<HubTopics>;
  /** Publishes in order; resolves once the events are out of this process (NATS has them). */
  publish(events: ConfigEvent[]): Promise<void>;
  /** Whether events can travel now; readiness reflects it. */
  isConnected(): boolean;
  /** Calls back whenever events travel again after a gap (NATS reconnected): what was published meanwhile is lost to this instance. */
  onResumed(callback: () => void): () => void;
  close(): Promise<void>;
}

export function createInProcessHub(): ConfigHub {
  const pubsub = createPubSub<HubTopics>();
  return {
    kind: 'in-process',
    pubsub,
    async publish(events) {
      for (const event of events) pubsub.publish('config.update', event);
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
  const pubsub = createPubSub<HubTopics>({
    eventTarget: createNatsEventTarget({
      link,
      logger,
      subscriptionSubject: (topic) => (topic === 'config.update' ? `${SUBJECT_PREFIX}.>` : topic),
      publishSubject: (event) => subjectFor((event.detail as ConfigEvent).service),
      // JetStream, where a stream captures config.update.>, drops a re-published revision.
      messageId: (event) => `confighub-revision-${(event.detail as ConfigEvent).revision}`,
    }),
  });
  return {
    kind: 'nats',
    pubsub,
    async publish(events) {
      if (!link.isConnected()) throw new Error('NATS is not connected');
      for (const event of events) pubsub.publish('config.update', event);
      await link.flush();
    },
    isConnected: () => link.isConnected(),
    onResumed: (callback) => link.whenResumed(callback),
    close: () => link.close(),
  };
}
