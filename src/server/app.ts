import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServerAdapter, useCORS } from '@whatwg-node/server';
import { TokenStore } from '../access/tokens.ts';
import { type Database, openDatabase } from '../db/database.ts';
import { migrate } from '../db/migrate.ts';
import type { Settings } from '../env.ts';
import type { Logger } from '../logger.ts';
import { ConfigFeed } from '../events/feed.ts';
import { type EventBus, createInProcessBus } from '../events/bus.ts';
import { OutboxRelay } from '../events/relay.ts';
import { ConfigStore } from '../store/configStore.ts';
import { rolloutNotice } from '../store/rollouts.ts';
import { rolloutSubjectFor } from '../protocol/changes.ts';
import { clientAddressOf, createAuthenticator } from './authentication.ts';
import { HEAVY_BYTES, MAX_BODY_BYTES, readBodyWithLimit } from './body.ts';
import { describeFailure } from './failures.ts';
import { GRAPHQL_PATH, type ServerContext, corsFor, createGraphQLServer } from './graphql/yoga.ts';
import { schema } from '../graphql/index.ts';
import { KeptAnswers } from './graphql/answers.ts';
import { createGraphQLPost, knownDocuments, plainGraphQLPost } from './graphql/post.ts';
import { GRAPHIQL_ASSET_PATH, graphiqlAssets } from './graphiqlPage.ts';
import { createConsole, isConsolePath } from './consolePage.ts';
import { HeavyWork } from '../turns.ts';
import { createMetrics } from './metrics.ts';
import { createRestHandler, isRestPath, json } from './rest.ts';
import { attachGraphQLWebSocket } from './graphql/websocket.ts';

/** The settings a gateway runs with (env.ts); tests and embedders may leave out what has a default. */
type RequiredSetting = 'PORT' | 'HOST' | 'CONFIGHUB_DATA_DIR' | 'NODE_ENV';
export type AppSettings = Pick<Settings, RequiredSetting> & Partial<Omit<Settings, RequiredSetting>>;

export interface AppOptions {
  settings: AppSettings;
  logger: Logger;
  /** An open database to use instead of the one the settings name (tests). */
  database?: Database;
  /** How long `stop()` waits for in-flight requests before closing their connections. @default 10_000 */
  shutdownGraceMs?: number;
  /** Failed authentications allowed per client address per minute before it gets 429s. @default 20 */
  authFailureLimit?: number;
  /** Where a generated admin token is shown, once. @default process.stderr */
  announce?: (text: string) => void;
  /** How long an anonymous WebSocket may stay silent before it is closed. @default 30_000 */
  anonymousSocketIdleMs?: number;
}

export type App = Awaited<ReturnType<typeof buildApp>>;

