import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { log } from './log.ts';

/** The downloader's own database: the daily bars it keeps and a record of each gap check. */
export interface BarStore {
  /** Missing weekday bars of the symbols within the last `lookbackDays`, oldest first. */
  findGaps(symbols: string[], lookbackDays: number): Promise<{ symbol: string; day: string }[]>;
  /** Stores bars for the given (symbol, day) pairs (here: synthetic ones; the real service downloads them). */
  fillBars(bars: { symbol: string; day: string }[]): Promise<number>;
  recordCheck(check: GapCheckRecord): Promise<void>;
  close(): Promise<void>;
}

export interface GapCheckRecord {
  configVersion: number | null;
  intervalHours: number;
  batchSize: number;
  gapsFound: number;
  barsFilled: number;
}

interface Queryable {
  query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS daily_bars (
     symbol text NOT NULL, day date NOT NULL, open numeric NOT NULL, close numeric NOT NULL, volume bigint NOT NULL,
     PRIMARY KEY (symbol, day))`,
  `CREATE TABLE IF NOT EXISTS gap_checks (
     id bigserial PRIMARY KEY, checked_at timestamptz NOT NULL DEFAULT now(), config_version integer,
     interval_hours double precision NOT NULL, batch_size integer NOT NULL, gaps_found integer NOT NULL, bars_filled integer NOT NULL)`,
];

/**
 * Opens the database named by DATABASE_URL (the service's own credentials, from its environment); with
 * none, an in-memory PGlite database so the demo runs anywhere.
 */
export async function openBarStore(databaseUrl: string | undefined): Promise<BarStore> {
  let db: Queryable;
  let close: () => Promise<void>;
  if (databaseUrl) {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    pool.on('error', (error) => log('database connection error', { error: error.message }, 'warn'));
    db = pool as unknown as Queryable;
    close = () => pool.end();
  } else {
    log('no DATABASE_URL: keeping bars in an in-memory PGlite database (demo)');
    const pglite = new PGlite();
    db = pglite as unknown as Queryable;
    close = () => pglite.close();
  }
  for (const statement of SCHEMA) await db.query(statement);

  return {
    async findGaps(symbols, lookbackDays) {
      const { rows } = await db.query<{ symbol: string; day: string }>(
        `SELECT s.symbol, to_char(d, 'YYYY-MM-DD') AS day
           FROM unnest($1::text[]) AS s(symbol)
          CROSS JOIN generate_series(current_date - $2::int, current_date - 1, interval '1 day') AS d
          WHERE extract(isodow FROM d) < 6
            AND NOT EXISTS (SELECT 1 FROM daily_bars b WHERE b.symbol = s.symbol AND b.day = d::date)
          ORDER BY d, s.symbol`,
        [symbols, lookbackDays],
      );
      return rows;
    },
    async fillBars(bars) {
      if (bars.length === 0) return 0;
      // Synthetic prices: this example shows configuration, not market data.
      const { rows } = await db.query<{ filled: number }>(
        `WITH inserted AS (
           INSERT INTO daily_bars (symbol, day, open, close, volume)
           SELECT symbol, day::date, 100 + length(symbol), 101 + length(symbol), 1000000
             FROM unnest($1::text[], $2::text[]) AS t(symbol, day)
           ON CONFLICT DO NOTHING RETURNING 1)
         SELECT count(*)::int AS filled FROM inserted`,
        [bars.map((bar) => bar.symbol), bars.map((bar) => bar.day)],
      );
      return rows[0]?.filled ?? 0;
    },
    async recordCheck(check) {
      await db.query(
        `INSERT INTO gap_checks (config_version, interval_hours, batch_size, gaps_found, bars_filled) VALUES ($1, $2, $3, $4, $5)`,
        [check.configVersion, check.intervalHours, check.batchSize, check.gapsFound, check.barsFilled],
      );
    },
    close,
  };
}
