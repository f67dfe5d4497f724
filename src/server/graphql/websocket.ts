import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type DocumentNode, type ExecutionArgs, GraphQLError } from 'graphql';
import { CloseCode, handleProtocols, makeServer } from 'graphql-ws';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Principal } from '../../access/principal.ts';
import type { TokenStore } from '../../access/tokens.ts';
import type { Logger } from '../../logger.ts';
import { type JsonTextProblem, jsonTextProblem, jsonTextProblemInTurns } from '../../store/documents.ts';
import type { Authenticate, ClientAddress } from '../authentication.ts';
import { HEAVY_BYTES, LONG_TEXT_CHARS, MAX_BODY_BYTES } from '../body.ts';
import { type HeavyWork, nextTurn } from '../../turns.ts';
import { describeFailure } from '../failures.ts';
import { SubscriptionBroadcaster } from './broadcast.ts';
import { GRAPHQL_PATH, type GraphQLServer } from './yoga.ts';

/** graphql-ws pings idle sockets this often; one that does not answer within as long is dropped. */
const KEEPALIVE_MS = 12_000;
/** An anonymous socket (no token: it may introspect and nothing else) that sends nothing for this long is closed. */
export const ANONYMOUS_IDLE_MS = 30_000;
/** Operations one socket may have under way at once. */
export const MAX_OPERATIONS_PER_SOCKET = 100;
/** Messages a socket may send per second, on average, and at once; past that it is closed (1008). */
export const MESSAGES_PER_SECOND = 100;
const MESSAGE_BURST = 200;

export interface WebSocketOptions {
  yoga: GraphQLServer;
  authenticate: Authenticate;
  tokens: TokenStore;
  logger: Logger;
  clientAddress: ClientAddress;
  /** Open sockets allowed per client address; more are refused at the upgrade (429). */
  maxSocketsPerAddress: number;
  /** Serve subscriptions through the broadcaster (broadcast.ts); false: each one as stock graphql-ws runs it. */
  broadcast: boolean;
  /** @default ANONYMOUS_IDLE_MS */
  anonymousIdleMs?: number;
  /** Where large messages take turns with large HTTP requests and replayed changes (turns.ts). */
  heavy: HeavyWork;
}

/** What one socket carries besides graphql-ws's own state. */
interface SocketState {
  viewer: Principal | null;
  idleTimer?: NodeJS.Timeout;
  /** Messages it may still send now (a token bucket: MESSAGES_PER_SECOND, up to MESSAGE_BURST). */
  allowance: number;
  allowanceAt: number;
  /** Messages waiting behind a large one, which waits for its turn: later messages keep their order. */
  waiting: number;
  inOrder: Promise<void>;
}

/**
 * graphql-ws on the GraphQL path: the protocol is graphql-ws's own server (`makeServer`), every operation
 * runs through yoga's envelop (`getEnveloped`, yoga's documented recipe), and this module is the thin
 * adapter to `ws` with the limits a public endpoint needs: messages up to 1 MiB (as HTTP bodies; over it
 * `ws` closes with 1009), a number of sockets per client address, a number of operations per socket,
 * anonymous sockets closed when idle, numbers that JSON cannot keep refused, and faults logged as JSON.
 */
