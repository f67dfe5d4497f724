// What the servers of bench/fanout.ts and bench/abuse.ts answer over IPC besides "ready": their memory
// after a full GC (run with --expose-gc), a CPU profile of a window the parent chooses (node:inspector,
// in-process), and how long their event loop was held in such a window, and by how long GC pauses.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { type IntervalHistogram, PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';

export type ControlRequest =
  | { type: 'memory'; id: number }
  | { type: 'profile-start'; id: number; intervalUs: number }
  | { type: 'profile-stop'; id: number; path: string }
  | { type: 'loop-start'; id: number }
  | { type: 'loop-stop'; id: number };

export interface ControlReply {
  type: 'control-reply';
  id: number;
  error?: string;
  memory?: { rss: number; heapUsed: number; external: number; arrayBuffers: number };
  /** Where the profile was written (profile-stop). */
  path?: string;
  /** Since loop-start: the longest the event loop was held, and the longest and total garbage-collector pauses, ms. */
  loop?: { maxDelayMs: number; gcMaxPauseMs: number; gcPauseTotalMs: number; gcMaxPauseKind: string };
}

const isControlRequest = (message: unknown): message is ControlRequest =>
  typeof message === 'object' && message !== null && typeof (message as ControlRequest).id === 'number' &&
  ['memory', 'profile-start', 'profile-stop', 'loop-start', 'loop-stop'].includes((message as ControlRequest).type);

type Gc = (options?: { type: 'major' | 'minor'; execution: 'sync' | 'async'; flavor?: 'regular' | 'last-resort' }) => void;

/**
 * Full GCs until the heap stops shrinking (at most 5), then a "last resort" one (what V8 does under
 * memory pressure: it also shrinks the young generation and returns pooled pages, which otherwise
 * happens some seconds later, by timer, and moves RSS by tens of MiB), then the process' memory.
 */
async function memoryAfterGc(): Promise<ControlReply['memory']> {
  const gc = (globalThis as { gc?: Gc }).gc;
  if (!gc) throw new Error('start the server with --expose-gc');
  let heap = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 5; round++) {
    gc();
    // Let finalizers and freed native buffers go before the next round.
    await new Promise((resolve) => setImmediate(resolve));
    const now = process.memoryUsage().heapUsed;
    if (now >= heap * 0.999) break;
    heap = now;
  }
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  await new Promise((resolve) => setImmediate(resolve));
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapUsed, external, arrayBuffers };
}

/** perf_hooks' GC entry kinds (constants.NODE_PERFORMANCE_GC_*). */
const GC_KINDS: Record<number, string> = { 1: 'minor', 4: 'major', 8: 'incremental', 16: 'weak callbacks' };

/** The event loop's delays (sampled every 2 ms) and the garbage collector's pauses, from start() to stop(). */
function watchLoop(): { stop(): NonNullable<ControlReply['loop']> } {
  const delays: IntervalHistogram = monitorEventLoopDelay({ resolution: 2 });
  let gcMaxPauseMs = 0;
  let gcPauseTotalMs = 0;
  let gcMaxPauseKind = '';
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.duration > gcMaxPauseMs) {
        gcMaxPauseMs = entry.duration;
        gcMaxPauseKind = GC_KINDS[((entry as { detail?: { kind?: number } }).detail)?.kind ?? 0] ?? 'other';
      }
      gcPauseTotalMs += entry.duration;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  delays.enable();
  return {
    stop() {
      delays.disable();
      observer.disconnect();
      return { maxDelayMs: delays.max / 1e6, gcMaxPauseMs, gcPauseTotalMs, gcMaxPauseKind };
    },
  };
}

export function answerControlRequests(): void {
  let session: Session | undefined;
  let loop: ReturnType<typeof watchLoop> | undefined;
  process.on('message', (message: unknown) => {
    if (!isControlRequest(message)) return;
    const reply = (fields: Omit<ControlReply, 'type' | 'id'>) => process.send?.({ type: 'control-reply', id: message.id, ...fields } satisfies ControlReply);
    void (async () => {
      switch (message.type) {
        case 'memory':
          return reply({ memory: await memoryAfterGc() });
        case 'profile-start':
          session ??= new Session();
          session.connect();
          await session.post('Profiler.enable');
          await session.post('Profiler.setSamplingInterval', { interval: message.intervalUs });
          await session.post('Profiler.start');
          return reply({});
        case 'loop-start':
          loop = watchLoop();
          return reply({});
        case 'loop-stop': {
          if (!loop) throw new Error('the loop is not watched');
          const watched = loop.stop();
          loop = undefined;
          return reply({ loop: watched });
        }
        case 'profile-stop': {
          if (!session) throw new Error('no profile is running');
          const { profile } = await session.post('Profiler.stop');
          await session.post('Profiler.disable');
          session.disconnect();
          session = undefined;
          writeFileSync(message.path, JSON.stringify(profile));
          return reply({ path: message.path });
        }
      }
    })().catch((error: unknown) => reply({ error: error instanceof Error ? error.message : String(error) }));
  });
}
