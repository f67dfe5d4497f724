import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import type { IncomingMessage } from 'node:http';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { contextCacheSymbol, initContextCache } from '@pothos/core';
import { type DocumentNode, GraphQLError, visit } from 'graphql';
import { type Plugin, type YogaServerInstance, createYoga, maskError as maskUnexpected } from 'graphql-yoga';
import type { Principal } from '../../access/principal.ts';
import type { TokenStore } from '../../access/tokens.ts';
import type { Logger } from '../../logger.ts';
import type { Context } from '../../graphql/context.ts';
import { schema } from '../../graphql/index.ts';
import type { ConfigFeed } from '../../events/feed.ts';
import type { ConfigStore } from '../../store/configStore.ts';
import type { Authenticate } from '../authentication.ts';
import { type JsonTextProblem, jsonTextProblem, jsonTextProblemInTurns } from '../../store/documents.ts';
import { RequestError, describeFailure } from '../failures.ts';
import { graphiqlOptions } from '../graphiql.ts';
import { graphiqlAssets, graphiqlPageHeadersPlugin } from '../graphiqlPage.ts';

export const GRAPHQL_PATH = '/graphql';

/** What the HTTP server (node request) or the WebSocket server (an authenticated viewer) hands to yoga. */
export interface ServerContext {
  req?: IncomingMessage;
  /** Set for WebSocket operations (the socket authenticated once, when it connected) and for requests whose token was checked already. */
  viewer?: Principal | null;
  /** Why the request's token was refused, when that was found out already (post.ts): answered as is. */
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
  /** Browser origins allowed to call cross-origin (CORS); none when empty. */
  corsOrigins: readonly string[];
  /** More plugins (the fast path's registry of valid documents, post.ts). */
  plugins?: Plugin[];
  /** Where parsed documents are kept, by text (bounded: post.ts). */
  documentCache: { get(text: string): DocumentNode | undefined; set(text: string, document: DocumentNode): void };
}

/** Refusals of the caller by the domain that keep their HTTP status; its other refusals are answers (200). */
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
      // A request refused at the edge and refusals of the caller keep their HTTP status; other known failures are answers (200).
      extensions: {
        code: failure.code,
        http: { status: original instanceof RequestError || CALLER_REFUSALS.has(failure.status) ? failure.status : 200, headers: failure.headers },
        ...failure.details,
      },
    });
  }
  if (error instanceof GraphQLError) {
    // Thrown on purpose by a resolver or a plugin (an argument out of range, a cursor or a global id that
    // does not decode): a refusal of the caller's input, which graphql-js passes on without a code.
    if (error.originalError instanceof GraphQLError) return withCode(error, 'BAD_USER_INPUT');
    // graphql-js's own, about the result's shape (a null where the schema promises a value): a fault here.
    if (!error.originalError) return withCode(error, isVariableError(error) ? 'BAD_USER_INPUT' : 'INTERNAL_SERVER_ERROR');
  }
  return maskUnexpected(error, message, isDev);
}

/** graphql-js's refusal of a variable value that does not coerce. */
const isVariableError = (error: GraphQLError) => error.message.startsWith('Variable "$');

/** Gives an error graphql-js or graphql-armor raised without a code one, so clients can tell kinds apart. */
export function withCode(error: GraphQLError, code: string): GraphQLError {
  if (error.extensions.code === undefined) (error.extensions as Record<string, unknown>).code = code;
  return error;
}

const JSON_BODY = /^application\/(graphql\+)?json\s*(;|$)/i;
const FORM_BODY = /^application\/x-www-form-urlencoded\s*(;|$)/i;

/**
 * Refuses a request whose JSON nests too deep, holds too many members or a number that would not keep
 * its value (`12345678901234567890`, `1e-400`): checked on the text as sent (documents.ts), before
 * yoga's own parser spends time on it or turns numbers into doubles. Literals in the document are
 * checked by the JSON scalars (graphql/scalars.ts) and the document's nesting by `boundedNesting`.
 */
const checkedJsonText: Plugin = {
  onRequestParse({ request, url, requestParser, setRequestParser, fetchAPI }) {
    if (!requestParser) return;
    const refuse = (problem: JsonTextProblem | null) => {
      if (problem !== null) throw new RequestError(400, 'BAD_USER_INPUT', problem.message);
    };
    if (request.method === 'GET') {
      const variables = url.searchParams.get('variables');
      refuse(variables === null ? null : jsonTextProblem(variables));
      return;
    }
    const type = request.headers.get('content-type') ?? '';
    if (!JSON_BODY.test(type) && !FORM_BODY.test(type)) return;
    setRequestParser(async (incoming) => {
      const text = await incoming.text();
      const json = JSON_BODY.test(type) ? text : new URLSearchParams(text).get('variables');
      refuse(json === null ? null : await jsonTextProblemInTurns(json));
      return requestParser(new fetchAPI.Request(incoming.url, { method: incoming.method, headers: incoming.headers, body: text }));
    });
  },
};

