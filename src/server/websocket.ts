import type { Server } from 'node:http';
import { type DocumentNode, type ExecutionArgs, GraphQLError } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Principal } from '../access/principal.ts';
import type { TokenStore } from '../access/tokens.ts';
import type { Authenticate } from './authentication.ts';
import { SubscriptionBroadcaster } from './broadcast.ts';
import { describeFailure } from './failures.ts';
import type { GraphQLServer } from './graphql.ts';
import { GRAPHQL_PATH } from './graphql.ts';

/** graphql-ws pings idle sockets this often. @default 12_000 */
const KEEPALIVE_MS = 12_000;

/**
 * graphql-ws on the GraphQL path, every operation through yoga's envelop (`getEnveloped`), so
 * WebSocket operations get the same plugins (masking, later auth) as HTTP ones. Subscriptions go
 * through the broadcaster: identical ones are executed and serialised once per event.
 */
export function attachGraphQLWebSocket(server: Server, yoga: GraphQLServer, authenticate: Authenticate, tokens: TokenStore) {
  const wsServer = new WebSocketServer({ server, path: GRAPHQL_PATH });
  const broadcaster = new SubscriptionBroadcaster();
  const viewers = new WeakMap<WebSocket, Principal | null>();
  const disposable = useServer(
    {
      // The token comes once, in connectionParams: { authorization: 'Bearer <token>' }. A socket without
      // one is anonymous (its operations are refused field by field); a bad token closes it (4401).
      onConnect: async (ctx) => {
        const params = ctx.connectionParams ?? {};
        const authorization = params.authorization ?? params.Authorization;
        try {
          const viewer = await authenticate(typeof authorization === 'string' ? authorization : null, ctx.extra.request);
          viewers.set(ctx.extra.socket, viewer);
          const socket = ctx.extra.socket;
          if (viewer && socket.readyState === socket.OPEN) {
            // The socket lives as long as its token: closed (4401) when the token expires or is revoked.
            const unwatch = tokens.watch(viewer, (reason) => socket.close(4401, reason.slice(0, 120)));
            socket.once('close', unwatch);
          }
          return true;
        } catch (error) {
          const failure = describeFailure(error);
          if (!failure) throw error;
          ctx.extra.socket.close(failure.status === 429 ? 4429 : 4401, failure.message.slice(0, 120));
          return false;
        }
      },
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
      subscribe: (args) => {
        const root = args.rootValue as EnvelopedRoot;
        return broadcaster.subscribe({
          args,
          subscribe: root.subscribe,
          socket: root.socket,
          id: root.id,
          viewerKey: (args.contextValue as { viewer: Principal | null }).viewer?.id ?? 'anonymous',
        }) as never;
      },
      onSubscribe: async (ctx, id, params) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          viewer: viewers.get(ctx.extra.socket) ?? null,
        });
        // A document that does not parse, or that a limit refuses (graphql-armor throws from parse and
        // validate), is answered as an error of this operation; the socket and its other operations live on.
        let document: DocumentNode;
        try {
          document = parse(params.query);
          const errors = validate(schema, document);
          if (errors.length > 0) return errors;
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        const args: ExecutionArgs = {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe, socket: ctx.extra.socket, id } satisfies EnvelopedRoot,
        };
        return args;
      },
    },
    wsServer,
    KEEPALIVE_MS,
  );
  return {
    /** Open sockets right now. */
    socketCount: () => wsServer.clients.size,
    /** Distinct subscriptions being executed. */
    groupCount: () => broadcaster.groupCount,
    /** Subscriptions of sockets served by them. */
    memberCount: () => broadcaster.memberCount,
    /** Closes every socket (1001, going away) and the WebSocket server. */
    async close(): Promise<void> {
      for (const socket of wsServer.clients) socket.close(1001, 'server shutting down');
      await disposable.dispose();
      await new Promise<void>((resolve) => wsServer.close(() => resolve()));
    },
  };
}

interface EnvelopedRoot {
  execute: (args: ExecutionArgs) => unknown;
  subscribe: (args: ExecutionArgs) => unknown;
  socket: WebSocket;
  id: string;
}
