// The baseline of bench/fanout.ts: stock graphql-yoga (createYoga + createSchema, default options) with
// graphql-ws on /graphql as yoga's documentation wires it (operations through `yoga.getEnveloped`), a
// `configChanged` subscription fed by yoga's createPubSub, and `POST /publish` (body: one event as
// JSON, the gateway's own event) to publish. No database, no feed: the floor the gateway builds on.
import { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import type { ExecutionArgs } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { createPubSub, createSchema, createYoga } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import { announceReady, closeServer, failStartup, listenOnLoopback, stopWhenAsked } from './child.ts';
import { answerControlRequests } from './fanout-control.ts';

/** The gateway's ConfigChangeEvent (schema.graphql), with pass-through scalars. */
const typeDefs = /* GraphQL */ `
  scalar JSON
  scalar JSONObject
  scalar DateTime

  type JsonPatchOperation {
    from: String
    op: String!
    path: String!
    value: JSON
  }

  type ConfigChangeEvent {
    action: String!
    changedAt: DateTime!
    changedBy: String!
    config: JSONObject
    environment: String!
    patch: [JsonPatchOperation!]!
    reason: String
    revision: Int!
    service: String!
    version: Int!
  }

  type Query {
    ok: Boolean!
  }

  type Subscription {
    configChanged(service: String!, environment: String = "production"): ConfigChangeEvent!
  }
`;

interface Event {
  service: string;
}

const MAX_BODY_BYTES = 1 << 20;

// createPubSub's EventTarget warns past 10 listeners per topic (one per subscription); silence only that.
EventEmitter.defaultMaxListeners = 0;

try {
  const pubSub = createPubSub<{ configChanged: [service: string, event: Event] }>();
  const yoga = createYoga({
    schema: createSchema({
      typeDefs,
      resolvers: {
        Query: { ok: () => true },
        Subscription: {
          configChanged: {
            subscribe: (_root: unknown, args: { service: string }) => pubSub.subscribe('configChanged', args.service),
            resolve: (event: Event) => event,
          },
        },
      },
    }),
  });

  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/publish') {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      });
      req.on('end', () => {
        try {
          if (size > MAX_BODY_BYTES) throw new Error('body too large');
          const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Event;
          pubSub.publish('configChanged', event.service, event);
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"published":true}');
        } catch (error) {
          res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(error) }));
        }
      });
      return;
    }
    void yoga(req, res);
  });

  // graphql-ws as in yoga's "Subscriptions > GraphQL over WebSocket" recipe.
  const wsServer = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
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
  );

  answerControlRequests();
  stopWhenAsked(async () => {
    for (const socket of wsServer.clients) socket.terminate();
    await disposable.dispose();
    await new Promise<void>((resolve) => wsServer.close(() => resolve()));
    await closeServer(server);
  });
  announceReady(await listenOnLoopback(server));
} catch (error) {
  failStartup(error);
}

interface EnvelopedRoot {
  execute: (args: ExecutionArgs) => unknown;
  subscribe: (args: ExecutionArgs) => unknown;
}
