import type { Subscription } from '@nats-io/transport-node';
import { headers } from '@nats-io/transport-node';
import type { TypedEventTarget } from '@graphql-yoga/typed-event-target';
import { CustomEvent } from '@whatwg-node/events';
import type { Logger } from '../logger.ts';
import type { NatsLink } from './nats.ts';

export interface NatsEventTargetOptions {
  link: NatsLink;
  logger: Logger;
  /** Which NATS subject a subscription to `topic` listens on. */
  subscriptionSubject: (topic: string) => string;
  /** Which NATS subject an event is published on. */
  publishSubject: (event: CustomEvent) => string;
  /** A de-duplication id for JetStream (`Nats-Msg-Id`), if the event has one. */
  messageId?: (event: CustomEvent) => string | undefined;
  /** @default JSON */
  serializer?: { stringify(value: unknown): string; parse(text: string): unknown };
}

interface TopicSubscription {
  listeners: Set<EventListenerOrEventListenerObject>;
  subscription: Subscription | undefined;
  cancelPending: () => void;
}

/**
 * An event target for yoga's pub/sub that travels over NATS, like yoga's Redis event target:
 * one reference-counted NATS subscription per topic, an injectable serializer, an explicit mapping
 * from topics to subjects. Publishing while NATS is away throws, so the outbox keeps what was not sent.
 */
export function createNatsEventTarget(options: NatsEventTargetOptions): TypedEventTarget<CustomEvent> {
  const { link, logger } = options;
  const serializer = options.serializer ?? JSON;
  const topics = new Map<string, TopicSubscription>();

  function deliver(topic: string, text: string) {
    const entry = topics.get(topic);
    if (!entry) return;
    let detail: unknown;
    try {
      detail = serializer.parse(text);
    } catch (error) {
      logger.warn({ err: error, topic }, 'unreadable NATS message dropped');
      return;
    }
    const event = new CustomEvent(topic, { detail });
    for (const listener of entry.listeners) {
      if (typeof listener === 'function') listener(event);
      else listener.handleEvent(event);
    }
  }

  return {
    addEventListener(topic: string, listener: EventListenerOrEventListenerObject | null) {
      if (!listener) return;
      let entry = topics.get(topic);
      if (!entry) {
        const created: TopicSubscription = { listeners: new Set(), subscription: undefined, cancelPending: () => {} };
        created.cancelPending = link.whenConnected((connection) => {
          created.subscription = connection.subscribe(options.subscriptionSubject(topic), {
            callback: (error, message) => {
              if (error) logger.warn({ err: error, topic }, 'NATS subscription error');
              else deliver(topic, message.string());
            },
          });
        });
        topics.set(topic, created);
        entry = created;
      }
      entry.listeners.add(listener);
    },
    removeEventListener(topic: string, listener: EventListenerOrEventListenerObject | null) {
      const entry = topics.get(topic);
      if (!entry || !listener) return;
      entry.listeners.delete(listener);
      if (entry.listeners.size === 0) {
        entry.cancelPending();
        entry.subscription?.unsubscribe();
        topics.delete(topic);
      }
    },
    dispatchEvent(event: CustomEvent) {
      const connection = link.current();
      if (!connection) throw new Error('NATS is not connected');
      const id = options.messageId?.(event);
      const messageHeaders = id === undefined ? undefined : headers();
      if (id !== undefined) messageHeaders!.set('Nats-Msg-Id', id);
      connection.publish(options.publishSubject(event), serializer.stringify(event.detail), { headers: messageHeaders });
      return true;
    },
  };
}