/** Opens (and migrates) the database and assembles the gateway; listens only on `start()`. */
export async function buildApp(options: AppOptions) {
  const { settings, logger } = options;
  // Where the start's time went, in whole milliseconds per phase, for the `confighub listening` log line
  // (bench:start prints it). `process` is the process's age when the gateway began to be built.
  const startMs: Record<string, number> = { process: Math.round(performance.now()) };
  let lapStart = performance.now();
  const lap = (phase: string) => {
    startMs[phase] = Math.round(performance.now() - lapStart);
    lapStart = performance.now();
  };
  const database =
    options.database ??
    (await openDatabase({ url: settings.DATABASE_URL, dataDir: settings.CONFIGHUB_DATA_DIR, logger }));
  lap('database');
  await migrate(database, logger);
  lap('migrations');
  const tokens = new TokenStore(database, logger);
  await tokens.start();
  const bootstrap = await tokens.bootstrap({ adminToken: settings.CONFIGHUB_ADMIN_TOKEN, dataDir: settings.CONFIGHUB_DATA_DIR });
  if (bootstrap) {
    logger.warn({ file: bootstrap.file }, 'no admin token existed: one was generated and is shown once on stderr');
    (options.announce ?? ((text) => process.stderr.write(text)))(adminTokenNotice(bootstrap.generated, bootstrap.file));
  }
  const authenticate = createAuthenticator({ tokens, failureLimit: options.authFailureLimit, trustProxy: settings.CONFIGHUB_TRUST_PROXY });
  lap('tokens');
  const store = new ConfigStore(database, logger);
  await store.start();
  lap('store');
  // NATS's packages load only when it is used: the embedded default starts without them.
  const bus = settings.NATS_URL ? (await import('../events/natsBus.ts')).createNatsBus(settings.NATS_URL, logger) : createInProcessBus();
  // Heavy work takes turns, one piece at a time: large requests and messages, large replayed changes.
  const heavy = new HeavyWork();
  const feed = new ConfigFeed(bus, store, logger, heavy);
  feed.start();
  // A rollout's candidate goes out marked with who it is for; each move of a rollout made here is announced.
  const relay = new OutboxRelay({ db: database, publish: async (events) => bus.publish(await store.rollouts.marked(events)), publishMayFail: bus.kind === 'nats', logger });
  store.rollouts.onMoved = (rollout) => bus.announce(rolloutSubjectFor(rollout.service), rolloutNotice(rollout));
  await relay.start();
  lap('events');

  let webSockets: ReturnType<typeof attachGraphQLWebSocket> | undefined;
  const answers = new KeptAnswers(schema, store.cache);
  const metrics = createMetrics({ relay, feed, bus, batcher: store.batcher, webSocketCount: () => webSockets?.socketCount() ?? 0, keptAnswerCount: () => answers.hits });
  const corsOrigins = settings.CONFIGHUB_CORS_ORIGINS ?? [];
  const fastPaths = (settings.CONFIGHUB_FAST_PATHS ?? 'on') === 'on';
  const documents = knownDocuments();
  const yoga = createGraphQLServer({
    plugins: [documents.plugin],
    documentCache: documents.cache,
    store,
    tokens,
    feed,
    logger,
    authenticate,
    corsOrigins,
    onErrors: () => metrics.graphqlErrors.inc(),
    developmentErrors: settings.NODE_ENV === 'development',
  });
  const post = createGraphQLPost(yoga, documents, answers, authenticate, logger);
  const rest = createRestHandler({ store, authenticate });
  const webConsole = createConsole();
  lap('graphql');

  async function fetch(request: Request, serverContext: ServerContext = {}): Promise<Response> {
    try {
      const { pathname } = new URL(request.url);
      if (pathname === '/health') return json(200, { status: 'ok' });
      if (pathname === '/ready') return await readiness();
      if (pathname === '/metrics') return await metrics.render();
      if (pathname.startsWith(GRAPHIQL_ASSET_PATH)) return (await graphiqlAssets.serveAsset(request))!;
      if (isConsolePath(pathname)) return await webConsole.serve(request);
      // A body without a declared length is read here, within the limit, before anyone parses it.
      if (request.body && !request.headers.has('content-length')) {
        const body = await readBodyWithLimit(request);
        request = new Request(request.url, { method: request.method, headers: request.headers, body: body as Uint8Array<ArrayBuffer> });
      }
      if (pathname === GRAPHQL_PATH) return await yoga.fetch(request, serverContext);
      if (isRestPath(pathname)) return await rest(request, serverContext.req);
      return json(404, { error: { code: 'NO_ROUTE', message: `no route ${pathname}` } });
    } catch (error) {
      const failure = describeFailure(error);
      if (failure) {
        // A refused body may still be arriving: close the connection rather than leave it half-read.
        const headers = failure.status === 413 ? { ...failure.headers, connection: 'close' } : failure.headers;
        return json(failure.status, { error: { code: failure.code, message: failure.message, ...failure.details } }, headers);
      }
      logger.error({ err: error }, 'request failed');
      return json(500, { error: { code: 'INTERNAL', message: 'internal error' } });
    }
  }

  /**
   * Ready while the database answers. NATS away is a degraded state, not an outage (changes still reach
   * this instance's subscribers through the database's notifications): still ready, and said so. Why the
   * database did not answer (an address, say) goes to the log, not to whoever asks.
   */
  async function readiness(): Promise<Response> {
    const events = { kind: bus.kind, connected: bus.isConnected() };
    const degraded = events.connected ? undefined : 'NATS is not connected: changes reach this instance through the database; NATS subscribers wait';
    const answered = new AbortController();
    try {
      const late = sleep(READY_TIMEOUT_MS, undefined, { ref: false, signal: answered.signal }).then(() => Promise.reject(new Error('the database did not answer within 2 s')));
      await Promise.race([database.ping(), late]);
    } catch (error) {
      logger.warn({ err: error }, 'not ready: database unavailable');
      return json(503, { status: 'unavailable', reason: 'database unavailable', database: database.kind, events });
    } finally {
      // The timer goes with the probe.
      answered.abort();
    }
    return json(200, { status: 'ready', database: database.kind, events, ...(degraded ? { degraded } : {}) });
  }

  // Every other route, with the same CORS rules as GraphQL's (yoga's own plugin, from the same origins).
  const adapter = createServerAdapter<{ req: IncomingMessage; res: ServerResponse }>((request, context) => fetch(request, context), {
    plugins: [useCORS(corsFor(corsOrigins))],
  });

  /**
   * The HTTP entry. A GraphQL request takes one of two doors: the common JSON POST goes to the fast path
   * (graphql/post.ts) when fast paths are on; every other GraphQL request goes to yoga's own node
   * handler; the rest (health, REST, a body of unknown length) to `fetch`.
   */
  function handle(req: IncomingMessage, res: ServerResponse) {
    for (const [name, value] of API_HEADERS) res.setHeader(name, value);
    res.once('finish', () => metrics.requests.inc({ route: routeOf(req.url ?? '/'), method: req.method ?? 'GET', status: String(res.statusCode) }));
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ error: { code: 'PAYLOAD_TOO_LARGE', message: `request body over ${MAX_BODY_BYTES} bytes (1 MiB)` } }));
      return;
    }
    // A large body (or one of unknown length) waits for its turn among the heavy work (turns.ts).
    if (declared >= HEAVY_BYTES || req.headers['transfer-encoding'] !== undefined) {
      void heavy.run(() => new Promise<void>((resolve) => {
        res.once('close', resolve);
        dispatch(req, res);
      }));
      return;
    }
    dispatch(req, res);
  }

  function dispatch(req: IncomingMessage, res: ServerResponse) {
    const pathname = (req.url ?? '/').split('?', 1)[0]!;
    const files = pathname.startsWith(GRAPHIQL_ASSET_PATH) ? graphiqlAssets.writeAsset : isConsolePath(pathname) ? webConsole.write : null;
    if (files) {
      files(req, res).catch((error: unknown) => {
        logger.error({ err: error, path: pathname }, 'file could not be served');
        if (!res.headersSent) res.writeHead(500).end();
      });
      return;
    }
    const chunked = req.headers['transfer-encoding'] !== undefined;
    const plainType = fastPaths && !chunked ? plainGraphQLPost(req) : null;
    if (plainType) return post(req, res, plainType);
    return !chunked && pathname === GRAPHQL_PATH ? yoga(req, res) : adapter(req, res);
  }

  let server: Server | undefined;
  let stopping: Promise<void> | undefined;

  return {
    /** Answers one request in-process (tests, embedding). */
    fetch,
    store,
    tokens,
    database,
    bus,
    relay,
    feed,
    /** Distinct subscriptions executed for graphql-ws sockets (identical ones share one). */
    subscriptionGroupCount: (): number => webSockets?.groupCount() ?? 0,
    /** graphql-ws subscriptions served by those. */
    webSocketSubscriptionCount: (): number => webSockets?.memberCount() ?? 0,
    /** Answers of the direct POST path served as kept (server/graphql/answers.ts). */
    keptAnswerCount: (): number => answers.hits,
    /** Listens on HOST:PORT; resolves with the base URL. */
    async start(): Promise<string> {
      // Idle keep-alive connections outlive a client's or load balancer's (60 s is common): with Node's
      // 5 s default, a request sent on a connection the server is just closing fails ("other side closed").
      server = createServer({ keepAliveTimeout: 65_000 }, handle);
      webSockets = attachGraphQLWebSocket(server, {
        yoga,
        authenticate,
        tokens,
        logger,
        clientAddress: clientAddressOf(settings.CONFIGHUB_TRUST_PROXY),
        maxSocketsPerAddress: settings.CONFIGHUB_MAX_SOCKETS_PER_ADDRESS ?? 500,
        broadcast: fastPaths,
        heavy,
        anonymousIdleMs: options.anonymousSocketIdleMs,
      });
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(settings.PORT, settings.HOST, () => resolve());
      });
      const address = server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
      lap('listen');
      logger.info({ url, graphql: `${url}${GRAPHQL_PATH}`, database: database.kind, startMs }, 'confighub listening');
      return url;
    },
    /** Stops accepting, lets in-flight requests finish, then closes the database. Idempotent. */
    stop(): Promise<void> {
      stopping ??= (async () => {
        await webSockets?.close();
        if (server) await closeGracefully(server, options.shutdownGraceMs ?? 10_000);
        await relay.stop();
        await feed.stop();
        await bus.close();
        await store.stop();
        await tokens.stop();
        if (!options.database) await database.close();
        logger.info('confighub stopped');
      })();
      return stopping;
    },
  };
}

