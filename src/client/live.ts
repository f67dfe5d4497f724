import type { NatsConnection } from '@nats-io/transport-node';
import type { Client as GraphQLWsClient } from 'graphql-ws';
import type WebSocket from 'ws';
import { type BackoffOptions, backoffDelay, pause } from './backoff.ts';
import { type ConfigEvent, type RolloutNotice, rolloutSubjectFor, subjectFor } from '../protocol/changes.ts';
import { ClientConfigChanged } from './operations.ts';
import { DEFAULT_TIMEOUT_MS, type HubConnection, graphqlEndpoint } from './transport.ts';

// The two ways a change reaches a ConfigClient: the hub's NATS subject or a graphql-ws subscription.
// Each keeps itself connected (with the client's backoff) and says when it is up and when it is down.
// Their libraries load only when chosen.

/** A change as the client needs it: the whole new document, null after a deletion or when it is only a cue to read. */
export type LiveChange = Pick<ConfigEvent, 'environment' | 'version' | 'config'>;

export interface LiveHandlers {
  change(change: LiveChange): void;
  /** Connected and following: whatever happened while down was missed (NATS) or replayed (graphql-ws). */
  up(): void;
  down(reason: string): void;
}

export interface LiveFeed {
  /** Disconnects and stops reconnecting; resolves once every socket and timer is released. */
  close(): Promise<void>;
}

interface FeedTarget {
  service: string;
  environment: string;
  backoff: BackoffOptions;
}

/** A graphql-ws session that lasted this long was healthy: the next reconnect starts the backoff over. */
const STEADY_SESSION_MS = 10_000;

const describe = (error: unknown): string => {
  if (Array.isArray(error)) return error.map((item) => (item as { message?: string }).message ?? String(item)).join('; ');
  if (error instanceof Error) return error.message;
  const close = error as { code?: number; reason?: string } | undefined;
  if (close && typeof close.code === 'number') return `socket closed (${close.code}${close.reason ? ` ${close.reason}` : ''})`;
  return String(error);
};

/**
 * Options passed to nats.js's `connect()` (`user`, `pass`, `token`, `tls`, `authenticator`, ...). Typed
 * loosely on purpose: NATS is an optional dependency, and a service's types must not need its package.
 */
export type NatsOptions = Record<string, unknown>;

/** Follows `config.update.<service>` and the service's rollouts on NATS, reconnecting forever. */
export function followNats(
  target: FeedTarget & { servers: string[]; name: string; options?: NatsOptions },
  handlers: LiveHandlers,
): LiveFeed {
  const stop = new AbortController();
  let connection: NatsConnection | undefined;

  const run = async () => {
    let connect: typeof import('@nats-io/transport-node').connect;
    try {
      ({ connect } = await import('@nats-io/transport-node'));
    } catch {
      handlers.down('NATS: the package @nats-io/transport-node is not installed (npm install @nats-io/transport-node)');
      return;
    }
    for (let attempt = 0; !stop.signal.aborted; ) {
      try {
        connection = await connect({
          reconnectTimeWait: 1_000,
          timeout: 5_000,
          ...target.options,
          servers: target.servers,
          name: target.name,
          // Once connected, nats.js reconnects by itself; the first connect is retried below with backoff.
          maxReconnectAttempts: -1,
          waitOnFirstConnect: false,
        });
      } catch (error) {
        handlers.down(`NATS: ${describe(error)}`);
        await pause(backoffDelay(attempt++, target.backoff), stop.signal);
        continue;
      }
      const nc = connection;
      if (stop.signal.aborted) {
        // close() ran while this connection was being made: it is ours to close.
        await nc.close().catch(() => {});
        break;
      }
      attempt = 0;
      // Every instance hears every change here, a rollout's candidate included, and a rollout moving a step
      // (or ending) writes no version: either is only a cue to ask the hub what this instance is served.
      const cue = (subject: string, versionOf: (data: Partial<ConfigEvent & RolloutNotice>) => unknown) =>
        nc.subscribe(subject, {
          callback: (error, message) => {
            let data: Partial<ConfigEvent & RolloutNotice> | null = null;
            try {
              data = error ? null : message.json();
            } catch {
              // Not JSON: nothing to do.
            }
            const version = data && versionOf(data);
            if (data?.service !== target.service || data.environment !== target.environment || !Number.isInteger(version)) return;
            handlers.change({ environment: target.environment, version: version as number, config: null });
          },
        });
      cue(subjectFor(target.service), (event) => event.version);
      cue(rolloutSubjectFor(target.service), (notice) => notice.candidateVersion);
      const flushedUp = () =>
        nc.flush().then(
          () => {
            if (!stop.signal.aborted) handlers.up();
          },
          () => {},
        );
      await flushedUp();
      void (async () => {
        for await (const status of nc.status()) {
          if (status.type === 'disconnect') handlers.down('NATS disconnected');
          else if (status.type === 'reconnect') void flushedUp();
        }
      })();
      await nc.closed();
      connection = undefined;
      if (!stop.signal.aborted) handlers.down('NATS connection closed');
    }
  };
  const running = run();

  return {
    async close() {
      stop.abort();
      const nc = connection;
      if (nc && !nc.isClosed()) await nc.close().catch(() => {});
      await running.catch(() => {});
    },
  };
}