/** How deep a document may nest its braces, brackets and parentheses (graphql-js's parser recurses per level). */
export const MAX_DOCUMENT_NESTING = 64;
/**
 * The most tokens a GraphQL document may hold (graphql-armor, counted while it is parsed). Parsing and
 * validating a document is one piece of work on the event loop, in proportion to its tokens; the
 * operations people and services send hold a few hundred (GraphiQL's introspection under 200).
 */
export const MAX_DOCUMENT_TOKENS = 2_000;

/** The deepest nesting of `{`, `[` and `(` in a GraphQL document, strings and comments skipped; one pass. */
export function documentNesting(source: string): number {
  let depth = 0;
  let deepest = 0;
  for (let index = 0; index < source.length; index++) {
    const char = source[index];
    if (char === '#') {
      while (index < source.length && source[index] !== '\n' && source[index] !== '\r') index++;
    } else if (char === '"') {
      if (source.startsWith('"""', index)) {
        const end = source.indexOf('"""', index + 3);
        index = end === -1 ? source.length : end + 2;
      } else {
        for (index++; index < source.length && source[index] !== '"' && source[index] !== '\n'; index++) if (source[index] === '\\') index++;
      }
    } else if (char === '{' || char === '[' || char === '(') {
      if (++depth > deepest) deepest = depth;
    } else if (char === '}' || char === ']' || char === ')') {
      depth--;
    }
  }
  return deepest;
}

/** How many fields of a document may share one response name (`id`, or an alias): graphql-js checks that
 * fields of one name can be merged by comparing them pairwise. */
export const MAX_FIELDS_PER_NAME = 100;
/** How many variables an operation may define: graphql-js reports each unused one with an error of its own. */
export const MAX_VARIABLES = 100;

/** Why a document is too broad to validate (too many fields of one name, or variables), or null. */
function breadthProblem(document: DocumentNode): string | null {
  const counts = new Map<string, number>();
  let commonest = { name: '', count: 0 };
  let variables = 0;
  visit(document, {
    Field(node) {
      const name = node.alias?.value ?? node.name.value;
      const count = (counts.get(name) ?? 0) + 1;
      counts.set(name, count);
      if (count > commonest.count) commonest = { name, count };
    },
    VariableDefinition() {
      variables++;
    },
  });
  if (commonest.count > MAX_FIELDS_PER_NAME) {
    return `the document asks for "${commonest.name}" ${commonest.count} times; the limit is ${MAX_FIELDS_PER_NAME} fields of one name`;
  }
  if (variables > MAX_VARIABLES) return `the document defines ${variables} variables; the limit is ${MAX_VARIABLES}`;
  return null;
}

/**
 * Refuses a document nested deeper than MAX_DOCUMENT_NESTING before graphql-js parses it, and one with
 * more than MAX_FIELDS_PER_NAME fields of one response name or MAX_VARIABLES variables before it is
 * validated (over HTTP and WebSocket alike; a parsed document is cached, and so is its refusal's cost).
 */
const broadEnough = new WeakSet<DocumentNode>();
const boundedDocuments: Plugin = {
  onParse({ params }) {
    const source = typeof params.source === 'string' ? params.source : params.source.body;
    if (documentNesting(source) > MAX_DOCUMENT_NESTING) {
      throw new GraphQLError(`Syntax Error: the document nests deeper than ${MAX_DOCUMENT_NESTING} levels`, { extensions: { code: 'QUERY_TOO_COMPLEX' } });
    }
  },
  onValidate({ params, setResult }) {
    if (broadEnough.has(params.documentAST)) return;
    const problem = breadthProblem(params.documentAST);
    // The result stands instead of graphql-js's validation, which does not run.
    if (problem) setResult([new GraphQLError(problem, { extensions: { code: 'QUERY_TOO_COMPLEX' } })]);
    else broadEnough.add(params.documentAST);
  },
};

/** Orders errors by where they stand in the document, then by their paths (list indexes as numbers). */
function byPlaceInDocument(a: GraphQLError, b: GraphQLError): number {
  const [left, right] = [a.locations?.[0], b.locations?.[0]];
  if (left && right && (left.line !== right.line || left.column !== right.column)) return left.line - right.line || left.column - right.column;
  if (!left !== !right) return left ? 1 : -1;
  const [one, other] = [a.path ?? [], b.path ?? []];
  for (let index = 0; index < Math.min(one.length, other.length); index++) {
    const [x, y] = [one[index]!, other[index]!];
    if (x === y) continue;
    return typeof x === 'number' && typeof y === 'number' ? x - y : String(x) < String(y) ? -1 : 1;
  }
  return one.length - other.length;
}