export function attachGraphQLWebSocket(server: Server, options: WebSocketOptions) {
  const { yoga, logger } = options;
  // allowSynchronousEvents false: ws hands over one message of a socket per turn of the event loop, so a
  // burst of small messages in one packet cannot hold the loop (each socket's messages stay in order).
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_BODY_BYTES, handleProtocols, allowSynchronousEvents: false });
  const broadcaster = options.broadcast ? new SubscriptionBroadcaster() : undefined;
  const states = new WeakMap<WebSocket, SocketState>();
  const openPerAddress = new Map<string, number>();

  const protocol = makeServer<Record<string, unknown> | undefined, { socket: WebSocket; request: IncomingMessage }>({
    // The token comes once, in connectionParams: { authorization: 'Bearer <token>' }. A socket without
    // one is anonymous (its operations are refused field by field); a bad token closes it (4401).
    onConnect: async (ctx) => {
      const { socket, request } = ctx.extra;
      const params = ctx.connectionParams ?? {};
      const authorization = params.authorization ?? params.Authorization;
      try {
        const viewer = await options.authenticate(typeof authorization === 'string' ? authorization : null, request);
        const state = states.get(socket);
        if (state) state.viewer = viewer;
        if (viewer && socket.readyState === socket.OPEN) {
          // The socket lives as long as its token: closed (4401) when the token expires or is revoked.
          const unwatch = options.tokens.watch(viewer, (reason) => socket.close(4401, reason.slice(0, 120)));
          socket.once('close', unwatch);
        }
        if (!viewer && state) keepAnonymousIdleTimer(socket, state);
        return true;
      } catch (error) {
        const failure = describeFailure(error);
        if (!failure) throw error;
        socket.close(failure.status === 429 ? 4429 : 4401, failure.message.slice(0, 120));
        return false;
      }
    },
    execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
    subscribe: (args) => {
      const root = args.rootValue as EnvelopedRoot;
      if (!broadcaster) return root.subscribe(args) as never;
      return broadcaster.subscribe({
        args,
        subscribe: root.subscribe,
        socket: root.socket,
        id: root.id,
        viewerKey: (args.contextValue as { viewer: Principal | null }).viewer?.id ?? 'anonymous',
      }) as never;
    },
    onSubscribe: async (ctx, id, params) => {
      const { socket, request } = ctx.extra;
      if (Object.keys(ctx.subscriptions).length > MAX_OPERATIONS_PER_SOCKET) {
        return [
          new GraphQLError(`at most ${MAX_OPERATIONS_PER_SOCKET} operations may be under way on one socket`, {
            extensions: { code: 'TOO_MANY_OPERATIONS' },
          }),
        ];
      }
      const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
        ...ctx,
        req: request,
        socket,
        params,
        viewer: states.get(socket)?.viewer ?? null,
      });
      // A document that does not parse, or that a limit refuses (graphql-armor throws from parse and
      // validate), is answered as an error of this operation; the socket and its other operations live on.
      let document: DocumentNode;
      try {
        document = parse(params.query);
        const errors = validate(schema, document);
        if (errors.length > 0) return errors.map((error: GraphQLError) => forSocket(error, 'GRAPHQL_VALIDATION_FAILED'));
      } catch (error) {
        if (error instanceof GraphQLError) return [forSocket(error, 'GRAPHQL_PARSE_FAILED')];
        throw error;
      }
      const args: ExecutionArgs = {
        schema,
        operationName: params.operationName,
        document,
        variableValues: params.variables,
        contextValue: await contextFactory(),
        rootValue: { execute, subscribe, socket, id } satisfies EnvelopedRoot,
      };
      return args;
    },
  });

  function keepAnonymousIdleTimer(socket: WebSocket, state: SocketState): void {
    clearTimeout(state.idleTimer);
    state.idleTimer = setTimeout(() => socket.close(1000, 'idle anonymous connection'), options.anonymousIdleMs ?? ANONYMOUS_IDLE_MS);
    state.idleTimer.unref();
  }

  function serve(socket: WebSocket, request: IncomingMessage): void {
    const state: SocketState = { viewer: null, allowance: MESSAGE_BURST, allowanceAt: performance.now(), waiting: 0, inOrder: Promise.resolve() };
    states.set(socket, state);
    // `ws` closes the socket itself on a protocol fault (a message over the limit: 1009); this is its report.
    socket.on('error', (error) => logger.debug({ err: error }, 'WebSocket closed on a protocol fault'));
    let pongWait: NodeJS.Timeout | undefined;
    const ping = setInterval(() => {
      if (socket.readyState !== socket.OPEN) return;
      pongWait = setTimeout(() => socket.terminate(), KEEPALIVE_MS);
      socket.once('pong', () => clearTimeout(pongWait));
      socket.ping();
    }, KEEPALIVE_MS);
    const closed = protocol.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise((resolve, reject) => {
            if (socket.readyState !== socket.OPEN) return resolve();
            socket.send(data, (error) => (error ? reject(error) : resolve()));
          }),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) =>
          socket.on('message', (data) => {
            if (socket.readyState !== socket.OPEN) return;
            if (!takeAllowance(state)) {
              socket.close(1008, `too many messages: at most ${MESSAGES_PER_SECOND} a second`);
              return;
            }
            if (state.idleTimer) keepAnonymousIdleTimer(socket, state);
            const work = async (text: string, problem = jsonTextProblem(text)) => {
              if (refused(socket, text, problem)) return;
              await (handle(text) as Promise<void>).catch((error: unknown) => {
                logger.error({ err: error }, 'graphql-ws message handling failed');
                socket.close(CloseCode.InternalServerError, 'Internal server error');
              });
            };
            // A long message is worked on in a turn of its own (a large one waits for its turn among the
            // large requests, even to be decoded, and keeps it until graphql-ws has handled it, so that its
            // operation does not run beside the next one's decoding: HeavyWork, turns.ts), and the socket's
            // messages after it wait until it is handed to graphql-ws, which sees them in the order they came.
            const bytes = data as Buffer;
            const large = bytes.length >= HEAVY_BYTES;
            const long = bytes.length >= LONG_TEXT_CHARS;
            if (!long && state.waiting === 0) return void work(String(bytes));
            state.waiting++;
            state.inOrder = state.inOrder
              .then(() =>
                large
                  ? new Promise<void>((handedOver) => {
                      void options.heavy.run(async () => {
                        let handled: Promise<void> | undefined;
                        try {
                          const text = String(bytes);
                          const problem = await jsonTextProblemInTurns(text);
                          // Parsed (by graphql-ws) in a turn of its own, not after the check's last part.
                          await nextTurn();
                          handled = work(text, problem);
                        } finally {
                          handedOver();
                        }
                        await handled;
                      });
                    })
                  : long
                    ? nextTurn().then(() => void work(String(bytes)))
                    : void work(String(bytes)),
              )
              .finally(() => state.waiting--);
          }),
      },
      { socket, request },
    );
    socket.once('close', (code, reason) => {
      clearInterval(ping);
      clearTimeout(pongWait);
      clearTimeout(state.idleTimer);
      void closed(code, String(reason));
    });
  }

  /**
   * A message whose JSON is refused (too deep, too many members, a number JSON cannot keep exactly; see
   * documents.ts): a subscribe is answered with an error for its id (as a validation error would be),
   * anything else closes the socket as an invalid message (4400).
   */
  function refused(socket: WebSocket, text: string, refusal: JsonTextProblem | null): boolean {
    if (refusal === null) return false;
    // Only a text within the nesting and size limits is worth parsing for its id.
    const message = refusal.kind === 'number' ? safeParse(text) : null;
    if (message?.type === 'subscribe' && typeof message.id === 'string') {
      const error = new GraphQLError(refusal.message, { extensions: { code: 'BAD_USER_INPUT' } });
      socket.send(JSON.stringify({ id: message.id, type: 'error', payload: [error.toJSON()] }));
    } else {
      socket.close(CloseCode.BadRequest, refusal.message.slice(0, 120));
    }
    return true;
  }

  server.on('upgrade', (request: IncomingMessage, stream: Duplex, head: Buffer) => {
    if ((request.url ?? '').split('?', 1)[0] !== GRAPHQL_PATH) return refuseUpgrade(stream, 404, 'Not Found');
    const address = options.clientAddress(request);
    if ((openPerAddress.get(address) ?? 0) >= options.maxSocketsPerAddress) {
      return refuseUpgrade(stream, 429, 'Too Many Requests', `at most ${options.maxSocketsPerAddress} WebSockets per client address`);
    }
    wss.handleUpgrade(request, stream, head, (socket) => {
      openPerAddress.set(address, (openPerAddress.get(address) ?? 0) + 1);
      socket.once('close', () => {
        const left = (openPerAddress.get(address) ?? 1) - 1;
        if (left > 0) openPerAddress.set(address, left);
        else openPerAddress.delete(address);
      });
      serve(socket, request);
    });
  });

  return {
    /** Open sockets right now. */
    socketCount: () => wss.clients.size,
    /** Distinct subscriptions being executed by the broadcaster. */
    groupCount: () => broadcaster?.groupCount ?? 0,
    /** Subscriptions of sockets served by them. */
    memberCount: () => broadcaster?.memberCount ?? 0,
    /** Closes every socket (1001, going away) and the WebSocket server. */
    async close(): Promise<void> {
      for (const socket of wss.clients) socket.close(1001, 'server shutting down');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** Whether the socket may send one more message now (and counts it). */
function takeAllowance(state: SocketState): boolean {
  const now = performance.now();
  state.allowance = Math.min(MESSAGE_BURST, state.allowance + ((now - state.allowanceAt) / 1000) * MESSAGES_PER_SECOND);
  state.allowanceAt = now;
  if (state.allowance < 1) return false;
  state.allowance--;
  return true;
}

interface EnvelopedRoot {
  execute: (args: ExecutionArgs) => unknown;
  subscribe: (args: ExecutionArgs) => unknown;
  socket: WebSocket;
  id: string;
}

/**
 * A refusal of a document as a socket gets it: with a code, without the HTTP status yoga adds for its
 * own answers (validation results are cached and shared with HTTP, so this is a copy).
 */
function forSocket(error: GraphQLError, code: string): GraphQLError {
  const { http: _http, ...extensions } = error.extensions as Record<string, unknown>;
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: { code, ...extensions },
  });
}

function safeParse(text: string): { type?: unknown; id?: unknown } | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? value : null;
  } catch {
    return null;
  }
}

function refuseUpgrade(stream: Duplex, status: number, statusText: string, body = statusText): void {
  stream.end(`HTTP/1.1 ${status} ${statusText}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
