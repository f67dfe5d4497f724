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
