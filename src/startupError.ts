/**
 * A failure that stops the gateway before it serves, whose message says what happened and what to do:
 * `main` prints the message alone, without a stack.
 */
export class StartupError extends Error {
  override name = 'StartupError';
}
