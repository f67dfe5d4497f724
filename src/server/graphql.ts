import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import type { IncomingMessage } from 'node:http';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { type ExecutionResult, GraphQLError } from 'graphql';
import { type Plugin, type YogaServerInstance, createYoga, maskError as maskUnexpected } from 'graphql-yoga';
import type { Principal } from '../access/principal.ts';
import type { TokenStore } from '../access/tokens.ts';
import type { Logger } from '../logger.ts';
import type { Context } from '../schema/context.ts';
import { schema } from '../schema/index.ts';
import type { ConfigFeed } from '../events/feed.ts';
import type { ConfigStore } from '../store/configStore.ts';
import type { Authenticate } from './authentication.ts';
import { type ExecutionCounts, isVariableError, useCompiledExecution } from './compiledExecution.ts';
import { describeFailure } from './failures.ts';
import { graphiqlExamples } from './graphiql.ts';

export const GRAPHQL_PATH = '/graphql';

/** What the HTTP server (node request) or the WebSocket server (an authenticated viewer) hands to yoga. */
export interface ServerContext {
  req?: IncomingMessage;
  /** Set for WebSocket operations (the socket authenticated once, when it connected) and for requests whose token was checked already. */
  viewer?: Principal | null;
  /** Why the request's token was refused, when that was found out already (graphqlPost.ts): answered as is. */
  refusal?: unknown;
}

export type GraphQLServer = YogaServerInstance<ServerContext, Context>;

export interface GraphQLServerOptions {
  store: ConfigStore;
  tokens: TokenStore;
  feed: ConfigFeed;
  logger: Logger;
  authenticate: Authenticate;
  /** Called for each GraphQL result that carries errors (metrics). */
  onErrors?: () => void;
  /** Include internal error details in responses; never in production. @default false */
  developmentErrors?: boolean;
  /** Run queries and mutations compiled (compiledExecution.ts); false: by graphql-js's executor alone. @default true */
  compile?: boolean;
  /** Counts the operations run compiled and by the standard executor (tests). */
  executionCounts?: ExecutionCounts;
}

const CALLER_REFUSALS = new Set([401, 403, 429]);

/** Known failures keep their message and get a code; everything else is masked. */
function maskError(error: unknown, message: string, isDev?: boolean): Error {
  const original = error instanceof GraphQLError ? (error.originalError ?? error) : error;
  const failure = describeFailure(original);
  if (failure) {
    return new GraphQLError(failure.message, {
      nodes: error instanceof GraphQLError ? error.nodes : undefined,
      source: error instanceof GraphQLError ? error.source : undefined,
      positions: error instanceof GraphQLError ? error.positions : undefined,
      path: error instanceof GraphQLError ? error.path : undefined,
      // Refusals of the caller keep their HTTP status; other known failures are answers (200).
      extensions: { code: failure.code, http: { status: CALLER_REFUSALS.has(failure.status) ? failure.status : 200, headers: failure.headers }, ...failure.details },
    });
  }
  return maskUnexpected(error, message, isDev);
}

/** Gives an error graphql-js or graphql-armor raised without a code one, so clients can tell kinds apart. */
function withCode(error: GraphQLError, code: string): void {
  if (error.extensions.code === undefined) (error.extensions as Record<string, unknown>).code = code;
}

/** graphql-armor's refusals (too deep, too many aliases or tokens, too costly): simplify the document. */
const tooComplex = (_context: unknown, error: GraphQLError) => withCode(error, 'QUERY_TOO_COMPLEX');

export function createGraphQLServer(options: GraphQLServerOptions): GraphQLServer {
  const { logger } = options;
  // An execution hook of envelop's, so WebSocket operations (enveloped in websocket.ts) pass it too.
  const onExecuteDone = ({ result }: { result: ExecutionResult | AsyncIterable<unknown> }) => {
    if (Symbol.asyncIterator in result || !result.errors?.length) return;
    options.onErrors?.();
    // graphql-js reports variables it cannot coerce without a code.
    for (const error of result.errors) if (isVariableError(error)) withCode(error, 'BAD_USER_INPUT');
  };
  const executionErrors: Plugin = { onExecute: () => ({ onExecuteDone }) };
  return createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: GRAPHQL_PATH,
    landingPage: false,
    // The HTTP layer refuses bodies over 1 MiB before yoga sees them (app.ts): yoga's own limit would wrap
    // every request body in another stream, at a cost on every request.
    maxRequestBodySize: false,
    maskedErrors: { maskError, isDev: options.developmentErrors ?? false },
    graphiql: {
      title: 'confighub',
      defaultQuery: graphiqlExamples,
      // The page loads without a token; its operations need one, pasted into the header editor.
      headers: JSON.stringify({ Authorization: 'Bearer <token: see .confighub/admin-token or ask an admin>' }, null, 2),
    },
    // GraphiQL served whole from this package, not from a CDN: it works offline and behind firewalls.
    renderGraphiQL,
    logging: {
      debug: (...args) => logger.debug({ yoga: args.slice(1) }, String(args[0])),
      info: (...args) => logger.info({ yoga: args.slice(1) }, String(args[0])),
      warn: (...args) => logger.warn({ yoga: args.slice(1) }, String(args[0])),
      // A refusal (a bad token, say) is an answer, not a fault of the gateway: logged at debug, without a stack.
      error: (...args) => {
        const error = args[0] instanceof GraphQLError ? (args[0].originalError ?? args[0]) : args[0];
        const failure = describeFailure(error);
        if (failure) logger.debug({ code: failure.code }, failure.message);
        else logger.error({ err: error instanceof Error ? error : undefined, yoga: args }, 'GraphQL error');
      },
    },
    plugins: [
      // A browser's cross-site "simple" request (form post, plain GET) carries neither a JSON content type
      // nor an Authorization header: refused before it is parsed.
      useCSRFPrevention({ requestHeaders: ['authorization', 'x-graphql-yoga-csrf'] }),
      // Hostile documents are refused before they run (HTTP and WebSocket alike; results of validation
      // are cached per document, so honest repeated operations pay nothing).
      maxTokensPlugin({ n: 5_000, onReject: [tooComplex] }),
      maxDepthPlugin({ n: 12, ignoreIntrospection: true, flattenFragments: true, onReject: [tooComplex] }),
      maxAliasesPlugin({ n: 20, onReject: [tooComplex] }),
      costLimitPlugin({ maxCost: 5_000, ignoreIntrospection: true, onReject: [tooComplex] }),
      executionErrors,
      ...(options.compile === false ? [] : [useCompiledExecution(options.executionCounts)]),
    ],
    context: async (initial) => {
      if (initial.refusal !== undefined) throw initial.refusal;
      const viewer =
        initial.viewer !== undefined
          ? initial.viewer
          : await options.authenticate(initial.request.headers.get('authorization'), initial.req);
      return { store: options.store, tokens: options.tokens, feed: options.feed, viewer, actor: viewer?.name ?? 'anonymous' };
    },
  });
}
