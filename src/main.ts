import './nodeEnv.ts';
import { setFlagsFromString } from 'node:v8';
import { loadSettings } from './env.ts';
import { createLogger, routeProcessOutputTo } from './logger.ts';
import { buildApp } from './server/app.ts';
import { StartupError } from './startupError.ts';

/** Starts the gateway from the environment and stops it cleanly on SIGTERM/SIGINT. */
async function main() {
  const settings = loadSettings();
  // The embedded database is PostgreSQL compiled to WebAssembly. With V8's default tiering, its optimising
  // compiler recompiles hundreds of functions while the gateway starts, on the same two cores, and the main
  // thread waits on that work: a start took longer by half. With a larger budget only the functions that
  // stay hot under load are recompiled, later; the start runs on the baseline code (Liftoff).
  if (!settings.DATABASE_URL) setFlagsFromString('--wasm-tiering-budget=2000000000');
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
