// The floor: raw node:http answering every request with the same bytes (BENCH_RESPONSE_BODY).
import { createServer } from 'node:http';
import { announceReady, closeServer, failStartup, listenOnLoopback, stopWhenAsked } from './child.ts';

try {
  const body = Buffer.from(process.env.BENCH_RESPONSE_BODY ?? '', 'utf8');
  const headers = {
    'content-type': process.env.BENCH_RESPONSE_CONTENT_TYPE || 'application/json; charset=utf-8',
    'content-length': String(body.length),
  };
  const server = createServer((req, res) => {
    // Read the request body as a real handler would, then answer.
    req.resume();
    req.on('end', () => {
      res.writeHead(200, headers);
      res.end(body);
    });
  });
  stopWhenAsked(() => closeServer(server));
  announceReady(await listenOnLoopback(server));
} catch (error) {
  failStartup(error);
}
