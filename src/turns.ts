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
