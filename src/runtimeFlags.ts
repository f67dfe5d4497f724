import { setFlagsFromString } from 'node:v8';

/**
 * V8 settings of the gateway's process, set by its entry point before the gateway is built (V8 reads them
 * when it decides, not only at start).
 * - Marking of the old generation starts once it holds half of its limit (in a task) and at three quarters
 *   at the latest, rather than when it reaches the limit. A request that allocates fast (a large document)
 *   would otherwise fill the rest before the concurrent markers finish, and the main thread would finish
 *   their marking in one pause of tens of milliseconds, which every request waits out.
 * - On the embedded database (PostgreSQL compiled to WebAssembly), V8's optimising compiler would
 *   recompile hundreds of its functions while the gateway starts, on the same cores, and the main thread
 *   waits on that work. With a larger budget only the functions that stay hot under load are recompiled,
 *   later; the start runs on the baseline code (Liftoff).
 */
export function setRuntimeFlags({ embeddedDatabase }: { embeddedDatabase: boolean }): void {
  setFlagsFromString('--incremental-marking-soft-trigger=50');
  setFlagsFromString('--incremental-marking-hard-trigger=75');
  if (embeddedDatabase) setFlagsFromString('--wasm-tiering-budget=2000000000');
}
