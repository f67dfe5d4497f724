import type { ConfigEvent } from '../protocol/changes.ts';

/** Called with each event as it arrives, to be checked (NATS brings whatever was published). */
export type BusListener = (event: unknown) => void;

/**
 * Where committed changes travel between instances: in-process on the embedded default, NATS when
 * NATS_URL is set (natsBus.ts, loaded only then; every instance subscribes to `config.update.>`). The
 * outbox relay publishes; every instance's feed listens.
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
