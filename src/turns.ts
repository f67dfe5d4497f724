/**
 * Turns of the event loop for work that costs it milliseconds: `nextTurn()` resolves in a turn of its own,
 * one waiter per turn in the order they asked, so other I/O (probes, small requests) goes between them.
 */
const waiting: (() => void)[] = [];
let scheduled = false;

export function nextTurn(): Promise<void> {
  return new Promise((resolve) => {
    waiting.push(resolve);
    if (!scheduled) schedule();
  });
}

function schedule(): void {
  scheduled = true;
  setImmediate(grant);
}

function grant(): void {
  scheduled = false;
  waiting.shift()?.();
  // Queued while the event loop runs its immediates: runs in the next turn, after the I/O of that turn.
  if (waiting.length > 0) schedule();
}

/** The longest one piece of heavy work keeps the others waiting (a slow sender or reader does not hold the queue). */
export const HEAVY_TURN_MS = 1000;

/**
 * Heavy work (a large request, a large replayed change) takes turns: one piece at a time in the process,
 * each starting in a turn of the event loop of its own, so that small requests and probes go between them
 * and no more than one large document is being worked on at any moment. A piece ends when its work does,
 * or after HEAVY_TURN_MS.
 */
export class HeavyWork {
  private tail: Promise<void> = Promise.resolve();

  /** Waits for the heavy work before this to end; resolves, in a turn of its own, with the function that ends this piece. */
  start(): Promise<() => void> {
    const turn = this.tail.then(nextTurn);
    let end = () => {};
    this.tail = turn.then(
      () =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, HEAVY_TURN_MS);
          end = () => {
            clearTimeout(timer);
            resolve();
          };
        }),
    );
    return turn.then(() => () => end());
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    const end = await this.start();
    try {
      return await work();
    } finally {
      end();
    }
  }
}
