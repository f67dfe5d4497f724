import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, type Server, type Socket, createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { ConfigClient } from '../../src/client/configClient.ts';
import type { TestApp } from './app.ts';

// Shared by the ConfigClient tests: a settings schema like a real service's, helpers that write to the
// hub, and waits that resolve on the client's own events instead of sleeping.

export const Settings = z.object({
  operational: z.object({
    batch_size: z.number().int().min(1).max(10_000),
    gap_check_interval_hours: z.number().positive(),
  }),
  features: z.object({ fast_path: z.boolean() }),
});
export type Settings = z.infer<typeof Settings>;

export const defaults: Settings = {
  operational: { batch_size: 100, gap_check_interval_hours: 6 },
  features: { fast_path: false },
};

/** Fast retries for tests: delays under 200 ms. */
export const fastBackoff = { initialMs: 20, maxMs: 200 };

/** A temporary directory, removed by the returned function. */
export function temporaryDir(prefix = 'confighub-client-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Creates a config on the hub; returns its version. */
export async function createConfig(hub: TestApp, service: string, config: object): Promise<number> {
  const body = await hub.graphql(
    `mutation ($input: CreateConfigInput!) { createConfig(input: $input) { __typename ... on ConfigWrite { config { version } } ... on Error { message } } }`,
    { input: { service, config } },
  );
  if (body.data?.createConfig?.__typename !== 'ConfigWrite') throw new Error(`createConfig failed: ${JSON.stringify(body)}`);
  return body.data.createConfig.config.version;
}

/** Merge-patches a config on the hub; returns the new version and the whole document. */
export async function patchConfig(hub: TestApp, service: string, patch: object): Promise<{ version: number; config: Record<string, unknown> }> {
  const body = await hub.graphql(
    `mutation ($input: UpdateConfigInput!) { updateConfig(input: $input) { __typename ... on ConfigWrite { config { version config } } ... on Error { message } } }`,
    { input: { service, patch } },
  );
  if (body.data?.updateConfig?.__typename !== 'ConfigWrite') throw new Error(`updateConfig failed: ${JSON.stringify(body)}`);
  return body.data.updateConfig.config;
}

/** What the hub's fleet report says about a config's instances. */
export async function instancesOf(hub: TestApp, service: string) {
  const body = await hub.graphql(
    `query ($service: String!) { config(service: $service) { ... on ServiceConfig { instances { instance status appliedVersion rejectedVersion error reportedAt } } } }`,
    { service },
  );
  return (body.data?.config?.instances ?? []) as {
    instance: string;
    status: string;
    appliedVersion: number | null;
    rejectedVersion: number | null;
    error: string | null;
    reportedAt: string;
  }[];
}

/**
 * Resolves once `condition()` holds, checking now and after each status change, config change or
 * refusal of the client; fails after `timeoutMs` with the client's status.
 */
export function until<T extends object>(client: ConfigClient<T>, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  if (condition()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const unsubscribe: (() => void)[] = [];
    const done = (error?: Error) => {
      clearTimeout(timer);
      for (const stop of unsubscribe) stop();
      if (error) reject(error);
      else resolve();
    };
    const check = () => {
      if (condition()) done();
    };
    const timer = setTimeout(
      () => done(new Error(`condition not met within ${timeoutMs} ms; status ${JSON.stringify(client.status)}, config ${JSON.stringify(client.get())}`)),
      timeoutMs,
    );
    // Listeners run synchronously inside the client: check after it has finished updating itself.
    const later = () => queueMicrotask(check);
    unsubscribe.push(client.onStatus(later), client.onChange(later), client.onReject(later));
  });
}

/**
 * A TCP relay to a local port that can freeze: connections stay open but no byte passes either way, as
 * when a host vanishes or a network path breaks without anyone closing the socket.
 */
export class FreezingRelay {
  private frozen = false;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {}

  static async start(targetPort: number): Promise<FreezingRelay> {
    let relay: FreezingRelay | undefined;
    const server = createServer((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
      for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
        relay!.sockets.add(from);
        from.on('data', (chunk) => {
          if (!relay!.frozen) to.write(chunk);
        });
        from.once('close', () => {
          relay!.sockets.delete(from);
          to.destroy();
        });
        from.on('error', () => to.destroy());
      }
    });
    relay = new FreezingRelay(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return relay;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  freeze(): void {
    this.frozen = true;
  }

  thaw(): void {
    this.frozen = false;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