/** The same origins as yoga's CORS options, or false: no CORS headers, so the browser refuses the page the answer. */
export function corsFor(origins: readonly string[]) {
  return (request: Request) => {
    const origin = request.headers.get('origin');
    if (origin === null || !origins.includes(origin)) return false as const;
    return {
      origin: [origin],
      credentials: false,
      methods: ['GET', 'POST', 'OPTIONS'],
      allowedHeaders: ['authorization', 'content-type', 'accept', 'if-match', 'x-change-reason'],
      exposedHeaders: ['etag'],
      maxAge: 600,
    };
  };
}

/**
 * Lets go of what an operation that is done held: its parameters, its request (and body), and the key of
 * Pothos' per-request caches, WeakMaps whose values point back at the context (V8's young-generation
 * collector keeps such a cycle until a full collection). `reads` stays: post.ts keeps answers by it.
 */
function releaseContext(context: Record<PropertyKey, unknown>): void {
  delete context[contextCacheSymbol];
  delete context.params;
  delete context.req;
  delete context.request;
}

/** graphql-armor's refusals (too deep, too many aliases or tokens, too costly): simplify the document. */
const tooComplex = (_context: unknown, error: GraphQLError) => withCode(error, 'QUERY_TOO_COMPLEX');

export function createGraphQLServer(options: GraphQLServerOptions): GraphQLServer {
  const { logger } = options;
  // Execution hooks of envelop's, so WebSocket operations (enveloped in websocket.ts) pass them too.
  const afterExecution: Plugin = {
    onExecute: ({ args }) => ({
      onExecuteDone: ({ result, setResult }) => {
        if (Symbol.asyncIterator in result) return;
        releaseContext(args.contextValue as unknown as Record<PropertyKey, unknown>);
        if (!result.errors?.length) return;
        options.onErrors?.();
        // graphql-js reports variables it cannot coerce without a code.
        for (const error of result.errors) if (isVariableError(error)) withCode(error, 'BAD_USER_INPUT');
        // graphql-js lists errors as they happen: fields that fail after reads of their own came in either
        // order. They are listed in the order of the document (then of their paths), whichever read ended first.
        if (result.errors.length > 1) setResult({ ...result, errors: [...result.errors].sort(byPlaceInDocument) });
      },
    }),
  };
  return createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: GRAPHQL_PATH,
    landingPage: false,
    // No file uploads here: a multipart body is refused (415) rather than parsed.
    multipart: false,
    cors: corsFor(options.corsOrigins),
    // The HTTP layer refuses bodies over 1 MiB before yoga sees them (app.ts): yoga's own limit would wrap
    // every request body in another stream, at a cost on every request.
    maxRequestBodySize: false,
    maskedErrors: { maskError, isDev: options.developmentErrors ?? false },
    // Documents and validation results are cached, parse errors not: yoga decorates a parse error per
    // transport, and a cached one would carry whichever transport parsed it first.
    parserAndValidationCache: { documentCache: options.documentCache, errorCache: { get: () => undefined, set: () => {} } },
    graphiql: graphiqlOptions,
    // GraphiQL from this package, not a CDN (it works offline and behind firewalls): a small page whose
    // large files are served apart, compressed and cached (graphiqlPage.ts).
    renderGraphiQL: graphiqlAssets.renderPage,
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
      graphiqlPageHeadersPlugin,
      // Hostile documents are refused before they run (HTTP and WebSocket alike; results of validation
      // are cached per document, so honest repeated operations pay nothing).
      boundedDocuments,
      maxTokensPlugin({ n: MAX_DOCUMENT_TOKENS, onReject: [tooComplex] }),
      maxDepthPlugin({ n: 12, ignoreIntrospection: true, flattenFragments: true, onReject: [tooComplex] }),
      maxAliasesPlugin({ n: 20, onReject: [tooComplex] }),
      costLimitPlugin({ maxCost: 5_000, ignoreIntrospection: true, onReject: [tooComplex] }),
      checkedJsonText,
      afterExecution,
      ...(options.plugins ?? []),
    ],
    context: async (initial) => {
      if (initial.refusal !== undefined) throw initial.refusal;
      const viewer =
        initial.viewer !== undefined
          ? initial.viewer
          : await options.authenticate(initial.request.headers.get('authorization'), initial.req);
      return { ...initContextCache(), store: options.store, tokens: options.tokens, feed: options.feed, viewer, actor: viewer?.name ?? 'anonymous' };
    },
  });
}
