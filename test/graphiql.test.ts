import { type IncomingHttpHeaders, createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import * as graphiqlPieces from '@graphql-yoga/render-graphiql/graphiql';
import { createServerAdapter } from '@whatwg-node/server';
import { Kind, parse } from 'graphql';
import { createSchema, createYoga } from 'graphql-yoga';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildGraphiQLAssets } from '../scripts/build-graphiql-assets.ts';
import { graphiqlExamples, graphiqlOptions } from '../src/server/graphiql.ts';
import {
  GRAPHIQL_ASSET_PATH,
  type GraphiQLAssets,
  createGraphiQLAssets,
  defaultGraphiQLCacheDir,
  graphiqlPageHeadersPlugin,
} from '../src/server/graphiqlPage.ts';
import { adminAuth, useTestApp } from './support/app.ts';
import { backends } from './support/databases.ts';

const pilot = 'polygon-historical-downloader';
const gapCheck = '/operational/gap_check_interval_hours';

/**
 * What each example shows on a freshly seeded hub, in the order a newcomer would run them.
 * The pilot starts at version 1 with gap_check_interval_hours 6.
 */
const expectations: Record<string, (data: any) => void> = {
  PilotConfig: (data) =>
    expect(data.config).toMatchObject({
      __typename: 'ServiceConfig',
      service: pilot,
      environment: 'production',
      version: 1,
      updatedBy: 'seed',
      config: { operational: { gap_check_interval_hours: 6 } },
    }),
  AllConfigs: (data) => {
    expect(data.configs.totalCount).toBe(3);
    expect(data.configs.edges.map((edge: any) => edge.node.service)).toEqual([pilot, 'polygon-live-collector', 'tick-aggregator']);
  },
  ChangeGapCheckInterval: (data) =>
    expect(data.updateConfig).toMatchObject({
      __typename: 'ConfigWrite',
      previousVersion: 1,
      config: { version: 2, config: { operational: { gap_check_interval_hours: 2 } } },
      diff: [{ op: 'replace', path: gapCheck, value: 2 }],
    }),
  History: (data) =>
    expect(data.configHistory.edges.map((edge: any) => edge.node)).toMatchObject([
      { version: 2, action: 'UPDATE', changedBy: 'admin', reason: 'tighter gap checks during the backfill', patch: [{ op: 'replace', path: gapCheck, value: 2 }] },
      { version: 1, action: 'CREATE', changedBy: 'seed', reason: 'pilot services seeded by migration' },
    ]),
  DiffFirstToSecond: (data) =>
    expect(data.configDiff).toEqual({ __typename: 'ConfigDiff', operations: [{ op: 'replace', path: gapCheck, value: 2 }] }),
  RollBackToFirstVersion: (data) =>
    expect(data.rollbackConfig).toMatchObject({
      __typename: 'ConfigWrite',
      config: { version: 3, config: { operational: { gap_check_interval_hours: 6 } } },
      diff: [{ op: 'replace', path: gapCheck, value: 6 }],
    }),
};

const operationNames = parse(graphiqlExamples).definitions.flatMap((definition) =>
  definition.kind === Kind.OPERATION_DEFINITION && definition.name ? [definition.name.value] : [],
);

describe('GraphiQL', () => {
  const t = useTestApp('pglite');

  it('a browser asking for /graphql gets GraphiQL, opened on the examples', async () => {
    const response = await t.app.fetch(new Request('http://confighub.test/graphql', { headers: { accept: 'text/html' } }));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    // The options are JSON in the page; graphiqlPage.ts writes `<`, `>` and `&` in it as \\u escapes.
    const page = (await response.text()).replace(/\\u003c/g, '<').replace(/\\u003e/g, '>').replace(/\\u0026/g, '&');
    expect(page).toContain('<title>confighub</title>');
    expect(page).toContain(JSON.stringify(graphiqlExamples));
  });

  it('has an expectation for every example, in order', () => {
    expect(operationNames).toEqual(Object.keys(expectations));
  });
});

