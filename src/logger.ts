import { pino, type Logger } from 'pino';

export type { Logger };

/** Lines wait in memory until this much has gathered... */
const LOG_CHUNK_BYTES = 4096;
/** ...or until this long has passed. */
const LOG_FLUSH_MS = 200;

/**
 * Structured JSON logs on stdout, written asynchronously in chunks: under load one write (a system call
 * and a thread-pool round trip) carries some 25 lines instead of one (the write path logs every update),
 * and a quiet gateway's lines are out within 200 ms. What is still buffered when the process exits is
 * written synchronously (pino), so only a kill -9 can lose the last 200 ms.
 */
export function createLogger(level: string = 'info'): Logger {
  const destination = pino.destination({ dest: 1, sync: false, minLength: LOG_CHUNK_BYTES, periodicFlush: LOG_FLUSH_MS });
  return pino({ name: 'confighub', level }, destination);
}
