import { UnauthenticatedError } from './errors.ts';
import type { Principal } from './principal.ts';
import type { TokenStore } from './tokens.ts';

/**
 * A subscription lasts as long as the token that opened it: once the token expires or is revoked (on
 * any instance), `source` is closed and the stream fails with UnauthenticatedError, over SSE and
 * WebSocket alike. An anonymous caller's source is returned as it is (it may subscribe to nothing).
 */
export function untilTokenEnds<T>(tokens: TokenStore, viewer: Principal | null, source: AsyncGenerator<T>): AsyncGenerator<T> {
  if (!viewer) return source;
  const done = { done: true, value: undefined } as const;
  /** Why the stream failed, until the consumer has been told. */
  let failure: UnauthenticatedError | undefined;
  let closed = false;
  /** Settles a `next()` under way early: with the failure, or done when the consumer returns. */
  let interrupt: ((outcome: Interruption) => void) | undefined;

  let unwatch: (() => void) | undefined;
  const close = () => {
    closed = true;
    unwatch?.();
    source.return(undefined).catch(() => {});
  };
  // Called at once if the token has expired meanwhile: the stream then fails on its first next().
  unwatch = tokens.watch(viewer, (reason) => {
    if (closed) return;
    failure = new UnauthenticatedError(reason);
    close();
    interrupt?.(new Interruption(failure));
  });

  const stream: AsyncGenerator<T> = {
    async next() {
      if (failure) {
        const error = failure;
        failure = undefined;
        throw error;
      }
      if (closed) return done;
      const interrupted = new Promise<Interruption>((resolve) => {
        interrupt = resolve;
      });
      try {
        const result = await Promise.race([source.next(), interrupted]);
        if (result instanceof Interruption) {
          if (!result.failure) return done;
          failure = undefined;
          throw result.failure;
        }
        if (result.done) close();
        return result;
      } catch (error) {
        if (!closed) close();
        throw error;
      } finally {
        interrupt = undefined;
      }
    },
    async return() {
      if (!closed) close();
      interrupt?.(new Interruption());
      return done;
    },
    async throw(error) {
      if (!closed) close();
      interrupt?.(new Interruption());
      throw error;
    },
    [Symbol.asyncIterator]() {
      return stream;
    },
  };
  return stream;
}

/** What ends a `next()` early: the token's end (a failure), or the consumer leaving (none). */
class Interruption {
  constructor(readonly failure?: Error) {}
}
