import './nodeEnv.ts';
import { openDatabase } from './db/database.ts';
import { loadSettings } from './env.ts';
import { createLogger, routeProcessOutputTo } from './logger.ts';
import { StartupError } from './startupError.ts';

/** Starts the gateway from the environment and stops it cleanly on SIGTERM/SIGINT. */
async function main() {
  const settings = loadSettings();
  const logger = createLogger(settings.LOG_LEVEL);
  routeProcessOutputTo(logger);
  // The database opens (PGlite compiles and boots Postgres) while the rest of the gateway loads.
  const [database, { buildApp }] = await Promise.all([
    openDatabase({ url: settings.DATABASE_URL, dataDir: settings.CONFIGHUB_DATA_DIR, logger }),
    import('./server/app.ts'),
  ]);
  const app = await buildApp({ settings, logger, database }).catch(async (error: unknown) => {
    await database.close();
    throw error;
  });
  await app.start();
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    // `on`, not `once`: a second signal (a supervisor repeating itself) must not cut the shutdown short.
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      app.stop().then(
        () => database.close().then(() => process.exit(0)),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}

main().catch((error: unknown) => {
  const message = error instanceof StartupError ? error.message : (error as Error)?.stack ?? String(error);
  process.stderr.write(`confighub failed to start: ${message}\n`);
  process.exit(1);
});
