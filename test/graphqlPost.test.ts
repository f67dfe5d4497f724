// The common GraphQL POST is answered without yoga's request pipeline (src/server/graphql/post.ts). Over
// real HTTP it must answer exactly as yoga does in-process, for the requests it takes and for those it
// hands back to yoga; and a refused token costs its address one failed attempt, not two.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { contextCacheSymbol } from '@pothos/core';
import type { Plugin } from 'graphql-yoga';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator } from '../src/server/authentication.ts';
import { schema } from '../src/graphql/index.ts';
import { KeptAnswers } from '../src/server/graphql/answers.ts';
import { createGraphQLServer } from '../src/server/graphql/yoga.ts';
import { CACHED_DOCUMENT_TEXT, createGraphQLPost, knownDocuments, plainGraphQLPost, plainResultType } from '../src/server/graphql/post.ts';
import { adminAuth, createTestApp, silentLogger, type TestApp } from './support/app.ts';

const CONFIG_QUERY = `query Read($service: String!) {
  config(service: $service) { __typename ... on ServiceConfig { service version config } ... on Error { message } }
}`;
const DRY_RUN = `mutation Try($input: UpdateConfigInput!) {
  updateConfig(input: $input) { __typename ... on ConfigWrite { dryRun previousVersion diff { op path value } } ... on Error { message } }
}`;

interface Case {
  name: string;
  headers?: Record<string, string>;
  body: string;
}

const json = { 'content-type': 'application/json' };
const ask = (query: string, variables?: Record<string, unknown>, extra: Record<string, unknown> = {}) => JSON.stringify({ query, variables, ...extra });

const cases: Case[] = [
  { name: 'a query', headers: { ...json, ...adminAuth }, body: ask(CONFIG_QUERY, { service: 'tick-aggregator' }) },
  { name: 'a query for a config that does not exist (a typed error)', headers: { ...json, ...adminAuth }, body: ask(CONFIG_QUERY, { service: 'no-such-service' }) },
  {
    name: 'a dry-run mutation',
    headers: { ...json, ...adminAuth },
    body: ask(DRY_RUN, { input: { service: 'tick-aggregator', patch: { operational: { window_seconds: 7 } }, dryRun: true } }),
  },
  { name: 'asking for application/graphql-response+json', headers: { ...json, ...adminAuth, accept: 'application/graphql-response+json' }, body: ask('{ viewer { name } }') },
  { name: 'asking for */*', headers: { ...json, ...adminAuth, accept: '*/*' }, body: ask('{ viewer { name } }') },
  {
    name: 'a list of accepted types',
    headers: { ...json, ...adminAuth, accept: 'application/graphql-response+json, application/json;q=0.9' },
    body: ask('{ viewer { name } }'),
  },
  { name: 'an operation chosen by name', headers: { ...json, ...adminAuth }, body: ask('query A { viewer { name } } query B { __typename }', undefined, { operationName: 'B' }) },
  { name: 'variables that do not coerce (BAD_USER_INPUT)', headers: { ...json, ...adminAuth }, body: ask(CONFIG_QUERY, { service: 42 }) },
  { name: 'no token (field scopes refuse)', headers: json, body: ask(CONFIG_QUERY, { service: 'tick-aggregator' }) },
  { name: 'a malformed body', headers: { ...json, ...adminAuth }, body: '{"query": ' },
  { name: 'a body that is not an object', headers: { ...json, ...adminAuth }, body: '[1, 2]' },
  { name: 'an unknown parameter', headers: { ...json, ...adminAuth }, body: ask('{ __typename }', undefined, { persisted: true }) },
  { name: 'variables that are not an object', headers: { ...json, ...adminAuth }, body: JSON.stringify({ query: '{ __typename }', variables: [1] }) },
  { name: 'a document that does not parse', headers: { ...json, ...adminAuth }, body: ask('{ viewer { name }') },
  { name: 'a document that does not validate', headers: { ...json, ...adminAuth }, body: ask('{ noSuchField }') },
  { name: 'a document graphql-armor refuses', headers: { ...json, ...adminAuth }, body: ask(`{ ${Array.from({ length: 25 }, (_, i) => `a${i}: __typename`).join(' ')} }`) },
  { name: 'an operation name that is not in the document', headers: { ...json, ...adminAuth }, body: ask('query A { __typename }', undefined, { operationName: 'Z' }) },
  // (Accepting anything, a subscription is answered as an event stream, by yoga on both paths.)
  { name: 'a subscription asking for JSON only', headers: { ...json, ...adminAuth, accept: 'application/json' }, body: ask('subscription { configChanged(service: "tick-aggregator") { version } }') },
  { name: 'a token the hub does not know', headers: { ...json, authorization: 'Bearer chub_not-a-token-of-this-hub-xxxxxxxxxxxx' }, body: ask('{ viewer { name } }') },
  { name: 'a malformed authorization header', headers: { ...json, authorization: 'Token abc' }, body: ask('{ viewer { name } }') },
  { name: 'an Accept yoga answers as SSE', headers: { ...json, ...adminAuth, accept: 'text/event-stream' }, body: ask('{ viewer { name } }') },
];

