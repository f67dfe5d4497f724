import { LRUCache } from 'lru-cache';
import { answerJsonBytes } from '../../graphql/answerBudget.ts';
import { isJsonObject } from '../../protocol/json.ts';
import { nextTurn } from '../../turns.ts';
import { HEAVY_BYTES, LONG_TEXT_CHARS } from '../body.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendNodeResponse } from '@whatwg-node/server';
import { type DocumentNode, type ExecutionResult, getOperationAST } from 'graphql';
import { type Plugin, processRegularResult } from 'graphql-yoga';
import type { Logger } from '../../logger.ts';
import { jsonTextProblem, jsonTextProblemInTurns } from '../../store/documents.ts';
import type { Authenticate } from '../authentication.ts';
import type { AnswerRequest, KeptAnswers } from './answers.ts';
import { GRAPHQL_PATH, type GraphQLServer, type ServerContext } from './yoga.ts';

/**
 * The common GraphQL request — a POST of `{ query, variables, operationName }` as JSON, answered as JSON —
 * run straight through yoga's envelop (the same plugins as over yoga and WebSockets), without yoga's
 * per-request machinery (WHATWG Request and Response objects, its plugin hooks). Every other request
 * (GET, browsers, SSE, malformed bodies, documents that do not parse or validate, subscriptions, refused
 * tokens) goes to yoga, and a result with errors is shaped by yoga's own result processor.
 */
export type GraphQLPost = (req: IncomingMessage, res: ServerResponse, resultType: ResultType) => void;

/** The two media types yoga's regular result processor serves, in its order. */
const RESULT_TYPES = ['application/graphql-response+json', 'application/json'] as const;
export type ResultType = (typeof RESULT_TYPES)[number];
/** Accept values answered here; anything else (text/event-stream, multipart/mixed, ...) goes to yoga. */
const PLAIN_ACCEPTS = new Set(['*/*', 'application/*', ...RESULT_TYPES]);
const JSON_BODY = /^application\/json\s*(;\s*charset=utf-8\s*)?$/i;
const PARAMETERS = new Set(['query', 'variables', 'operationName', 'extensions']);

/**
 * The media type yoga would answer with, or null when the request is not one answered here. Yoga reads
 * Accept without spaces, drops types with a charset other than utf-8, and of the types its regular
 * processor serves takes the one matching the earliest listed type (application/json for a wildcard).
 */
export function plainResultType(accept: string | undefined): ResultType | null {
  const key = accept ?? '';
  let chosen = resultTypes.get(key);
  if (chosen === undefined) {
    chosen = resultTypeFor(accept);
    // Clients send a handful of distinct Accept values: the first hundred are remembered.
    if (resultTypes.size < 100) resultTypes.set(key, chosen);
  }
  return chosen;
}

const resultTypes = new Map<string, ResultType | null>();

function resultTypeFor(accept: string | undefined): ResultType | null {
  let chosen: ResultType | null = null;
  const asked = (accept || '*/*').replace(/\s/g, '').toLowerCase().split(',');
  for (let index = asked.length - 1; index >= 0; index--) {
    const [mediaType, ...parameters] = asked[index]!.split(';');
    const charset = parameters.find((parameter) => parameter.includes('charset=')) ?? 'charset=utf-8';
    if (charset !== 'charset=utf-8') continue;
    if (!PLAIN_ACCEPTS.has(mediaType!)) return null;
    for (const type of RESULT_TYPES) if (matches(type, mediaType!)) chosen = type;
  }
  return chosen;
}

const matches = (type: string, asked: string) => {
  const [askedKind, askedSub] = asked.split('/');
  const [kind, sub] = type.split('/');
  return (askedKind === '*' || askedKind === kind) && (askedSub === '*' || askedSub === sub);
};

/**
 * The media type of the answer when a request is one this path answers, or null: decided from its
 * headers alone (its body is not read yet).
 */
export function plainGraphQLPost(req: IncomingMessage): ResultType | null {
  const headers = req.headers;
  const answered =
    req.method === 'POST' &&
    req.url === GRAPHQL_PATH &&
    headers.origin === undefined &&
    headers['content-type'] !== undefined &&
    JSON_BODY.test(headers['content-type']);
  return answered ? plainResultType(headers.accept) : null;
}

/** The body as GraphQL-over-HTTP parameters exactly as yoga accepts them without complaint, or null. */
function plainParams(body: string): AnswerRequest | null {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return null;
  }
  if (!isJsonObject(value) || typeof value.query !== 'string') return null;
  for (const key of Object.keys(value)) if (!PARAMETERS.has(key)) return null;
  if (value.variables != null && !isJsonObject(value.variables)) return null;
  if (value.operationName != null && typeof value.operationName !== 'string') return null;
  if (value.extensions != null && !isJsonObject(value.extensions)) return null;
  return value as unknown as AnswerRequest;
}

/**
 * The parsed documents kept, by text (yoga's cache, shared with the fast path): at most this many, and
 * this much text in all, since a document parses into some 50-110 bytes of nodes a character of its text.
 */
const CACHED_DOCUMENTS = 1_024;
export const CACHED_DOCUMENT_TEXT = 256 * 1024;

