// The /health prober of bench/abuse.ts, in its own process so that the attacker's CPU in the parent
// does not delay it: every BENCH_PROBE_INTERVAL_MS (10) it sends GET /health over one keep-alive
// connection to BENCH_PROBE_TARGET, unless the last probe is still unanswered (that one is then
// measuring the stall), and keeps each latency for the phase the parent names (abuseProbe.ts). It
// also measures its own event loop's delay, so that a probe delayed by this process being starved of
// CPU (a shared, busy machine) can be told from one the gateway held.
import net from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { ProbeReply, ProbeRequest } from '../support/abuseProbe.ts';
import { nextResponse } from '../support/httpResponses.ts';
import { announceReady, failStartup, stopWhenAsked } from './child.ts';

const INTERVAL_MS = Number(process.env.BENCH_PROBE_INTERVAL_MS || 10);
/** A probe unanswered for this long is counted as this long and its connection replaced. */
const PROBE_TIMEOUT_MS = 60_000;

const target = new URL(process.env.BENCH_PROBE_TARGET ?? '');
const requestText = `GET /health HTTP/1.1\r\nhost: ${target.host}\r\nconnection: keep-alive\r\n\r\n`;

let socket: net.Socket | undefined;
let buffer = '';
/** When the probe in flight was written (performance.now()), or undefined when none is. */
let sentAt: number | undefined;
let timeout: NodeJS.Timeout | undefined;
/** Called when the probe in flight has been answered (or failed). */
let settled: (() => void) | undefined;

/** The phase being measured: its latencies, and failures; null between phases. */
let phase: { latencies: number[]; failures: number } | null = null;
const ownDelay = monitorEventLoopDelay({ resolution: 5 });
ownDelay.enable();

function connect(): void {
  buffer = '';
  socket = net.connect(Number(target.port), target.hostname);
  socket.setNoDelay(true);
  socket.setEncoding('latin1');
  socket.on('data', onData);
  socket.on('error', () => finish(false));
  socket.on('close', () => {
    socket = undefined;
    if (sentAt !== undefined) finish(false);
  });
}

function probe(): void {
  if (sentAt !== undefined) return;
  if (!socket || socket.destroyed) connect();
  sentAt = performance.now();
  timeout = setTimeout(() => {
    socket?.destroy();
    finish(false);
  }, PROBE_TIMEOUT_MS);
  socket!.write(requestText);
}

function finish(answered: boolean): void {
  if (sentAt === undefined) return;
  const latency = performance.now() - sentAt;
  sentAt = undefined;
  clearTimeout(timeout);
  if (phase) {
    phase.latencies.push(latency);
    if (!answered) phase.failures++;
  }
  const done = settled;
  settled = undefined;
  done?.();
}

function onData(chunk: string): void {
  buffer += chunk;
  for (let next = nextResponse(buffer); next !== 'incomplete'; next = nextResponse(buffer)) {
    if (next === 'unreadable') {
      socket?.destroy();
      finish(false);
      return;
    }
    buffer = next.rest;
    finish(next.status === 200);
  }
}

const isProbeRequest = (message: unknown): message is ProbeRequest =>
  typeof message === 'object' && message !== null && typeof (message as ProbeRequest).id === 'number' &&
  ((message as ProbeRequest).type === 'probe-start' || (message as ProbeRequest).type === 'probe-end');

process.on('message', (message: unknown) => {
  if (!isProbeRequest(message)) return;
  const reply = (fields: Omit<ProbeReply, 'type' | 'id'>) => process.send?.({ type: 'probe-reply', id: message.id, ...fields } satisfies ProbeReply);
  if (message.type === 'probe-start') {
    phase = { latencies: [], failures: 0 };
    ownDelay.reset();
    reply({});
    return;
  }
  // The probe in flight belongs to the phase ending: a stall its last requests caused shows in it.
  const close = () => {
    const ended = phase ?? { latencies: [], failures: 0 };
    phase = null;
    reply({ latencies: ended.latencies, failures: ended.failures, ownDelayMaxMs: ownDelay.max / 1e6 });
  };
  if (sentAt === undefined) close();
  else settled = close;
});

try {
  const ticker = setInterval(probe, INTERVAL_MS);
  stopWhenAsked(async () => {
    clearInterval(ticker);
    socket?.destroy();
  });
  // Ready once the gateway has answered a first probe.
  await new Promise<void>((resolve) => {
    settled = resolve;
    probe();
  });
  announceReady(target.origin);
} catch (error) {
  failStartup(error);
}
