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
  let state: 'open' | 'failed' | 'closed' = 'open';
  let failure: UnauthenticatedError | undefined;
  let interrupt: ((error: Error) => void) | undefined;
  const close = () => {
    state = 'closed';
    unwatch();
  };
  const unwatch = tokens.watch(viewer, (reason) => {
    if (state !== 'open') return;
    failure = new UnauthenticatedError(reason);
    if (interrupt) {
      interrupt(failure);
      state = 'closed';
    } else {
      state = 'failed';
    }
    void source.return(undefined);
  });
  const done = { done: true, value: undefined } as const;
  const stream: AsyncGenerator<T> = {
    async next() {
      if (state === 'closed') return done;
      if (state === 'failed') {
        state = 'closed';
        throw failure;
      }
      const interrupted = new Promise<never>((_, reject) => {
        interrupt = reject;
      });
      try {
        const result = await Promise.race([source.next(), interrupted]);
        if (result.done) close();
        return result;
      } catch (error) {
        close();
        throw error;
      } finally {
        interrupt = undefined;
      }
    },
    async return(value) {
      close();
      await source.return(undefined);
      return { done: true, value: await value };
    },
    async throw(error) {
      close();
      return source.throw(error);
    },
    [Symbol.asyncIterator]() {
      return stream;
    },
  };
  return stream;
}