/** How long /ready waits for the database before it says it is unavailable. */
const READY_TIMEOUT_MS = 2_000;

/**
 * Every answer but GraphiQL's page: not to be sniffed as another type, framed by another site or kept by
 * caches (configs and tokens change).
 */
const API_HEADERS: [string, string][] = [
  ['x-content-type-options', 'nosniff'],
  ['content-security-policy', "frame-ancestors 'none'"],
  ['cache-control', 'no-store'],
  ['referrer-policy', 'no-referrer'],
];

const adminTokenNotice = (token: string, file: string | null) => `
  confighub: no admin token existed, so one was generated. It is shown this once:

      ${token}

  ${file ? `It is also in ${file} (readable by its owner only). ` : ''}Send it as "Authorization: Bearer <token>";
  create narrower tokens with the createToken mutation or \`confighub tokens create\`.

`;

/** A low-cardinality label for a request path. */
function routeOf(url: string): string {
  const pathname = url.split('?', 1)[0]!;
  if (pathname === GRAPHQL_PATH) return 'graphql';
  if (pathname.startsWith('/api/v1/config/history/')) return 'rest_history';
  if (pathname.startsWith('/api/v1/config/')) return 'rest_config';
  if (pathname === '/health' || pathname === '/ready' || pathname === '/metrics') return pathname.slice(1);
  if (isConsolePath(pathname)) return 'console';
  return 'other';
}

/** Stops accepting connections, closes idle ones as they become idle, and forces the rest after `graceMs`. */
function closeGracefully(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    const force = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearInterval(sweep);
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}
