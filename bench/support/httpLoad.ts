// A lean closed-loop HTTP/1.1 load generator for the write benchmark: `connections` keep-alive sockets,
// one request in flight on each, a new body per request. It is the hub's counterpart of pgbench, whose
// C client costs PostgreSQL's side ~130 µs of CPU per transaction here: autocannon, building a request
// per call (setupRequest), cost ~100 µs per request against a server answering fixed bytes and 190-250
// µs per update in bench:write, on the same two cores as the servers it measures. This one writes each
// request with one `write` and reads only what it must of the answer (status, length, body).
import net from 'node:net';
import { performance } from 'node:perf_hooks';
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
        for (;;) {
          const end = buffer.indexOf('\r\n\r\n');
          if (end < 0) return;
          const header = buffer.slice(0, end).toLowerCase();
          const status = Number(header.slice(9, 12));
          const length = /\r\ncontent-length: *(\d+)/.exec(header);
          if (length) {
            const total = end + 4 + Number(length[1]);
            if (buffer.length < total) return;
            const body = buffer.slice(end + 4, total);
            buffer = buffer.slice(total);
            answered(status, body);
          } else if (header.includes('\r\ntransfer-encoding: chunked')) {
            const last = buffer.indexOf('\r\n0\r\n\r\n', end);
            if (last < 0) return;
            const body = dechunk(buffer.slice(end + 4, last + 2));
            buffer = buffer.slice(last + 7);
            answered(status, body);
          } else {
            // Neither length nor chunks: not an answer this client can read (the server is broken).
            buffer = '';
            fail();
            return;
          }
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

/** The body of a chunked answer (the chunks without their size lines). */
function dechunk(chunks: string): string {
  let body = '';
  for (let at = 0; at < chunks.length; ) {
    const line = chunks.indexOf('\r\n', at);
    const size = Number.parseInt(chunks.slice(at, line), 16);
    if (!(size > 0)) break;
    body += chunks.slice(line + 2, line + 2 + size);
    at = line + 2 + size + 2;
  }
  return body;
}
