import { nextTurn } from '../turns.ts';

/** Request bodies and WebSocket messages this large take turns (see HeavyWork). */
export const HEAVY_BYTES = 64 * 1024;

/** A GraphQL document (HTTP) or WebSocket message this long is worked on in a turn of its own (turns.ts):
 * parsing and validating it costs milliseconds; shorter ones cost too little to matter. */
export const LONG_TEXT_CHARS = 2 * 1024;

/** The longest one large request keeps the others waiting (a slow sender does not hold the queue). */
export const HEAVY_TURN_MS = 1000;

/** Work on a large request (HEAVY_BYTES or more) takes turns: one at a time, each in a turn of the event loop
 * of its own, so small requests and probes go between them; a turn ends with the work or after HEAVY_TURN_MS. */
export class HeavyWork {
  private tail: Promise<void> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.tail.then(nextTurn);
    const result = turn.then(work);
    this.tail = turn.then(() => endOfTurn(result));
    return result;
  }
}

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
