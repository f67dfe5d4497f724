/** Request bodies and WebSocket messages this large take turns (see HeavyWork). */
export const HEAVY_BYTES = 64 * 1024;

/** The longest one large request keeps the others waiting (a slow sender does not hold the queue). */
export const HEAVY_TURN_MS = 1000;

/**
 * Work on a large request (a body or message of HEAVY_BYTES or more) costs the event loop milliseconds to
 * parse, walk and write out; several at once made `/health` wait for all of them. Such work takes turns:
 * one at a time, each started in a turn of the event loop of its own, so that everything else, small
 * requests and probes, goes between them. A turn ends when the work does, or after HEAVY_TURN_MS.
 */
export class HeavyWork {
  private tail: Promise<void> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.tail.then(aTurn);
    const result = turn.then(work);
    this.tail = turn.then(() => endOfTurn(result));
    return result;
  }
}

/** Resolves in a later turn of the event loop, after the I/O waiting now (a probe, a small request). */
export const aTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** When the work is done or HEAVY_TURN_MS have passed, whichever comes first. */
function endOfTurn(work: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, HEAVY_TURN_MS);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    work.then(done, done);
  });
}