/**
 * Follows `configChanged` over graphql-ws, resuming after the version the client runs (the hub replays
 * what it missed). A closed socket ends the attempt; the next one starts after a backoff.
 */
export function followWebSocket(
  target: FeedTarget & { connection: HubConnection; afterVersion: () => number | null; instance: string; keepAliveMs: number },
  handlers: LiveHandlers,
): LiveFeed {
  const stop = new AbortController();
  let endAttempt: (() => void) | undefined;

  const attemptOnce = async (createClient: typeof import('graphql-ws').createClient, WebSocketImpl: unknown) => {
    let connectedAt: number | undefined;
    let received = false;
    let socket: WebSocket | undefined;
    let client: GraphQLWsClient | undefined;
    let pongTimer: NodeJS.Timeout | undefined;
    const reason = await new Promise<string>((resolve) => {
      const url = graphqlEndpoint(target.connection.url).replace(/^http/, 'ws');
      const token = target.connection.token;
      client = createClient({
        url,
        webSocketImpl: WebSocketImpl,
        connectionParams: token ? { authorization: `Bearer ${token}` } : {},
        lazy: true,
        retryAttempts: 0,
        keepAlive: target.keepAliveMs,
        connectionAckWaitTimeout: target.connection.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        on: {
          // A hub that vanished without closing the socket (host gone, network cut) answers no ping:
          // cut the socket, which ends this attempt, instead of waiting for TCP to notice.
          ping: (received) => {
            if (received) return;
            clearTimeout(pongTimer);
            pongTimer = setTimeout(() => socket?.terminate(), target.keepAliveMs);
          },
          pong: (received) => {
            if (received) clearTimeout(pongTimer);
          },
          opened: (opened) => {
            socket = opened as WebSocket;
          },
          connected: () => {
            connectedAt = Date.now();
            handlers.up();
          },
        },
      });
      const afterVersion = target.afterVersion();
      const unsubscribe = client.subscribe<{ configChanged: LiveChange }>(
        {
          query: String(ClientConfigChanged),
          variables: { service: target.service, environment: target.environment, instance: target.instance, ...(afterVersion === null ? {} : { afterVersion }) },
        },
        {
          next: (result) => {
            if (result.errors?.length) return finish(`subscription: ${describe(result.errors)}`);
            if (result.data?.configChanged) {
              received = true;
              handlers.change(result.data.configChanged);
            }
          },
          error: (error) => finish(`graphql-ws: ${describe(error)}`),
          complete: () => finish('graphql-ws: the hub ended the subscription'),
        },
      );
      let finished = false;
      function finish(why: string) {
        if (finished) return;
        finished = true;
        endAttempt = undefined;
        clearTimeout(pongTimer);
        unsubscribe();
        resolve(why);
      }
      endAttempt = () => finish('closed');
    });
    try {
      await client?.dispose();
    } catch {
      // It never connected: nothing to close.
    }
    clearTimeout(pongTimer);
    if (socket) await closeSocket(socket);
    // A subscription the hub refuses right after connecting (no such config, a token without the right)
    // must not retry at the fastest pace forever: only a session that worked resets the backoff.
    const worked = connectedAt !== undefined && (received || Date.now() - connectedAt >= STEADY_SESSION_MS);
    return { worked, reason };
  };

  const run = async () => {
    const [{ createClient }, { default: WebSocketBase }] = await Promise.all([import('graphql-ws'), import('ws')]);
    const handshakeTimeout = target.connection.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    // graphql-ws constructs sockets with (url, protocol) only: a hub that accepts the TCP connection and
    // never answers the upgrade would hold the attempt forever without a handshake timeout.
    class WebSocketImpl extends WebSocketBase {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols, { handshakeTimeout });
      }
    }
    for (let attempt = 0; !stop.signal.aborted; ) {
      const outcome = await attemptOnce(createClient, WebSocketImpl);
      if (stop.signal.aborted) break;
      if (outcome.worked) attempt = 0;
      handlers.down(outcome.reason);
      await pause(backoffDelay(attempt++, target.backoff), stop.signal);
    }
  };
  const running = run();

  return {
    async close() {
      stop.abort();
      endAttempt?.();
      await running.catch(() => {});
    },
  };
}

/** Closes a WebSocket and waits until it is gone; one that does not finish its close handshake in 1 s is cut. */
async function closeSocket(socket: WebSocket): Promise<void> {
  if (socket.readyState === socket.CLOSED) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => socket.terminate(), 1_000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    if (socket.readyState === socket.CONNECTING) socket.terminate();
    else if (socket.readyState === socket.OPEN) socket.close(1000, 'Normal Closure');
  });
}
