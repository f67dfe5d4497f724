// Load generation with autocannon's programmatic API, run from the parent process.
import autocannon from 'autocannon';
import { benchAuth } from './auth.ts';

export interface LoadSpec {
  /** Full URL of the endpoint. */
  url: string;
  connections: number;
  seconds: number;
  /** A fixed POST body (JSON), or `requests` for bodies built per request. */
  body?: string;
  requests?: autocannon.Request[];
  /** Every response must be exactly this (counted as failures otherwise). */
  expectBody?: string;
  /** Every response must pass this (counted as failures otherwise). */
  verifyBody?: (body: string) => boolean;
}

export interface LoadResult {
  /** Successful responses (2xx, body as expected) per second of the run. */
  requestsPerSecond: number;
  succeeded: number;
  /** Non-2xx responses, unexpected bodies, connection errors and timeouts. */
  failed: number;
  p50Ms: number;
  p99Ms: number;
  averageMs: number;
  seconds: number;
}

const REQUEST_TIMEOUT_SECONDS = 10;

/** Keeps `spec.connections` POSTs in flight for `spec.seconds` and summarizes what came back. */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: spec.seconds,
    timeout: REQUEST_TIMEOUT_SECONDS,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...benchAuth },
    // autocannon refuses some combinations even when one side is undefined: pass only what is set.
    ...(spec.body !== undefined && { body: spec.body }),
    ...(spec.requests !== undefined && { requests: spec.requests }),
    ...(spec.expectBody !== undefined && { expectBody: spec.expectBody }),
    ...(spec.verifyBody !== undefined && { verifyBody: spec.verifyBody }),
  });
  const bad = result.non2xx + result.mismatches;
  const succeeded = Math.max(0, result.requests.total - bad);
  return {
    requestsPerSecond: succeeded / result.duration,
    succeeded,
    failed: bad + result.errors,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    averageMs: result.latency.average,
    seconds: result.duration,
  };
}
