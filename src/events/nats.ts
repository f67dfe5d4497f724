import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import type { Logger } from '../logger.ts';

export type { NatsConnection };

/**
 * The gateway's one NATS connection: named, reconnecting forever, its status logged and readable.
 * It connects in the background, so the gateway serves reads (and commits writes, which wait in the
 * outbox) while NATS is away.
 */
export class NatsLink {
  private connection: NatsConnection | undefined;
  private connected = false;
  private closing = false;
  private readonly connecting: Promise<NatsConnection>;
  private readonly onConnected = new Set<(connection: NatsConnection) => void>();
  private readonly onResumed = new Set<() => void>();

  constructor(
    readonly servers: string,
    private readonly logger: Logger,
  ) {
    this.connecting = connect({
      servers: servers.split(',').map((server) => server.trim()),
      name: `confighub@${hostname()}:${process.pid}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      waitOnFirstConnect: true,
      pingInterval: 10_000,
    });
    this.connecting.then(
      (connection) => {
        this.connection = connection;
        this.connected = true;
        this.logger.info({ nats: connection.getServer() }, 'NATS connected');
        void this.watch(connection);
        for (const callback of this.onConnected) callback(connection);
        void this.resumed(connection);
      },
      (error: unknown) => this.logger.error({ err: error }, 'NATS connection failed'),
    );
  }

  /** True while the connection is up; readiness reflects it. */
  isConnected(): boolean {
    return this.connected && !this.closing;
  }

  /** Calls back with the connection as soon as there is one (at once if there is). */
  whenConnected(callback: (connection: NatsConnection) => void): () => void {
    if (this.connection) callback(this.connection);
    else this.onConnected.add(callback);
    return () => this.onConnected.delete(callback);
  }

  /**
   * Calls back each time the connection is (back) up with this process's subscriptions in place at the
   * server: whatever was published before did not reach them (core NATS does not keep messages).
   */
  whenResumed(callback: () => void): () => void {
    this.onResumed.add(callback);
    return () => this.onResumed.delete(callback);
  }

  private async resumed(connection: NatsConnection): Promise<void> {
    // A round trip after the SUBs went out: the server has them before anyone reads what was missed.
    const flushed = await connection.flush().then(() => true, () => false);
    // Lost again meanwhile: the next reconnect calls back.
    if (flushed && !this.closing) for (const callback of this.onResumed) callback();
  }

  /** The connection if it is up, for publishing. */
  current(): NatsConnection | undefined {
    return this.isConnected() ? this.connection : undefined;
  }

  /** Resolves once the server has seen everything published so far; rejects after `timeoutMs`. */
  async flush(timeoutMs = 2000): Promise<void> {
    const connection = this.current();
    if (!connection) throw new Error('NATS is not connected');
    const flushed = new AbortController();
    const timedOut = sleep(timeoutMs, undefined, { signal: flushed.signal }).then(() => {
      throw new Error(`NATS flush timed out after ${timeoutMs} ms`);
    });
    await Promise.race([connection.flush(), timedOut]).finally(() => flushed.abort());
  }

  private async watch(connection: NatsConnection): Promise<void> {
    for await (const status of connection.status()) {
      switch (status.type) {
        case 'disconnect':
          this.connected = false;
          this.logger.warn({ nats: status.server }, 'NATS disconnected; reconnecting');
          break;
        case 'reconnect':
          this.connected = true;
          this.logger.info({ nats: status.server }, 'NATS reconnected');
          void this.resumed(connection);
          break;
        case 'error':
          this.logger.warn({ err: status.error }, 'NATS error');
          break;
        case 'close':
          this.connected = false;
          break;
        default:
          this.logger.debug({ nats: status }, 'NATS status');
      }
    }
  }

  /** Drains subscriptions and pending publishes, then closes. */
  async close(): Promise<void> {
    this.closing = true;
    this.onConnected.clear();
    this.onResumed.clear();
    const connection = this.connection;
    if (!connection) {
      // Still trying to connect: close whatever connect() yields.
      this.connecting.then((late) => late.close()).catch(() => {});
      return;
    }
    if (!connection.isClosed()) await connection.drain().catch(() => connection.close());
  }
}
