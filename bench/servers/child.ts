// The child side of bench/support/children.ts: report the URL once listening, stop on SIGTERM or
// when the parent goes away (the IPC channel closes), so no server outlives its benchmark.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ReadyMessage } from '../support/children.ts';

const FORCED_EXIT_MS = 8_000;

// As deployed: `npm start` runs the compiled gateway without source maps. tsx, which runs these servers
// from their sources, turns them on, and every error's stack would then be mapped through them, a cost
// production does not pay (and hostile inputs are refused with errors by the thousand).
process.setSourceMapsEnabled(false);

export function announceReady(url: string): void {
  const message: ReadyMessage = { type: 'ready', url };
  process.send?.(message);
}

export function urlOf(server: Server): string {
  const { address, port } = server.address() as AddressInfo;
  return `http://${address}:${port}`;
}

/** Listens on an ephemeral port of 127.0.0.1. */
export function listenOnLoopback(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(urlOf(server)));
  });
}

export function stopWhenAsked(stop: () => Promise<void>): void {
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), FORCED_EXIT_MS).unref();
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('stopping failed:', error);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  process.once('disconnect', shutdown);
}

/** Closes a node:http server, dropping its keep-alive connections. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Exits when the script fails before it is ready (the parent then reports it). */
export function failStartup(error: unknown): never {
  console.error('server failed to start:', error);
  process.exit(1);
}
