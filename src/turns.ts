/**
 * Turns of the event loop for work that costs it milliseconds: parsing a large body, completing a long
 * list, writing out a large answer. `nextTurn()` resolves in a turn of the event loop of its own, after
 * the I/O waiting now (a probe, a small request), and only one waiter per turn, in the order they asked:
 * four large requests that arrive together are worked on in four turns, with everything else going
 * between them, instead of one after another in one turn (as four bare `setImmediate`s would be).
 * The work that follows the awaited turn runs in it up to its next wait for I/O.
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
