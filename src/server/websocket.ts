import type { Server } from 'node:http';
import type { ExecutionArgs } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { GraphQLServer } from './graphql.ts';
import { GRAPHQL_PATH } from './graphql.ts';

/** graphql-ws pings idle sockets this often. @default 12_000 */
const KEEPALIVE_MS = 12_000;

/**
 * graphql-ws on the GraphQL path, every operation through yoga's envelop (`getEnveloped`), so
 * WebSocket operations get the same plugins (masking, later auth) as HTTP ones.
 */
export function attachGraphQLWebSocket(server: Server, yoga: GraphQLServer) {
  const wsServer = new WebSocketServer({ server, path: GRAPHQL_PATH });
  const disposable = useServer(
    {
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args) as never,
      onSubscribe: async (ctx, _id, params) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
        });
        const document = parse(params.query);
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        const args: ExecutionArgs = {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe } satisfies EnvelopedRoot,
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
}
