// The real gateway (buildApp), in its own process. BENCH_DATABASE_URL names a PostgreSQL database;
// unset, the gateway opens embedded PGlite in memory (migrated and seeded at start).
import { createLogger } from '../../src/logger.ts';
import { buildApp } from '../../src/server/app.ts';
import { announceReady, failStartup, stopWhenAsked } from './child.ts';

try {
  const app = await buildApp({
    settings: {
      PORT: 0,
      HOST: '127.0.0.1',
      DATABASE_URL: process.env.BENCH_DATABASE_URL || undefined,
      CONFIGHUB_DATA_DIR: '',
      NODE_ENV: 'production',
    },
    // As deployed: info level, JSON lines on stdout (the parent reads them and shows warnings).
    logger: createLogger(process.env.BENCH_LOG_LEVEL || 'info'),
    shutdownGraceMs: 2_000,
  });
  stopWhenAsked(() => app.stop());
  announceReady(await app.start());
} catch (error) {
  failStartup(error);
}
