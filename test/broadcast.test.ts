import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { diffDocuments } from '../src/store/documents.ts';
import { WORKER_THRESHOLD_CHARS } from '../src/store/documentChecks.ts';
import { adminAuth, createTestApp, type TestApp } from './support/app.ts';
import { ConfigSubscriber } from './support/subscriber.ts';

// Identical graphql-ws subscriptions share one execution per event; each socket still gets exactly
// what it asked for, resumed ones included.
describe('subscription broadcast', () => {
  let hub: TestApp;
  let baseUrl: string;
  const open: ConfigSubscriber[] = [];
  const subscriber = () => {
    const created = new ConfigSubscriber(baseUrl);
    open.push(created);
    return created;
  };
  const patch = (service: string, value: number) =>
    hub.graphql(`mutation { updateConfig(input: { service: "${service}", patch: { operational: { broadcast_probe: ${value} } } }) { __typename } }`);
  const versionOf = async (service: string) =>
    (await hub.graphql(`{ config(service: "${service}") { ... on ServiceConfig { version } } }`)).data.config.version as number;

  beforeAll(async () => {
    hub = await createTestApp('pglite');
    baseUrl = await hub.app.start();
  });
  afterAll(async () => {
    await Promise.all(open.map((client) => client.close()));
    await hub?.close();
  });

  it('executes identical subscriptions once and delivers to every socket', async () => {
    const service = 'tick-aggregator';
    const start = await versionOf(service);
    const clients = Array.from({ length: 20 }, () => subscriber().subscribe({ service, afterVersion: start }));
    const other = subscriber().subscribe({ service: 'polygon-live-collector', afterVersion: await versionOf('polygon-live-collector') });
    await expect.poll(() => hub.app.webSocketSubscriptionCount(), { timeout: 10_000 }).toBe(21);
    expect(hub.app.subscriptionGroupCount()).toBe(2);
    expect(hub.app.feed.openSubscriptions).toBe(2);

    for (let value = 1; value <= 3; value++) await patch(service, value);
    for (const client of clients) {
      const events = await client.waitFor((received) => received.length === 3);
      expect(events.map((event) => event.version)).toEqual([start + 1, start + 2, start + 3]);
      expect(events[2]!.config).toMatchObject({ operational: { broadcast_probe: 3 } });
    }
    expect(other.events).toEqual([]);
  });

  it('gives a late joiner of a resumed subscription everything after its version, then live changes', async () => {
    const service = 'polygon-historical-downloader';
    const start = await versionOf(service);
    const first = subscriber().subscribe({ service, afterVersion: start });
    await patch(service, 10);
    await first.waitFor((received) => received.length === 1);
    const late = subscriber().subscribe({ service, afterVersion: start });
    await late.waitFor((received) => received.length === 1);
    await patch(service, 11);
    for (const client of [first, late]) {
      const events = await client.waitFor((received) => received.length === 2);
      expect(events.map((event) => event.version)).toEqual([start + 1, start + 2]);
    }
  });

  it('sends a late joiner a backlog of large versions a part at a time, then what came meanwhile, in order', async () => {
    const service = 'tick-aggregator';
    const start = await versionOf(service);
    // Some 150 KiB a version: the backlog of four takes the late joiner several turns of the event loop.
    const large = (value: number) => ({ notes: Object.fromEntries(Array.from({ length: 6000 }, (_, index) => [`note_${index}`, `value-${value}-${index}`])) });
    const write = (value: number) =>
      hub.graphql(`mutation($config: JSON!) { updateConfig(input: { service: "${service}", config: $config }) { __typename } }`, { config: large(value) });
    const first = subscriber().subscribe({ service, afterVersion: start });
    for (let value = 1; value <= 4; value++) await write(value);
    await first.waitFor((received) => received.length === 4, 30_000);
    const late = subscriber().subscribe({ service, afterVersion: start });
    await write(5);
    const expected = [1, 2, 3, 4, 5].map((value) => start + value);
    for (const client of [first, late]) {
      const events = await client.waitFor((received) => received.length === 5, 30_000);
      expect(events.map((event) => event.version)).toEqual(expected);
      expect(events.map((event) => (event.config as { notes: Record<string, string> }).notes.note_5999)).toEqual([1, 2, 3, 4, 5].map((value) => `value-${value}-5999`));
    }
  });

  it('pages the patch of a replayed large change, a dry run and a diff between versions as worked out in place', async () => {
    const service = 'large-patch-pages';
    const listening = hub.app.feed.openSubscriptions;
    const document = (version: number) => ({ settings: Object.fromEntries(Array.from({ length: 4000 }, (_, index) => [`s_${index}`, index % 3 === 0 ? `v${version}, [${index}]` : index])) });
    expect(JSON.stringify(document(1)).length).toBeGreaterThan(WORKER_THRESHOLD_CHARS);
    const json = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;
    await hub.graphql(`mutation($config: JSON!) { createConfig(input: { service: "${service}", config: $config }) { __typename } }`, { config: document(1) });
    const dry = await hub.graphql(
      `mutation($config: JSON!) { updateConfig(input: { service: "${service}", config: $config, dryRun: true }) { ... on ConfigWrite { diffOperationCount diff(offset: 1300, limit: 9) { op path value } } } }`,
      { config: document(2) },
    );
    await hub.graphql(`mutation($config: JSON!) { updateConfig(input: { service: "${service}", config: $config }) { __typename } }`, { config: document(2) });
    const inPlace = [diffDocuments(null, document(1)), diffDocuments(document(1), document(2))];
    expect(dry.data.updateConfig).toEqual({ diffOperationCount: inPlace[1]!.length, diff: json(inPlace[1]!.slice(1300, 1309)) });
    const between = await hub.graphql(
      `{ configDiff(service: "${service}", fromVersion: 1, toVersion: 2) { ... on ConfigDiff { operationCount operations(offset: 1330, limit: 50) { op path value } } } }`,
    );
    expect(between.data.configDiff).toEqual({ operationCount: inPlace[1]!.length, operations: json(inPlace[1]!.slice(1330, 1380)) });

    const client = createClient({ url: `${baseUrl.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { ...adminAuth }, retryAttempts: 0 });
    const replayed: unknown[] = [];
    await new Promise<void>((resolve, reject) => {
      const stop = client.subscribe(
        {
          query: `subscription { configChanged(service: "${service}", afterVersion: 0) { version patchOperationCount patch(offset: 1330, limit: 7) { op path value } first: patch(limit: 2) { op path value } } }`,
        },
        {
          next: (result) => {
            replayed.push(result.errors ?? result.data!.configChanged);
            if (replayed.length === 2) {
              stop();
              resolve();
            }
          },
          error: reject,
          complete: () => {},
        },
      );
    });
    await client.dispose();
    await expect.poll(() => hub.app.feed.openSubscriptions, { timeout: 10_000 }).toBe(listening);
    expect(replayed).toEqual(
      inPlace.map((operations, index) => ({
        version: index + 1,
        patchOperationCount: operations.length,
        patch: json(operations.slice(1330, 1337)),
        first: json(operations.slice(0, 2)),
      })),
    );
  });

  it('a live-only joiner gets no earlier change, and the shared execution stops when the last socket leaves', async () => {
    const service = 'polygon-live-collector';
    const groupsBefore = hub.app.subscriptionGroupCount();
    const listening = hub.app.feed.openSubscriptions;
    const early = subscriber().subscribe({ service: 'polygon-live-collector' }, false);
    // Live-only: it hears changes made after the server took it.
    await expect.poll(() => hub.app.feed.openSubscriptions, { timeout: 10_000 }).toBe(listening + 1);
    expect(hub.app.subscriptionGroupCount()).toBe(groupsBefore + 1);
    await patch(service, 20);
    await early.waitFor((received) => received.length === 1);
    const members = hub.app.webSocketSubscriptionCount();
    const late = subscriber().subscribe({ service: 'polygon-live-collector' }, false);
    // The late socket joins the same execution: the feed's listeners stay, the group gains a member.
    await expect.poll(() => hub.app.webSocketSubscriptionCount(), { timeout: 10_000 }).toBe(members + 1);
    expect(hub.app.feed.openSubscriptions).toBe(listening + 1);
    await patch(service, 21);
    await late.waitFor((received) => received.length === 1);
    expect(late.events[0]!.config).toMatchObject({ operational: { broadcast_probe: 21 } });
    await early.waitFor((received) => received.length === 2);

    await early.close();
    await late.close();
    await expect.poll(() => hub.app.subscriptionGroupCount(), { timeout: 10_000 }).toBe(groupsBefore);
    expect(hub.app.feed.openSubscriptions).toBe(listening);
  });
});
