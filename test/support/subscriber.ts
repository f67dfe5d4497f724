import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { adminAuth } from './app.ts';

export interface ReceivedEvent {
  service: string;
  environment: string;
  version: number;
  action: string;
  changedBy: string;
  config: Record<string, unknown> | null;
}

/** A graphql-ws client on a real WebSocket, collecting `configChanged` events. */
export class ConfigSubscriber {
  readonly events: ReceivedEvent[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly client: Client;
  private dispose: (() => void) | undefined;
  error: unknown;

  /** Subscribes as the test admin unless `connectionParams` say otherwise. */
  constructor(baseUrl: string, connectionParams: Record<string, unknown> = { ...adminAuth }) {
    this.client = createClient({
      url: `${baseUrl.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams,
      retryAttempts: 0,
      lazy: false,
      // A gateway that dies closes the socket; the test sees it through `error`, not as console noise.
      onNonLazyError: () => {},
    });
  }

  /** Subscribes; resolves once the server has taken the subscription (it answers a first ping of data or waits). */
  subscribe(variables: { service?: string; services?: string[]; environment?: string; afterVersion?: number }, many = false): this {
    const query = many
      ? `subscription($services: [String!], $environment: String) { configsChanged(services: $services, environment: $environment) { service environment version action changedBy config } }`
      : `subscription($service: String!, $environment: String, $afterVersion: Int) { configChanged(service: $service, environment: $environment, afterVersion: $afterVersion) { service environment version action changedBy config } }`;
    this.dispose = this.client.subscribe<Record<string, ReceivedEvent>>(
      { query, variables },
      {
        next: (result) => {
          if (result.errors) this.error = result.errors;
          const event = result.data && Object.values(result.data)[0];
          if (event) this.events.push(event);
          for (const waiter of this.waiters) waiter();
        },
        error: (error) => {
          this.error = error;
          for (const waiter of this.waiters) waiter();
        },
        complete: () => {},
      },
    );
    return this;
  }

  /** Waits until `done(events)` holds; fails after `timeoutMs` with what arrived. */
  async waitFor(done: (events: ReceivedEvent[]) => boolean, timeoutMs = 15_000): Promise<ReceivedEvent[]> {
    if (done(this.events)) return this.events;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms with ${this.events.length} events: ${JSON.stringify(this.events.map((e) => `${e.service}@${e.version}`))} ${this.error ? `error: ${JSON.stringify(this.error)}` : ''}`));
      }, timeoutMs);
      const check = () => {
        if (done(this.events) || this.error) {
          clearTimeout(timer);
          this.waiters.delete(check);
          if (this.error && !done(this.events)) reject(new Error(`subscription failed: ${JSON.stringify(this.error)}`));
          else resolve();
        }
      };
      this.waiters.add(check);
    });
    return this.events;
  }

  async close(): Promise<void> {
    this.dispose?.();
    await this.client.dispose();
  }
}

/** What a GraphQL subscription answered over SSE has brought so far, read as it comes. */
export interface ServerSentEvents<T> {
  /** Each event's `data[field]`, in order. */
  readonly received: T[];
  /** GraphQL errors in the events, and a failure of the stream itself (not the one `stop()` causes). */
  readonly errors: unknown[];
  /** Stops reading (cancels the stream) and resolves once the reading has ended. */
  stop(): Promise<void>;
}

/** Reads a subscription's `text/event-stream` answer (yoga's GraphQL over SSE): one `data:` JSON result per event. */
export function readServerSentEvents<T>(response: Response, field: string): ServerSentEvents<T> {
  const received: T[] = [];
  const errors: unknown[] = [];
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let stopped = false;
  const reading = (async () => {
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const data = buffer
          .slice(0, end)
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trim())
          .join('\n');
        buffer = buffer.slice(end + 2);
        if (!data) continue;
        const result = JSON.parse(data) as { data?: Record<string, T>; errors?: unknown[] };
        if (result.errors) errors.push(...result.errors);
        if (result.data) received.push(result.data[field]!);
      }
    }
  })().catch((error: unknown) => {
    if (!stopped) errors.push(error);
  });
  return {
    received,
    errors,
    async stop() {
      stopped = true;
      await reader.cancel().catch(() => {});
      await reading;
    },
  };
}
