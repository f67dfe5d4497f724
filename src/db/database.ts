import path from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { PrismaPg } from '@prisma/adapter-pg';
import type pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaClient } from '../generated/prisma/client.ts';
import type { Logger } from '../logger.ts';
import { DataDirLock } from './dataDirLock.ts';
import { seedFromPreparedImage } from './preparedImage.ts';

export type { PrismaClient };

/** Plain SQL on one connection: multi-statement scripts (migrations), operators' statements in tests. */
export interface SqlSession {
  exec(sql: string): Promise<void>;
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>;
}

export interface Database {
  readonly kind: 'pglite' | 'postgres';
  readonly prisma: PrismaClient;
  /** Runs `work` on one dedicated connection. */
  session<T>(work: (sql: SqlSession) => Promise<T>): Promise<T>;
  /** Runs `work` in one transaction on one connection: committed if it resolves, rolled back if it throws. */
  transaction<T>(work: (sql: SqlSession) => Promise<T>): Promise<T>;
  /**
   * One parameterised statement straight through the driver, for the hot paths (an audited write, the
   * outbox relay), where Prisma's per-query cost would dominate. With `name`, PostgreSQL keeps it
   * prepared on each connection (parsed once; give one name to one SQL text only).
   */
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[], options?: QueryOptions): Promise<Row[]>;
  /**
   * LISTENs on a channel; resolves once listening, with a function that stops it. `onGap` is called
   * when notifications may have been missed (the LISTEN connection was lost and is back): whatever the
   * listener keeps up to date from them must be read afresh.
   */
  listen(channel: string, onNotify: (payload: string) => void, onGap?: () => void): Promise<() => Promise<void>>;
  /** Throws when the database does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface QueryOptions {
  /** A prepared statement's name. */
  name?: string;
}

export interface DatabaseOptions {
  /** A PostgreSQL connection string; unset means PGlite. */
  url?: string;
  /** Where PGlite keeps its files; unset means in memory. */
  dataDir?: string;
  /** A PGlite instance to use instead of opening one (tests share one per file). */
  pglite?: PGlite;
  /** Pool size for PostgreSQL. @default 10 */
  poolSize?: number;
  /** Called with each SQL statement Prisma or `query()` issues (tests count them). */
  onQuery?: (sql: string) => void;
  logger?: Logger;
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.url ? openPostgres(options.url, options) : openPglite(options);
}

function createPrisma(adapter: PrismaPg | PrismaPGlite, onQuery?: (sql: string) => void): PrismaClient {
  if (!onQuery) return new PrismaClient({ adapter });
  const prisma = new PrismaClient({ adapter, log: [{ emit: 'event', level: 'query' }] });
  prisma.$on('query', (event) => onQuery(event.query));
  return prisma;
}

/** The embedded database's settings: 16 MB of shared buffers, not 128 (configs are small): opens faster, holds less. */
const EMBEDDED_POSTGRES_CONF = ['shared_buffers=16MB'];

async function openPglite(options: DatabaseOptions): Promise<Database> {
  let pglite = options.pglite;
  const owned = !pglite;
  // One process per data directory (dataDirLock.ts): taken before PGlite reads a file, held until close().
  let lock: DataDirLock | undefined;
  if (!pglite && options.dataDir) {
    lock = await DataDirLock.acquire(options.dataDir, { logger: options.logger });
  }
  try {
    if (lock) seedFromPreparedImage(path.join(lock.directory, 'pgdata'), options.logger);
    pglite ??= new PGlite(lock ? path.join(lock.directory, 'pgdata') : undefined, { postgresqlconf: EMBEDDED_POSTGRES_CONF });
    await pglite.waitReady;
  } catch (error) {
    lock?.release();
    throw error;
  }
  const db = pglite;
  const prisma = createPrisma(new PrismaPGlite(db), options.onQuery);
  const sessionOf = (connection: Pick<Transaction, 'exec' | 'query'>): SqlSession => ({
    async exec(sql) {
      await connection.exec(sql);
    },
    async query<Row>(sql: string, params?: unknown[]) {
      return (await connection.query<Row>(sql, params)).rows;
    },
  });
  const session = sessionOf(db);
  return {
    kind: 'pglite',
    prisma,
    session: (work) => work(session),
    transaction: (work) => db.transaction((tx) => work(sessionOf(tx))),
    query: <Row>(sql: string, params?: unknown[]) => {
      options.onQuery?.(sql);
      return session.query<Row>(sql, params);
    },
    async listen(channel, onNotify) {
      const unlisten = await db.listen(channel, onNotify);
      return async () => {
        if (!db.closed) await unlisten();
      };
    },
    async ping() {
      await db.query('SELECT 1');
    },
    async close() {
      try {
        await prisma.$disconnect();
        if (owned && !db.closed) await db.close();
      } finally {
        lock?.release();
      }
    },
  };
}

