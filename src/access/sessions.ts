import { UnauthenticatedError } from './errors.ts';
import type { Principal } from './principal.ts';
import type { TokenStore } from './tokens.ts';

/** A stream its owner can end (events/changeStream.ts). */
interface Endable {
  end(error?: Error): void;
  whenEnded(callback: () => void): void;
}

/**
 * A subscription lasts as long as the token that opened it: once the token expires or is revoked (on
 * any instance), the stream ends with an UnauthenticatedError, over SSE and WebSocket alike. An
 * anonymous caller's stream is returned as it is (it may subscribe to nothing).
 */
export function untilTokenEnds<T extends Endable>(tokens: TokenStore, viewer: Principal | null, stream: T): T {
  if (!viewer) return stream;
  // Called at once if the token has expired meanwhile: the stream then fails on its first read.
  const unwatch = tokens.watch(viewer, (reason) => stream.end(new UnauthenticatedError(reason)));
  stream.whenEnded(unwatch);
  return stream;
}
