import { afterAll, beforeAll } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { type App, type AppSettings, buildApp } from '../../src/server/app.ts';
import { type Backend, type TestDatabase, openTestDatabase } from './databases.ts';

export interface TestApp {
  app: App;
  db: TestDatabase;
  /** The bootstrap admin token (CONFIGHUB_ADMIN_TOKEN) this gateway was started with. */
  adminToken: string;
  /** Sends one GraphQL operation through yoga in-process, as the admin unless `headers` carry another authorization; returns the parsed body. */
  graphql<T = any>(query: string | { toString(): string }, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<{ data?: T; errors?: { message: string; extensions?: Record<string, unknown> }[] }>;
  close(): Promise<void>;
}

/**
 * The bootstrap admin token (CONFIGHUB_ADMIN_TOKEN) of every test gateway, in-process or a child
 * process: gateways sharing a database must agree on it, or each start would rotate it.
 */
export const TEST_ADMIN_TOKEN = 'chub_test-admin-token-of-every-test-gateway';
/** The header that makes a request the test admin's. */
export const adminAuth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } as const;

export const silentLogger = createLogger('silent');

export const testSettings = {
  PORT: 0,
  HOST: '127.0.0.1',
  DATABASE_URL: undefined,
  CONFIGHUB_DATA_DIR: '',
  NODE_ENV: 'test',
};

/** A gateway on a fresh database of the given kind, answering in-process (and over HTTP after start()). */
export async function createTestApp(
  backend: Backend,
  options: {
    onQuery?: (sql: string) => void;
    natsUrl?: string;
    database?: TestDatabase;
    authFailureLimit?: number;
    trustProxy?: string;
    /** Settings beside the test defaults (CORS origins, fast paths, socket limits...). */
    settings?: Partial<AppSettings>;
    anonymousSocketIdleMs?: number;
  } = {},
): Promise<TestApp> {
  const db = options.database ?? (await openTestDatabase(backend, options));
  const adminToken = TEST_ADMIN_TOKEN;
  const settings = { ...testSettings, NATS_URL: options.natsUrl, CONFIGHUB_ADMIN_TOKEN: adminToken, CONFIGHUB_TRUST_PROXY: options.trustProxy, ...options.settings };
  const app = await buildApp({
    settings,
    logger: silentLogger,
    database: db,
    shutdownGraceMs: 2000,
    authFailureLimit: options.authFailureLimit,
    anonymousSocketIdleMs: options.anonymousSocketIdleMs,
  });
  return {
    app,
    db,
    adminToken,
    async graphql(query, variables, headers = {}) {
      const response = await app.fetch(
        new Request('http://confighub.test/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}`, ...headers },
          body: JSON.stringify({ query: String(query), variables }),
        }),
      );
      return response.json() as never;
    },
    async close() {
      await app.stop();
      if (!options.database) await db.close();
    },
  };
}

/**
 * A test gateway for the enclosing `describe` (or file): made in its beforeAll, closed in its afterAll.
 * Its members are there from the first test on.
 */
export function useTestApp(backend: Backend, options: Parameters<typeof createTestApp>[1] = {}): TestApp {
  const testApp = {} as TestApp;
  beforeAll(async () => {
    Object.assign(testApp, await createTestApp(backend, options));
  });
  afterAll(async () => {
    await testApp.close?.();
  });
  return testApp;
}