describe.each(backends)('GraphiQL examples on %s', (backend) => {
  const t = useTestApp(backend);

  // Each example runs on the state the previous ones left, as in GraphiQL: one test per example, in order.
  it.each(operationNames)('%s runs without errors and shows what it says', async (operationName) => {
    const response = await t.app.fetch(
      new Request('http://confighub.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...adminAuth },
        body: JSON.stringify({ query: graphiqlExamples, operationName }),
      }),
    );
    const result = (await response.json()) as { data?: unknown; errors?: unknown[] };
    expect(result.errors).toBeUndefined();
    expectations[operationName]!(result.data);
  });
});

// --- The page and its files over real HTTP, behind yoga as the gateway wires them -----------------------

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** As sent, not decoded. */
  body: Buffer;
}

/** node:http, which (unlike fetch) leaves the body as it came over the wire. */
function rawRequest(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end();
  });
}

const decoded = ({ headers, body }: RawResponse) =>
  headers['content-encoding'] === 'br' ? zlib.brotliDecompressSync(body) : headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(body) : body;

/** What browsers send: br and gzip; gzip only (Chromium on plain http other than localhost); nothing. */
const clients = [
  { acceptEncoding: 'gzip, deflate, br, zstd', coding: 'br' },
  { acceptEncoding: 'gzip, deflate', coding: 'gzip' },
  { acceptEncoding: '', coding: undefined },
] as const;

const PAGE_CONFIG = /<script type="application\/json" id="graphiql-config">([^<]*)<\/script>/;

/** The options and worker URLs the page hands its boot script. */
function pageConfig(page: string): { workers: Record<string, string>; options: Record<string, unknown> } {
  return JSON.parse(PAGE_CONFIG.exec(page)![1]!);
}

/** Every URL under /graphiql/ a browser loads for the page, with the package's bytes where they are the package's. */
function filesOf(page: string): { url: string; expected?: string }[] {
  const referenced = [...page.matchAll(/(?:href|src)="(\/graphiql\/[^"]+)"/g)].map((match) => match[1]!);
  const { workers } = pageConfig(page);
  const expected: Record<string, string> = {
    [referenced.find((url) => /\/graphiql\.[0-9a-f]{16}\.js$/.test(url))!]: graphiqlPieces.js,
    [referenced.find((url) => url.endsWith('.css'))!]: graphiqlPieces.css,
    [workers.editorWorkerService!]: graphiqlPieces.editorWorkerService,
    [workers.json!]: graphiqlPieces.jsonWorker,
    [workers.graphql!]: graphiqlPieces.graphqlWorker,
  };
  return [...new Set([...referenced, ...Object.values(workers)])].map((url) => ({ url, expected: expected[url] }));
}

