// The real gateway (buildApp), in its own process. BENCH_DATABASE_URL names a PostgreSQL database;
// unset, the gateway opens embedded PGlite in memory (migrated and seeded at start). BENCH_GATEWAY_POOL
// sets the size of its PostgreSQL pool (unset: the gateway's default). It also answers the parent's
// profile requests (fanout-control.ts).
import { openDatabase } from '../../src/db/database.ts';
import { createLogger } from '../../src/logger.ts';
import { setRuntimeFlags } from '../../src/runtimeFlags.ts';
import { buildApp } from '../../src/server/app.ts';
import { announceReady, failStartup, stopWhenAsked } from './child.ts';
import { answerControlRequests } from './fanout-control.ts';
import { BENCH_ADMIN_TOKEN } from '../support/auth.ts';

try {
  // As deployed: info level, JSON lines on stdout (the parent reads them and shows warnings).
  const logger = createLogger(process.env.BENCH_LOG_LEVEL || 'info');
  const url = process.env.BENCH_DATABASE_URL || undefined;
  setRuntimeFlags({ embeddedDatabase: !url }); // as src/main.ts does
  const poolSize = process.env.BENCH_GATEWAY_POOL ? Number.parseInt(process.env.BENCH_GATEWAY_POOL, 10) : undefined;
  const database = url && poolSize ? await openDatabase({ url, poolSize, logger }) : undefined;
  const app = await buildApp({
    settings: {
      PORT: 0,
      HOST: '127.0.0.1',
      DATABASE_URL: url,
      CONFIGHUB_DATA_DIR: '',
      NODE_ENV: 'production',
      CONFIGHUB_ADMIN_TOKEN: BENCH_ADMIN_TOKEN,
    },
    logger,
    database,
    shutdownGraceMs: 2_000,
  });
  stopWhenAsked(async () => {
    await app.stop();
    await database?.close();
  });
  answerControlRequests(); // CPU profiles of a window the parent chooses (BENCH_PROFILE)
  announceReady(await app.start());
} catch (error) {
  failStartup(error);
}
