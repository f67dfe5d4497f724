import { setTimeout as sleep } from 'node:timers/promises';

// Retry delays: exponential backoff with full jitter, capped. A fleet that restarts together spreads
// its retries over the whole window instead of hitting the hub in waves.

/** How retries are spaced. */
export interface BackoffOptions {
  /** The ceiling of the first delay. @default 250 */
  initialMs?: number;
  /** No delay exceeds this. @default 30_000 // 30 seconds */
  maxMs?: number;
  /** How much the ceiling grows per attempt. @default 2 */
  factor?: number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = { initialMs: 250, maxMs: 30_000, factor: 2 };

/** The ceiling of the delay before retry number `attempt` (0 for the first retry). */
export function backoffCeiling(attempt: number, options: BackoffOptions = {}): number {
  const { initialMs, maxMs, factor } = { ...DEFAULT_BACKOFF, ...options };
  const ceiling = initialMs * Math.pow(factor, Math.max(0, attempt));
  // A long outage overflows the power to Infinity: that is the cap too.
  return Math.min(maxMs, Number.isFinite(ceiling) ? ceiling : maxMs);
}

/**
 * The delay before retry number `attempt`: uniform in [0, ceiling) ("full jitter"), whole milliseconds.
 * `random` returns a number in [0, 1) (tests pass their own).
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  return Math.floor(random() * backoffCeiling(attempt, options));
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects); the timer does not hold the process. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return sleep(ms, undefined, { signal, ref: false }).catch(() => {});
}