async function openPostgres(url: string, options: DatabaseOptions): Promise<Database> {
  // Loaded only here: the embedded default starts without them.
  const [{ PrismaPg }, { default: pg }] = await Promise.all([import('@prisma/adapter-pg'), import('pg')]);
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10 });
  pool.on('error', (error) => options.logger?.warn({ err: error }, 'idle PostgreSQL connection failed'));
  const prisma = createPrisma(new PrismaPg(pool), options.onQuery);
  const listener = new PostgresListener(url, pg.Client, options.logger);
  const sessionOf = (client: pg.PoolClient): SqlSession => ({
    async exec(sql) {
      await client.query(sql);
    },
    async query<Row>(sql: string, params?: unknown[]) {
      return (await client.query(sql, params)).rows as Row[];
    },
  });
  return {
    kind: 'postgres',
    prisma,
    async session(work) {
      const client = await pool.connect();
      try {
        return await work(sessionOf(client));
      } finally {
        client.release();
      }
    },
    async transaction(work) {
      const client = await pool.connect();
      let broken = false;
      let begun = false;
      // BEGIN travels with the transaction's first statement when that one has no parameters (the simple
      // protocol takes several statements in one message): one round trip fewer for the outbox relay,
      // which runs a short transaction for every few changes.
      const session: SqlSession = {
        async exec(sql) {
          if (!begun) {
            begun = true;
            await client.query(`BEGIN;\n${sql}`);
            return;
          }
          await client.query(sql);
        },
        async query<Row>(sql: string, params?: unknown[]) {
          if (!begun) {
            begun = true;
            if (!params || params.length === 0) {
              const results = (await client.query(`BEGIN;\n${sql}`)) as unknown as pg.QueryResult | pg.QueryResult[];
              return (Array.isArray(results) ? results[results.length - 1]!.rows : results.rows) as Row[];
            }
            await client.query('BEGIN');
          }
          return (await client.query(sql, params)).rows as Row[];
        },
      };
      try {
        const result = await work(session);
        if (begun) await client.query('COMMIT');
        return result;
      } catch (error) {
        if (begun) {
          await client.query('ROLLBACK').catch(() => {
            broken = true;
          });
        }
        throw error;
      } finally {
        client.release(broken);
      }
    },
    async query<Row>(sql: string, params?: unknown[], queryOptions?: QueryOptions) {
      options.onQuery?.(sql);
      const result = queryOptions?.name ? await pool.query({ name: queryOptions.name, text: sql, values: params }) : await pool.query(sql, params);
      return result.rows as Row[];
    },
    listen: (channel, onNotify, onGap) => listener.listen(channel, onNotify, onGap),
    async ping() {
      await pool.query('SELECT 1');
    },
    async close() {
      await prisma.$disconnect();
      await listener.stop();
      await pool.end();
    },
  };
}

/** One listener of a channel: its notifications, and the news that some may have been missed. */
interface Listener {
  onNotify: (payload: string) => void;
  onGap?: () => void;
}

/**
 * One LISTEN connection per database, shared by every channel and listener of this process (the store,
 * the schemas, the relay), and brought back, with its channels, after the server drops it.
 */
class PostgresListener {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private readonly channels = new Map<string, Set<Listener>>();
  /** Set once a connection was lost: the next one tells every listener it may have missed notifications. */
  private lost = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: string,
    private readonly Client: typeof pg.Client,
    private readonly logger?: Logger,
  ) {}

  /** Resolves once the server delivers `channel` to `onNotify`; returns what stops it. */
  async listen(channel: string, onNotify: (payload: string) => void, onGap?: () => void): Promise<() => Promise<void>> {
    const first = !this.channels.has(channel);
    const callbacks = this.channels.get(channel) ?? this.channels.set(channel, new Set()).get(channel)!;
    const listener: Listener = { onNotify, onGap };
    callbacks.add(listener);
    const client = await this.connection();
    if (first) await client.query(`LISTEN ${quoteIdentifier(channel)}`);
    return async () => {
      callbacks.delete(listener);
      if (callbacks.size > 0 || this.channels.get(channel) !== callbacks) return;
      this.channels.delete(channel);
      await this.client?.query(`UNLISTEN ${quoteIdentifier(channel)}`).catch(() => {});
    };
  }

  private connection(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<pg.Client> {
    const client = new this.Client({ connectionString: this.url });
    client.on('notification', (message) => {
      for (const listener of this.channels.get(message.channel) ?? []) listener.onNotify(message.payload ?? '');
    });
    client.on('error', (error) => {
      this.logger?.warn({ err: error }, 'LISTEN connection lost; reconnecting');
      this.reconnectSoon();
    });
    client.on('end', () => this.reconnectSoon());
    await client.connect();
    for (const channel of this.channels.keys()) await client.query(`LISTEN ${quoteIdentifier(channel)}`);
    this.client = client;
    if (this.lost) {
      this.lost = false;
      this.logger?.info('LISTEN connection back: listeners read afresh what they follow');
      for (const listeners of this.channels.values()) for (const listener of listeners) listener.onGap?.();
    }
    return client;
  }

  private reconnectSoon(): void {
    if (this.stopped || this.retryTimer) return;
    this.client = undefined;
    this.lost = true;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connection().catch((error: unknown) => {
        this.logger?.warn({ err: error }, 'LISTEN reconnect failed; retrying');
        this.reconnectSoon();
      });
    }, 1000).unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.client?.end().catch(() => {});
  }
}

const quoteIdentifier = (name: string) => `"${name.replaceAll('"', '""')}"`;