interface Answer {
  status: number;
  contentType: string | null;
  wwwAuthenticate: string | null;
  body: unknown;
}

/**
 * Status, the headers that matter and the parsed body. Yoga echoes the JSON parser's message of a
 * malformed body (extensions.originalError), whose wording depends on the Request implementation that
 * parsed it (the test's global one, or yoga's own over HTTP): that echo is left out.
 */
async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text, (key, value) => (key === 'originalError' ? undefined : value));
  } catch {
    // not JSON: compared as text
  }
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    wwwAuthenticate: response.headers.get('www-authenticate'),
    body,
  };
}

describe('GraphQL POST over HTTP answers as yoga does', () => {
  let t: TestApp;
  let base: string;

  beforeAll(async () => {
    // A generous limit: the refused-token cases below must not trip it.
    t = await createTestApp('pglite', { authFailureLimit: 1000 });
    base = await t.app.start();
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each(cases)('$name', async ({ headers, body }) => {
    const overHttp = await answerOf(await fetch(`${base}/graphql`, { method: 'POST', headers, body }));
    const byYoga = await answerOf(await t.app.fetch(new Request('http://confighub.test/graphql', { method: 'POST', headers, body })));
    expect(overHttp).toEqual(byYoga);
  });

  it('chooses the media type yoga chooses for every Accept it answers itself', async () => {
    const accepts = [
      undefined,
      '*/*',
      'application/json',
      'application/*',
      'application/graphql-response+json',
      'application/json, application/graphql-response+json',
      'application/graphql-response+json;charset=utf-8, application/json;charset=utf-8',
      'application/json; charset=utf-16, application/graphql-response+json',
    ];
    for (const accept of accepts) {
      const type = plainResultType(accept);
      expect(type, String(accept)).not.toBeNull();
      const headers: Record<string, string> = { ...json, ...adminAuth, ...(accept === undefined ? {} : { accept }) };
      const byYoga = await t.app.fetch(new Request('http://confighub.test/graphql', { method: 'POST', headers, body: ask('{ __typename }') }));
      expect(byYoga.headers.get('content-type'), String(accept)).toBe(`${type}; charset=utf-8`);
    }
    expect(plainResultType('text/event-stream')).toBeNull();
    expect(plainResultType('multipart/mixed, application/json')).toBeNull();
  });

  it('writes once per mutation, with the version the answer reports', async () => {
    const update = `mutation Bump($input: UpdateConfigInput!) { updateConfig(input: $input) { __typename ... on ConfigWrite { previousVersion config { version config } } } }`;
    const response = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { ...json, ...adminAuth },
      body: ask(update, { input: { service: 'tick-aggregator', patch: { operational: { window_seconds: 11 } }, reason: 'graphqlPost test' } }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const { data } = (await response.json()) as { data: { updateConfig: { previousVersion: number; config: { version: number; config: { operational: { window_seconds: number } } } } } };
    expect(data.updateConfig.config.version).toBe(data.updateConfig.previousVersion + 1);
    expect(data.updateConfig.config.config.operational.window_seconds).toBe(11);
    const history = await t.graphql(`{ configHistory(service: "tick-aggregator", first: 5) { edges { node { version reason } } } }`);
    const reasons = (history.data as { configHistory: { edges: { node: { version: number; reason: string | null } }[] } }).configHistory.edges
      .filter(({ node }) => node.reason === 'graphqlPost test')
      .map(({ node }) => node.version);
    expect(reasons).toEqual([data.updateConfig.config.version]);
  });
});

describe('which requests the GraphQL POST path answers itself', () => {
  let t: TestApp;
  let server: Server;
  let base: string;
  /** Requests the path handed to yoga. */
  let handedOver = 0;
  let documents: ReturnType<typeof knownDocuments>;

  beforeAll(async () => {
    t = await createTestApp('pglite');
    const authenticate = createAuthenticator({ tokens: t.app.tokens });
    documents = knownDocuments();
    const yoga = createGraphQLServer({ store: t.app.store, tokens: t.app.tokens, feed: t.app.feed, logger: silentLogger, authenticate, corsOrigins: [], plugins: [documents.plugin], documentCache: documents.cache });
    // The same yoga, its fetch counted.
    const counted = new Proxy(yoga, {
      get: (target, property) =>
        property === 'fetch'
          ? (...args: Parameters<typeof yoga.fetch>) => {
              handedOver++;
              return yoga.fetch(...args);
            }
          : Reflect.get(target, property),
    });
    const post = createGraphQLPost(counted, documents, new KeptAnswers(schema, t.app.store.cache), authenticate, silentLogger);
    server = createServer((req, res) => {
      const resultType = plainGraphQLPost(req);
      if (resultType) post(req, res, resultType);
      else {
        res.writeHead(418);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await t?.close();
  });

  const send = async (headers: Record<string, string>, body: string) => {
    const before = handedOver;
    const response = await fetch(`${base}/graphql`, { method: 'POST', headers, body });
    await response.arrayBuffer();
    return { status: response.status, byYoga: handedOver - before };
  };

  it('keeps at most 256 KiB of document text parsed: new large documents one after another do not fill the memory', async () => {
    for (let index = 0; index < 120; index++) {
      const document = `{ viewer { name } } # ${index} ${'x'.repeat(8 * 1024)}`;
      expect((await send({ ...json, ...adminAuth }, ask(document))).status).toBe(200);
    }
    expect(documents.cache.calculatedSize).toBeLessThanOrEqual(CACHED_DOCUMENT_TEXT);
    expect(CACHED_DOCUMENT_TEXT).toBe(256 * 1024);
    expect(documents.cache.size).toBeLessThan(120);
    expect(documents.cache.size).toBeGreaterThan(10);
  });

  it('keeps no document that failed validation: refused documents one after another push no honest one out', async () => {
    const honest = `{ viewer { name } } # kept ${'x'.repeat(1024)}`;
    expect((await send({ ...json, ...adminAuth }, ask(honest))).status).toBe(200);
    const refused = Array.from({ length: 60 }, (_, index) => `{ viewer { name } notAField${index} } # ${'x'.repeat(8 * 1024)}`);
    for (const document of refused) expect((await send({ ...json, ...adminAuth }, ask(document))).status).toBe(200);
    expect(documents.cache.has(honest)).toBe(true);
    expect(refused.filter((document) => documents.cache.has(document))).toEqual([]);
    // A refused document is refused again the same way.
    const again = await fetch(`${base}/graphql`, { method: 'POST', headers: { ...json, ...adminAuth }, body: ask(refused[0]!) });
    expect(((await again.json()) as { errors: { message: string }[] }).errors[0]!.message).toMatch(/notAField0/);
  });

  it('leaves a document\'s first request to yoga, then answers it itself (clean results, and results with errors through yoga\'s result processor)', async () => {
    expect(await send({ ...json, ...adminAuth }, ask(CONFIG_QUERY, { service: 'tick-aggregator' }))).toEqual({ status: 200, byYoga: 1 });
    expect(await send({ ...json, ...adminAuth }, ask('{ viewer { name } }'))).toEqual({ status: 200, byYoga: 1 });
    expect(await send({ ...json, ...adminAuth }, ask(CONFIG_QUERY, { service: 'tick-aggregator' }))).toEqual({ status: 200, byYoga: 0 });
    expect(await send({ ...json, ...adminAuth, accept: 'application/graphql-response+json' }, ask('{ viewer { name } }'))).toEqual({ status: 200, byYoga: 0 });
    expect(await send({ ...json }, ask(CONFIG_QUERY, { service: 'tick-aggregator' }))).toMatchObject({ byYoga: 0 });
    expect(await send({ ...json, ...adminAuth }, ask(CONFIG_QUERY, { service: 42 }))).toMatchObject({ byYoga: 0 });
  });

  it('hands yoga what it does not answer, before anything runs', async () => {
    expect((await send({ ...json, ...adminAuth }, '{"query": ')).byYoga).toBe(1);
    expect((await send({ ...json, ...adminAuth }, ask('{ noSuchField }'))).byYoga).toBe(1);
    expect((await send({ ...json, authorization: 'Bearer chub_unknown-token-xxxxxxxxxxxxxxxxxxxxxxxx' }, ask('{ viewer { name } }'))).byYoga).toBe(1);
    // Not taken at all: browsers (CORS), other media types, other content types.
    expect((await send({ ...json, ...adminAuth, origin: 'http://example.test' }, ask('{ __typename }'))).status).toBe(418);
    expect((await send({ ...json, ...adminAuth, accept: 'text/event-stream' }, ask('{ __typename }'))).status).toBe(418);
    expect((await send({ 'content-type': 'application/graphql', ...adminAuth }, '{ __typename }')).status).toBe(418);
  });
});

describe('a refused token over the GraphQL POST path', () => {
  let t: TestApp;
  let base: string;

  beforeAll(async () => {
    t = await createTestApp('pglite', { authFailureLimit: 3 });
    base = await t.app.start();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('costs its address one attempt, so the limit falls after as many refusals as it allows', async () => {
    const attempt = (token: string) =>
      fetch(`${base}/graphql`, { method: 'POST', headers: { ...json, authorization: `Bearer ${token}` }, body: ask('{ viewer { name } }') });
    for (let i = 0; i < 3; i++) {
      const refused = await attempt(`chub_guess-${i}-xxxxxxxxxxxxxxxxxxxxxxxxxxxx`);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toContain('Bearer');
    }
    const limited = await attempt(t.adminToken);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('what an operation holds once it is done', () => {
  let t: TestApp;
  let server: Server;
  let base: string;
  /** Every operation's context, as it was when the operation started and as the context is now. */
  const operations: { atStart: string[]; context: Record<PropertyKey, unknown> }[] = [];
  const held = (context: Record<PropertyKey, unknown>) =>
    ['params', 'req', 'request', contextCacheSymbol].filter((key) => Object.hasOwn(context, key)).map(String);

  beforeAll(async () => {
    t = await createTestApp('pglite');
    const authenticate = createAuthenticator({ tokens: t.app.tokens });
    const documents = knownDocuments();
    const recorded: Plugin = {
      onExecute: ({ args }) => {
        const context = args.contextValue as unknown as Record<PropertyKey, unknown>;
        operations.push({ atStart: held(context), context });
      },
    };
    const yoga = createGraphQLServer({ store: t.app.store, tokens: t.app.tokens, feed: t.app.feed, logger: silentLogger, authenticate, corsOrigins: [], plugins: [documents.plugin, recorded], documentCache: documents.cache });
    const post = createGraphQLPost(yoga, documents, new KeptAnswers(schema, t.app.store.cache), authenticate, silentLogger);
    server = createServer((req, res) => post(req, res, 'application/json'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await t?.close();
  });

  // Pothos keys its per-request caches by the context, in WeakMaps whose values point back at it; V8's
  // young-generation collector keeps such values alive whatever their keys. What a done operation still
  // reaches from its context is copied and promoted with it: its variables, its request and body.
  it('lets go of its parameters, its request and its per-request caches, over the fast path and yoga alike', async () => {
    const body = ask(DRY_RUN, { input: { service: 'tick-aggregator', config: { operational: { window_seconds: 9, note: 'x'.repeat(40_000) } }, dryRun: true } });
    const headers = { ...json, ...adminAuth };
    // The first request of a document goes to yoga; the next ones take the fast path.
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${base}/graphql`, { method: 'POST', headers, body });
      expect(((await response.json()) as { data: { updateConfig: { __typename: string } } }).data.updateConfig.__typename).toBe('ConfigWrite');
    }
    expect(operations).toHaveLength(3);
    for (const { atStart, context } of operations) {
      expect(atStart).toEqual(expect.arrayContaining(['params', 'req', String(contextCacheSymbol)]));
      expect(held(context)).toEqual([]);
      // What the resolvers and the fast path use after execution stays.
      expect(context.store).toBe(t.app.store);
      expect((context.viewer as { name: string }).name).toBe('admin');
    }
  });
});
