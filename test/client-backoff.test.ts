import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, backoffCeiling, backoffDelay, pause } from '../src/client/backoff.ts';

// The retry schedule of ConfigClient (fetches and reconnects): exponential, capped, and fully jittered,
// so that a fleet restarting together spreads its retries instead of hitting the hub in waves.

const options = fc.record({
  initialMs: fc.integer({ min: 1, max: 10_000 }),
  factor: fc.double({ min: 1, max: 4, noNaN: true }),
  extraMs: fc.integer({ min: 0, max: 600_000 }),
}).map(({ initialMs, factor, extraMs }) => ({ initialMs, factor, maxMs: initialMs + extraMs }));
const attempt = fc.integer({ min: 0, max: 10_000 });
const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

describe('backoff schedule', () => {
  it('every delay is a whole number of milliseconds in [0, ceiling), and no ceiling passes maxMs', () => {
    fc.assert(
      fc.property(options, attempt, unit, (backoff, n, random) => {
        const ceiling = backoffCeiling(n, backoff);
        const delay = backoffDelay(n, backoff, () => random);
        expect(ceiling).toBeLessThanOrEqual(backoff.maxMs);
        expect(ceiling).toBeGreaterThanOrEqual(Math.min(backoff.initialMs, backoff.maxMs));
        expect(Number.isInteger(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(Math.max(ceiling, 1));
      }),
    );
  });

  it('ceilings grow with the attempt by the factor until the cap, and stay there', () => {
    fc.assert(
      fc.property(options, attempt, (backoff, n) => {
        const now = backoffCeiling(n, backoff);
        const next = backoffCeiling(n + 1, backoff);
        expect(next).toBeGreaterThanOrEqual(now);
        if (now < backoff.maxMs) expect(next).toBeCloseTo(Math.min(backoff.maxMs, now * backoff.factor), 6);
        else expect(next).toBe(backoff.maxMs);
      }),
    );
    // Defaults: 250 ms doubling to a 30 s cap, reached by the eighth retry.
    expect([0, 1, 2, 7, 100].map((n) => backoffCeiling(n))).toEqual([250, 500, 1_000, 30_000, 30_000]);
    expect(DEFAULT_BACKOFF).toEqual({ initialMs: 250, maxMs: 30_000, factor: 2 });
  });

  it('the jitter is full: the random draw spans the whole window, monotonically', () => {
    fc.assert(
      fc.property(options, attempt, unit, unit, (backoff, n, a, b) => {
        const [low, high] = a <= b ? [a, b] : [b, a];
        expect(backoffDelay(n, backoff, () => low)).toBeLessThanOrEqual(backoffDelay(n, backoff, () => high));
        expect(backoffDelay(n, backoff, () => 0)).toBe(0);
        const ceiling = backoffCeiling(n, backoff);
        expect(backoffDelay(n, backoff, () => 1 - Number.EPSILON)).toBeGreaterThanOrEqual(Math.max(0, Math.floor(ceiling) - 1));
      }),
    );
  });

  it('a fleet retrying at the same attempt spreads out (real Math.random)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 7, max: 40 }), (n) => {
        const ceiling = backoffCeiling(n);
        const delays = Array.from({ length: 1_000 }, () => backoffDelay(n));
        const mean = delays.reduce((sum, delay) => sum + delay, 0) / delays.length;
        // Uniform over [0, ceiling): mean near half, both halves used, few collisions.
        expect(mean / ceiling).toBeGreaterThan(0.4);
        expect(mean / ceiling).toBeLessThan(0.6);
        expect(delays.filter((delay) => delay < ceiling / 2).length).toBeGreaterThan(350);
        // 1,000 draws over 30,000 values: about 984 distinct when uniform.
        expect(new Set(delays).size).toBeGreaterThan(950);
      }),
      { numRuns: 20 },
    );
  });

  it('pause ends early when its signal aborts, and holds no timer afterwards', async () => {
    const controller = new AbortController();
    const started = performance.now();
    const paused = pause(60_000, controller.signal);
    controller.abort();
    await paused;
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
