// The real gateway (buildApp) for bench/fanout.ts: embedded PGlite in memory, in-process hub, logs at
// warn. Besides "ready" it answers the parent's memory and profile requests (fanout-control.ts).
import { createLogger } from '../../src/logger.ts';
import { setRuntimeFlags } from '../../src/runtimeFlags.ts';
import { buildApp } from '../../src/server/app.ts';
import { BENCH_ADMIN_TOKEN } from '../support/auth.ts';
import { announceReady, failStartup, stopWhenAsked } from './child.ts';
import { answerControlRequests } from './fanout-control.ts';

try {
  setRuntimeFlags({ embeddedDatabase: true }); // as src/main.ts does
  const app = await buildApp({
    settings: {
      PORT: 0,
      HOST: '127.0.0.1',
      DATABASE_URL: undefined,
      // '' means no data directory: PGlite in memory (see openDatabase).
      CONFIGHUB_DATA_DIR: '',
      NODE_ENV: 'production',
      CONFIGHUB_ADMIN_TOKEN: BENCH_ADMIN_TOKEN,
      // Every subscriber comes from 127.0.0.1 here; the per-address cap (500 by default) is for the internet.
      CONFIGHUB_MAX_SOCKETS_PER_ADDRESS: 100_000,
    },
    logger: createLogger('warn'),
    shutdownGraceMs: 2_000,
  });
  answerControlRequests();
  stopWhenAsked(() => app.stop());
  announceReady(await app.start());
} catch (error) {
  failStartup(error);
}