/**
 * The documents yoga has parsed and validated without fault, by text: the only ones the fast path
 * runs. A document's first request, and every one that fails to parse or validate, is answered by
 * yoga, so every refusal of a document is yoga's own. `cache` is yoga's document cache and `plugin`
 * records which of its documents passed validation, from every transport (HTTP and WebSocket), and takes
 * out those that did not; validation depends on the document alone (one schema, the same rules).
 */
export function knownDocuments() {
  const cache = new LRUCache<string, DocumentNode>({ max: CACHED_DOCUMENTS, maxSize: CACHED_DOCUMENT_TEXT, sizeCalculation: (_document, text) => text.length + 1 });
  const valid = new WeakSet<DocumentNode>();
  const plugin: Plugin = {
    // A long document not parsed yet is parsed and validated in a turn of its own (every HTTP route; over
    // graphql-ws, long messages take turns: websocket.ts).
    onParams: ({ params }) => (typeof params.query === 'string' && params.query.length >= LONG_TEXT_CHARS && !cache.has(params.query) ? nextTurn() : undefined),
    onValidate: ({ params }) => ({ valid: passed }) => {
      if (passed) valid.add(params.documentAST);
      // A refused document is not kept: new ones sent one after another would push honest documents out,
      // and each would stay in memory until then (yoga keys its cache by the document's text).
      else if (params.documentAST.loc) cache.delete(params.documentAST.loc.source.body);
    },
  };
  return {
    plugin,
    cache,
    /** The parsed document of a text yoga found valid, or undefined. */
    valid(text: string): DocumentNode | undefined {
      const document = cache.get(text);
      return document && valid.has(document) ? document : undefined;
    },
  };
}

export type KnownDocuments = ReturnType<typeof knownDocuments>;

/** A clean result, as yoga writes one. */
function sendJson(res: ServerResponse, resultType: ResultType, body: string | Buffer): void {
  res.writeHead(200, { 'content-type': `${resultType}; charset=utf-8`, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function createGraphQLPost(yoga: GraphQLServer, documents: KnownDocuments, answers: KeptAnswers, authenticate: Authenticate, logger: Logger): GraphQLPost {
  /** Hands the request, body already read, to yoga: it answers everything not answered here. */
  const toYoga = async (req: IncomingMessage, res: ServerResponse, body: string, serverContext: ServerContext) => {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined) continue;
      for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
    }
    const request = new yoga.fetchAPI.Request(`http://${req.headers.host ?? 'localhost'}${req.url}`, { method: 'POST', headers, body });
    await sendNodeResponse(await yoga.fetch(request, serverContext), res, req, false);
  };

  const answer = async (req: IncomingMessage, res: ServerResponse, body: string, resultType: ResultType) => {
    // A large request's steps (checking its text, parsing it, running it, writing the answer) each take a
    // turn of the event loop of their own, so that what else waits (probes, small requests) goes between
    // them; large requests take their turns one at a time (HeavyWork, turns.ts).
    const large = body.length >= HEAVY_BYTES;
    // JSON text that is refused (too deep, too many members, an inexact number) is refused by yoga's parsing (yoga.ts).
    const problem = large ? await jsonTextProblemInTurns(body) : jsonTextProblem(body);
    if (large) await nextTurn();
    const params = problem === null ? plainParams(body) : null;
    if (large) await nextTurn();
    const document = params && documents.valid(params.query);
    const operation = document && getOperationAST(document, params.operationName);
    if (!params || !document || !operation || operation.operation === 'subscription') return toYoga(req, res, body, { req });
    let viewer;
    try {
      viewer = await authenticate(req.headers.authorization, req);
    } catch (error) {
      // Yoga answers the refusal as it answers a failed context, without checking the token again.
      return toYoga(req, res, body, { req, refusal: error });
    }
    const answerKey = large ? null : answers.keyOf(document, params, viewer);
    const kept = answerKey === null ? undefined : answers.get(answerKey);
    if (kept) return sendJson(res, resultType, kept);
    const { schema, contextFactory, execute } = yoga.getEnveloped({ req, params, viewer });
    const contextValue = await contextFactory();
    if (answerKey !== null) contextValue.reads = [];
    const result = (await execute({ schema, document, operationName: params.operationName, variableValues: params.variables, contextValue })) as ExecutionResult;
    // A large answer is written out in a turn, and sent in the next one.
    const heavy = large || answerJsonBytes(contextValue) >= HEAVY_BYTES;
    if (heavy) await nextTurn();
    if (result.errors?.length || (result.extensions as { http?: unknown } | undefined)?.http) {
      const response = await processRegularResult(result, yoga.fetchAPI, resultType);
      if (heavy) await nextTurn();
      await sendNodeResponse(response, res, req, false);
      return;
    }
    const text = JSON.stringify(result);
    if (answerKey !== null) answers.offer(answerKey, text, contextValue.reads!);
    if (heavy) await nextTurn();
    sendJson(res, resultType, text);
  };

  return function post(req, res, resultType) {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      // Whatever yoga's envelop can refuse ends up in the result or goes to yoga: what lands here is a fault.
      answer(req, res, body, resultType).catch((error: unknown) => {
        logger.error({ err: error }, 'GraphQL request failed');
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
          res.end(JSON.stringify({ errors: [{ message: 'Unexpected error.' }] }));
        } else res.destroy();
      });
    });
  };
}
