import './nodeEnv.ts';
import { loadSettings } from './env.ts';
import { createLogger, routeProcessOutputTo } from './logger.ts';
import { setRuntimeFlags } from './runtimeFlags.ts';
import { buildApp } from './server/app.ts';
import { StartupError } from './startupError.ts';

/** Starts the gateway from the environment and stops it cleanly on SIGTERM/SIGINT. */
async function main() {
  const settings = loadSettings();
  setRuntimeFlags({ embeddedDatabase: !settings.DATABASE_URL });
  const logger = createLogger(settings.LOG_LEVEL);
  routeProcessOutputTo(logger);
  const app = await buildApp({ settings, logger });
  await app.start();
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    // `on`, not `once`: a second signal (a supervisor repeating itself) must not cut the shutdown short.
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      app.stop().then(
        () => process.exit(0),
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
