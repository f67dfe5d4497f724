import { pino, type Logger } from 'pino';

export type { Logger };

/** Lines wait in memory until this much has gathered... */
const LOG_CHUNK_BYTES = 4096;
/** ...or until this long has passed. */
const LOG_FLUSH_MS = 200;

/** Structured JSON logs on stdout, written asynchronously in chunks (fewer writes under load); what is still
 * buffered at exit is written synchronously, so only a kill -9 can lose the last LOG_FLUSH_MS. */
export function createLogger(level: string = 'info'): Logger {
  const destination = pino.destination({ dest: 1, sync: false, minLength: LOG_CHUNK_BYTES, periodicFlush: LOG_FLUSH_MS });
  return pino({ name: 'confighub', level }, destination);
}

/**
 * Every line the process writes is a JSON log line: what libraries print with `console` (whatwg-node,
 * nats.js), process warnings, and an uncaught exception (logged as fatal before the process exits). For
 * the gateway's process only (main.ts), not for a library that embeds it.
 */
export function routeProcessOutputTo(logger: Logger): void {
  const format = (args: unknown[]) => args.map((arg) => (typeof arg === 'string' ? arg : arg instanceof Error ? arg.message : JSON.stringify(arg))).join(' ');
  const errorOf = (args: unknown[]) => args.find((arg): arg is Error => arg instanceof Error);
  console.log = console.info = (...args: unknown[]) => logger.info(format(args));
  console.debug = console.trace = (...args: unknown[]) => logger.debug(format(args));
  console.warn = (...args: unknown[]) => logger.warn({ err: errorOf(args) }, format(args));
  console.error = (...args: unknown[]) => logger.error({ err: errorOf(args) }, format(args));
  process.on('warning', (warning) => logger.warn({ err: warning }, warning.message));
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception; exiting');
    logger.flush();
    process.exit(1);
  });
}
