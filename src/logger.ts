import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stdout. Written asynchronously: lines logged while a write is under way go out
 * together in the next one (one system call per burst instead of one per line, which the write path
 * paid per update); pino flushes what is left synchronously when the process exits.
 */
export function createLogger(level: string = 'info'): Logger {
  return pino({ name: 'confighub', level }, pino.destination({ dest: 1, sync: false }));
}