/** yoga (a one-field schema) with the page as its GraphiQL, the files under /graphiql/, and /health. */
async function startGraphiQLServer(assets: GraphiQLAssets) {
  const yoga = createYoga({
    schema: createSchema({ typeDefs: 'type Query { hello: String }', resolvers: { Query: { hello: () => 'world' } } }),
    graphiql: graphiqlOptions,
    renderGraphiQL: assets.renderPage,
    plugins: [graphiqlPageHeadersPlugin],
    logging: false,
  });
  const adapter = createServerAdapter(async (request: Request) => {
    if (new URL(request.url).pathname === '/health') return Response.json({ status: 'ok' });
    return (await assets.serveAsset(request)) ?? yoga.fetch(request);
  });
  const server = createServer(adapter);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const modes = [
  // As `npm install` leaves them (brotli quality 11); built here, once, where it did not run.
  { mode: 'prebuilt files', cacheDir: defaultGraphiQLCacheDir(), prepare: () => buildGraphiQLAssets() },
  { mode: 'files compressed on first request', cacheDir: null, prepare: async () => {} },
];

describe.each(modes)('GraphiQL page and files over HTTP: $mode', ({ mode, cacheDir, prepare }) => {
  let server: Awaited<ReturnType<typeof startGraphiQLServer>>;
  let page: string;

  beforeAll(async () => {
    await prepare();
    server = await startGraphiQLServer(createGraphiQLAssets({ cacheDir }));
    page = (await rawRequest(`${server.url}/graphql`, { accept: 'text/html' })).body.toString();
  });
  afterAll(async () => {
    await server?.close();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('the page is small, loads hashed files, opens on the examples without a token, and carries its headers', async () => {
    const response = await rawRequest(`${server.url}/graphql`, { accept: 'text/html' });
    expect(response.status).toBe(200);
    expect(response.body.byteLength).toBeLessThan(8_000);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.headers['cache-control']).toBe('no-cache');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    const policy = response.headers['content-security-policy'];
    expect(policy).toContain("script-src 'self';");
    expect(policy).toContain("worker-src 'self';");
    expect(policy).toContain("frame-ancestors 'self'");
    expect(policy).not.toMatch(/script-src[^;]*unsafe/);

    expect(filesOf(page).map(({ url }) => url)).toEqual([
      expect.stringMatching(/^\/graphiql\/favicon\.[0-9a-f]{16}\.svg$/),
      expect.stringMatching(/^\/graphiql\/graphiql\.[0-9a-f]{16}\.css$/),
      expect.stringMatching(/^\/graphiql\/boot\.[0-9a-f]{16}\.js$/),
      expect.stringMatching(/^\/graphiql\/graphiql\.[0-9a-f]{16}\.js$/),
      expect.stringMatching(/^\/graphiql\/editor-worker\.[0-9a-f]{16}\.js$/),
      expect.stringMatching(/^\/graphiql\/json-worker\.[0-9a-f]{16}\.js$/),
      expect.stringMatching(/^\/graphiql\/graphql-worker\.[0-9a-f]{16}\.js$/),
    ]);
    // No script in the page itself: the CSP allows none.
    expect(page.match(/<script(?![^>]*(\bsrc=|type="application\/json"))/g)).toBeNull();
    const { options } = pageConfig(page);
    expect(options).toMatchObject({ title: 'confighub', defaultQuery: graphiqlExamples, headers: '{}', shouldPersistHeaders: false });
    expect(page).not.toMatch(/Bearer [^<\\]/);
  });

  it('options cannot end the script element that holds them', async () => {
    const hostile = '</script><script>alert(1)</script><!--';
    const html = await createGraphiQLAssets({ cacheDir }).renderPage({ title: hostile, defaultQuery: hostile, headers: hostile });
    expect(html.match(/<script/g)).toHaveLength(3);
    expect(html).toContain('<title>&#60;/script&#62;&#60;script&#62;alert(1)&#60;/script&#62;&#60;!--</title>');
    expect(pageConfig(html).options).toMatchObject({ title: hostile, defaultQuery: hostile, headers: hostile });
  });

  it("each file answers br, gzip or none as the client accepts, decoding to exactly the package's bytes", async () => {
    const wire: Record<string, number> = {};
    for (const { acceptEncoding, coding } of clients) {
      const pageResponse = await rawRequest(`${server.url}/graphql`, { accept: 'text/html', 'accept-encoding': acceptEncoding });
      wire[acceptEncoding] = pageResponse.body.byteLength;
      for (const { url, expected } of filesOf(page)) {
        const response = await rawRequest(server.url + url, acceptEncoding ? { 'accept-encoding': acceptEncoding } : {});
        expect(response.status).toBe(200);
        expect(response.headers['content-encoding']).toBe(coding);
        expect(response.headers['content-type']).toMatch(/^(text\/javascript|text\/css|image\/svg\+xml)/);
        expect(response.headers['cache-control']).toBe('public, max-age=31536000, immutable');
        expect(response.headers.vary).toBe('Accept-Encoding');
        expect(response.headers.etag).toMatch(coding ? new RegExp(`^"[0-9a-f]{16}\\.${coding}"$`) : /^"[0-9a-f]{16}"$/);
        expect(Number(response.headers['content-length'])).toBe(response.body.byteLength);
        const bytes = decoded(response);
        if (expected !== undefined) expect(bytes.equals(Buffer.from(expected))).toBe(true);
        else expect(bytes.equals((await rawRequest(server.url + url)).body)).toBe(true);
        wire[acceptEncoding] += response.body.byteLength;
      }
    }
    console.log(`GraphiQL page and files on the wire (${mode}):`, wire);
    expect(wire['gzip, deflate, br, zstd']).toBeLessThan(wire['gzip, deflate']!);
    expect(wire['gzip, deflate']).toBeLessThan(wire['']! / 3);
    if (mode === 'prebuilt files') expect(wire['gzip, deflate, br, zstd']).toBeLessThan(2_000_000);
  });

  it('answers If-None-Match with 304 and HEAD without a body', async () => {
    const url = server.url + filesOf(page).find(({ url }) => url.endsWith('.css'))!.url;
    const br = { 'accept-encoding': 'gzip, deflate, br' };
    const first = await rawRequest(url, br);
    const again = await rawRequest(url, { ...br, 'if-none-match': `W/"0000000000000000", ${first.headers.etag}` });
    expect(again.status).toBe(304);
    expect(again.body.byteLength).toBe(0);
    expect(again.headers.etag).toBe(first.headers.etag);
    expect(again.headers.vary).toBe('Accept-Encoding');
    // Another coding is another representation, with another validator.
    expect((await rawRequest(url, { 'accept-encoding': 'gzip', 'if-none-match': first.headers.etag! })).status).toBe(200);

    const head = await rawRequest(url, br, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body.byteLength).toBe(0);
    expect(head.headers['content-length']).toBe(String(first.body.byteLength));
    expect(head.headers['content-encoding']).toBe('br');
  });

  it('refuses unknown files and other methods, and leaves other paths alone', async () => {
    const assets = createGraphiQLAssets({ cacheDir });
    const known = filesOf(page)[0]!.url;
    expect((await rawRequest(`${server.url}${GRAPHIQL_ASSET_PATH}graphiql.0123456789abcdef.js`)).status).toBe(404);
    expect((await rawRequest(`${server.url}${GRAPHIQL_ASSET_PATH}../package.json`)).status).toBe(404);
    expect((await rawRequest(`${server.url}${GRAPHIQL_ASSET_PATH}`)).status).toBe(404);
    const post = await rawRequest(server.url + known, {}, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect(await assets.serveAsset(new Request('http://confighub.test/graphql'))).toBeNull();
    expect(await assets.serveAsset(new Request('http://confighub.test/graphiql'))).toBeNull();
  });

  it('compresses each file at most once, off the event loop, for concurrent requests', async () => {
    const brotli = vi.spyOn(zlib, 'brotliCompress');
    const gzip = vi.spyOn(zlib, 'gzip');
    const fresh = await startGraphiQLServer(createGraphiQLAssets({ cacheDir }));
    try {
      const freshPage = (await rawRequest(`${fresh.url}/graphql`, { accept: 'text/html' })).body.toString();
      const packageFiles = filesOf(freshPage).filter(({ expected }) => expected !== undefined);
      let inFlight = true;
      const downloads = Promise.all(
        Array.from({ length: 20 }, (_, index) => rawRequest(fresh.url + packageFiles[index % packageFiles.length]!.url, { 'accept-encoding': 'gzip, deflate, br' })),
      ).finally(() => (inFlight = false));
      const latencies: number[] = [];
      while (inFlight) {
        const started = performance.now();
        expect((await rawRequest(`${fresh.url}/health`)).status).toBe(200);
        latencies.push(performance.now() - started);
      }
      const responses = await downloads;
      expect(responses.map(({ status }) => status)).toEqual(Array(20).fill(200));
      console.log(
        `/health during 20 GraphiQL downloads (${mode}): ${latencies.length} requests, worst ${Math.max(...latencies).toFixed(1)} ms, ` +
          `median ${latencies.sort((a, b) => a - b)[latencies.length >> 1]!.toFixed(1)} ms`,
      );
      // Prebuilt: read from disk, never compressed here; otherwise once per file, however many ask at once.
      expect(brotli).toHaveBeenCalledTimes(cacheDir === null ? packageFiles.length : 0);
      expect(gzip).not.toHaveBeenCalled();
    } finally {
      await fresh.close();
    }
  });
});
