// A lean closed-loop HTTP/1.1 load generator for the write benchmark: `connections` keep-alive sockets,
// one request in flight on each, a new body per request. It is the hub's counterpart of pgbench, whose
// C client costs PostgreSQL's side ~130 µs of CPU per transaction here: autocannon, building a request
// per call (setupRequest), cost ~100 µs per request against a server answering fixed bytes and 190-250
// µs per update in bench:write, on the same two cores as the servers it measures. This one writes each
// request with one `write` and reads only what it must of the answer (status, length, body).
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { nextResponse } from './httpResponses.ts';
import type { LoadResult } from './load.ts';

export interface ClosedLoopSpec {
  /** Base URL of the server (http://host:port). */
  url: string;
  path: string;
  /** Extra request headers, e.g. authorization. */
  headers: Record<string, string>;
  connections: number;
  seconds: number;
  /** The JSON body of the next request. */
  nextBody: () => string;
  /** A 2xx answer counts only if its body passes this. */
  verifyBody: (body: string) => boolean;
}

const REQUEST_TIMEOUT_MS = 10_000;

/** Keeps `connections` POSTs in flight for `seconds`, then waits for the last answers. */
export async function runClosedLoop(spec: ClosedLoopSpec): Promise<LoadResult> {
  const { hostname, port } = new URL(spec.url);
  const head = [`POST ${spec.path} HTTP/1.1`, `host: ${hostname}:${port}`, 'content-type: application/json', 'connection: keep-alive']
    .concat(Object.entries(spec.headers).map(([name, value]) => `${name}: ${value}`))
    .join('\r\n');
  const latencies: number[] = [];
  let succeeded = 0;
  let failed = 0;
  const started = performance.now();
  const endsAt = started + spec.seconds * 1000;

  const connection = () =>
    new Promise<void>((resolve) => {
      let socket: net.Socket;
      let buffer = '';
      let sentAt = 0;
      let timer: NodeJS.Timeout | undefined;

      const send = () => {
        if (performance.now() >= endsAt) {
          socket.end();
          resolve();
          return;
        }
        const body = spec.nextBody();
        sentAt = performance.now();
        timer = setTimeout(() => fail(), REQUEST_TIMEOUT_MS);
        socket.write(`${head}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      };
      const fail = () => {
        clearTimeout(timer);
        failed++;
        socket.destroy();
        open();
      };
      const answered = (status: number, body: string) => {
        clearTimeout(timer);
        latencies.push(performance.now() - sentAt);
        if (status >= 200 && status < 300 && spec.verifyBody(body)) succeeded++;
        else failed++;
        send();
      };
      const onData = (chunk: string) => {
        buffer += chunk;
        for (let next = nextResponse(buffer); next !== 'incomplete'; next = nextResponse(buffer)) {
          if (next === 'unreadable') {
            buffer = '';
            fail();
            return;
          }
          buffer = next.rest;
          answered(next.status, next.body);
        }
      };
      const open = () => {
        buffer = '';
        socket = net.connect(Number(port), hostname);
        socket.setNoDelay(true);
        // One character per byte, so content-length and chunk sizes count characters of `buffer`.
        socket.setEncoding('latin1');
        socket.on('data', onData);
        socket.on('connect', send);
        socket.on('error', () => {
          if (performance.now() < endsAt) fail();
          else resolve();
        });
      };
      open();
    });

  await Promise.all(Array.from({ length: spec.connections }, connection));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    requestsPerSecond: succeeded / seconds,
    succeeded,
    failed,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    averageMs: latencies.length ? latencies.reduce((sum, value) => sum + value, 0) / latencies.length : 0,
    seconds,
  };
}
