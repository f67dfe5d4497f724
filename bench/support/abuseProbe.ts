// The parent's side of the /health prober (bench/servers/abuseProber.ts): starts it, marks phases,
// and summarizes the latencies it measured.
import { setPriority } from 'node:os';
import { type ForkedChild, forkChild, serverScript } from './children.ts';

export type ProbeRequest = { type: 'probe-start'; id: number } | { type: 'probe-end'; id: number };

export interface ProbeReply {
  type: 'probe-reply';
  id: number;
  /** probe-end: each /health latency of the phase, ms, in order. */
  latencies?: number[];
  /** probe-end: probes not answered 200 (errors, timeouts). */
  failures?: number;
  /** probe-end: the prober's own worst event loop delay in the phase, ms (its CPU starvation). */
  ownDelayMaxMs?: number;
}

/** /health as seen during one phase. */
export interface ProbeStats {
  count: number;
  failures: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Probes slower than the goal. */
  over: number;
  ownDelayMaxMs: number;
}

export interface Prober {
  child: ForkedChild;
  /** Starts a phase: latencies from now on are its own. */
  start(): Promise<void>;
  /** Ends the phase (after the probe in flight is answered) and summarizes it against `goalMs`. */
  end(goalMs: number): Promise<ProbeStats>;
}

let requestId = 0;

function ask(child: ForkedChild, type: ProbeRequest['type']): Promise<ProbeReply> {
  const id = ++requestId;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.process.off('message', onMessage);
      reject(new Error(`prober: no answer to ${type} within 30 s`));
    }, 30_000);
    const onMessage = (message: unknown) => {
      const reply = message as ProbeReply;
      if (reply?.type !== 'probe-reply' || reply.id !== id) return;
      clearTimeout(timer);
      child.process.off('message', onMessage);
      resolve(reply);
    };
    child.process.on('message', onMessage);
    child.process.send({ type, id } satisfies ProbeRequest);
  });
}

/**
 * Forks the prober against `gatewayUrl`; resolves once a first /health was answered. It is the instrument:
 * given `nice` (below 0 needs root; where that is refused it keeps 0), so that its own turn on a busy CPU
 * does not add to the latencies it reads. It asks for a few bytes every few milliseconds.
 */
export async function startProber(gatewayUrl: string, intervalMs: number, nice = 0): Promise<Prober & { nice: number }> {
  const child = await forkChild('prober', serverScript('abuseProber.ts'), {
    env: { BENCH_PROBE_TARGET: gatewayUrl, BENCH_PROBE_INTERVAL_MS: String(intervalMs) },
  });
  let given = 0;
  try {
    setPriority(child.pid, nice);
    given = nice;
  } catch {
    // Not permitted (not root): equal shares.
  }
  return {
    child,
    nice: given,
    start: async () => {
      await ask(child, 'probe-start');
    },
    end: async (goalMs) => summarize(await ask(child, 'probe-end'), goalMs),
  };
}

function summarize(reply: ProbeReply, goalMs: number): ProbeStats {
  const latencies = [...(reply.latencies ?? [])].sort((a, b) => a - b);
  const at = (q: number) => (latencies.length === 0 ? Number.NaN : latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!);
  return {
    count: latencies.length,
    failures: reply.failures ?? 0,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: latencies.length === 0 ? Number.NaN : latencies[latencies.length - 1]!,
    over: latencies.filter((latency) => latency > goalMs).length,
    ownDelayMaxMs: reply.ownDelayMaxMs ?? Number.NaN,
  };
}
