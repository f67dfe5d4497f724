import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it, onTestFinished } from 'vitest';
import { ConfigClient, type ClientStatus, type ConfigRejection } from '../src/client/index.ts';
import { createTestApp, type TestApp } from './support/app.ts';
import { FreezingRelay, Settings, createConfig, defaults, fastBackoff, instancesOf, patchConfig, temporaryDir, until } from './support/client.ts';
import { TcpProxy } from './support/gateway.ts';

// ConfigClient in graphql-ws mode against a real gateway on a real port, reached through a TCP relay
// the tests cut and restore: the hub "down at start" and "going away" are real refused and dropped
// connections. NATS mode is in client-nats.test.ts.

let hub: TestApp;
let relay: TcpProxy;
let hubUrl: string;
const scratch = temporaryDir();

beforeAll(async () => {
  hub = await createTestApp('pglite');
  const listening = await hub.app.start();
  relay = await TcpProxy.start(Number(new URL(listening).port));
  hubUrl = `http://127.0.0.1:${relay.port}`;
});

afterAll(async () => {
  await relay?.cut();
  await hub?.close();
  scratch.remove();
});

/** A client of `service` through the relay, closed when the test ends. */
function startClient(service: string, options: { snapshotFile?: string | false; instanceId?: string; ttlMs?: number; token?: string } = {}) {
  const client = new ConfigClient({
    service,
    hub: { url: hubUrl, token: options.token ?? hub.adminToken, timeoutMs: 2_000 },
    defaults,
    schema: Settings,
    snapshotFile: options.snapshotFile ?? path.join(scratch.dir, `${service}.json`),
    live: { via: 'graphql-ws' },
    backoff: fastBackoff,
    instanceId: options.instanceId ?? `test-${service}`,
    ttlMs: options.ttlMs,
  });
  onTestFinished(() => client.close());
  return client.start();
}

const hubConfig = (batchSize: number) => ({
  operational: { batch_size: batchSize, gap_check_interval_hours: 2 },
  features: { fast_path: true },
});

describe('ConfigClient over graphql-ws', () => {
  it('starts on defaults when the hub is down and there is no snapshot, then catches up when it comes up', async () => {
    await createConfig(hub, 'cold-start', hubConfig(500));
    await relay.cut();
    onTestFinished(() => relay.restore());
    const client = startClient('cold-start');

    expect(client.get()).toEqual(defaults);
    expect(client.status).toMatchObject({ state: 'STARTING', source: 'defaults', version: null });
    // The first fetch is refused by the closed port: the status says why.
    await until(client, () => /fetch failed: cannot reach the hub/.test(client.status.reason ?? ''));
    expect(client.status.state).toBe('ERROR');
    expect(client.status.reason).toMatch(/defaults only/);

    await relay.restore();
    const ready = await client.ready(15_000);
    expect(ready).toMatchObject({ state: 'READY', source: 'hub', version: 1, reason: null });
    expect(client.get()).toEqual(hubConfig(500));
    expect(client.get('operational.batch_size')).toBe(500);

    // Once closed (which waits for pending writes), the snapshot holds what was applied, with its version.
    const snapshotFile = path.join(scratch.dir, 'cold-start.json');
    await client.close();
    expect(existsSync(snapshotFile)).toBe(true);
    expect(JSON.parse(readFileSync(snapshotFile, 'utf8'))).toMatchObject({ service: 'cold-start', environment: 'production', version: 1, config: hubConfig(500) });
  });

  it('starts from its snapshot in milliseconds when the hub is down, STALE until the hub answers', async () => {
    const version = await createConfig(hub, 'warm-start', hubConfig(700));
    const snapshotFile = path.join(scratch.dir, 'warm-start.json');
    // Written as a client writes it; an older version than the hub's, so the catch-up is visible.
    writeFileSync(snapshotFile, JSON.stringify({ service: 'warm-start', environment: 'production', version, config: hubConfig(300), savedAt: '2026-11-26T00:00:00.000Z' }));
    const next = await patchConfig(hub, 'warm-start', { operational: { batch_size: 900 } });
    await relay.cut();
    onTestFinished(() => relay.restore());

    const started = performance.now();
    const client = startClient('warm-start', { snapshotFile });
    const startMs = performance.now() - started;
    expect(client.get()).toEqual(hubConfig(300));
    expect(startMs).toBeLessThan(200);
    expect(client.status).toMatchObject({ state: 'STARTING', source: 'snapshot', version });
    expect(client.status.reason).toMatch(/snapshot version 1 saved 2026-11-26T00:00:00.000Z/);
    // The hub does not answer: the start ends STALE, on the snapshot.
    await until(client, () => client.status.state === 'STALE');
    expect(client.status.reason).toMatch(/^serving snapshot version 1 saved 2026-11-26T00:00:00.000Z: .*fetch failed/);

    const changes: string[][] = [];
    client.onChange((_next, _previous, paths) => changes.push(paths));
    await relay.restore();
    await client.ready(15_000);
    expect(client.status.version).toBe(next.version);
    expect(client.get('operational.batch_size')).toBe(900);
    expect(changes).toEqual([['operational', 'operational.batch_size']]);
  });

  it('refuses a snapshot that fails the schema and says so', async () => {
    const snapshotFile = path.join(scratch.dir, 'bad-snapshot.json');
    writeFileSync(snapshotFile, JSON.stringify({ service: 'bad-snapshot', environment: 'production', version: 4, config: { operational: { batch_size: -1 } }, savedAt: 'x' }));
    await relay.cut();
    onTestFinished(() => relay.restore());
    const client = startClient('bad-snapshot', { snapshotFile });
    expect(client.get()).toEqual(defaults);
    expect(client.status.reason).toMatch(/snapshot version 4 fails the schema: operational.batch_size/);
    await until(client, () => client.status.state === 'ERROR');
  });

  it('a normal start goes STARTING -> READY: never STALE or ERROR, with a snapshot or without', async () => {
    await createConfig(hub, 'normal-start', hubConfig(40));
    const snapshotFile = path.join(scratch.dir, 'normal-start.json');
    for (const withSnapshot of [false, true]) {
      const client = startClient('normal-start', { snapshotFile });
      const states = [client.status.state];
      client.onStatus((status) => states.push(status.state));
      await client.ready(15_000);
      expect(states[0]).toBe('STARTING');
      expect(states.at(-1)).toBe('READY');
      expect(states.filter((state) => state === 'STALE' || state === 'ERROR'), `with${withSnapshot ? '' : 'out'} a snapshot`).toEqual([]);
      await client.close();
    }
    expect(existsSync(snapshotFile)).toBe(true);
  });

  it('keeps its values when the hub goes away, goes STALE, and recovers (with what it missed) without a restart', async () => {
    await createConfig(hub, 'goes-away', hubConfig(10));
    const client = startClient('goes-away');
    await client.ready();
    const statuses: ClientStatus[] = [];
    client.onStatus((status) => statuses.push(status));

    await relay.cut();
    onTestFinished(() => relay.restore());
    await until(client, () => client.status.state === 'STALE');
    expect(client.status.reason).toMatch(/^serving version 1: .*(live updates down|fetch failed)/);
    expect(client.get()).toEqual(hubConfig(10));
    expect(client.get('operational.batch_size')).toBe(10);

    // Changed while the client cannot hear: it must pick this up when the hub is back.
    const missed = await patchConfig(hub, 'goes-away', { operational: { batch_size: 20 } });
    await relay.restore();
    await until(client, () => client.status.state === 'READY' && client.status.version === missed.version);
    expect(client.get('operational.batch_size')).toBe(20);
    expect(statuses.map((status) => status.state)).toContain('STALE');
    expect(statuses.at(-1)?.state).toBe('READY');
  });

  it('takes a hub that stops answering (socket open, nothing passes) for gone, and recovers when it answers again', async () => {
    await createConfig(hub, 'silent-hub', hubConfig(70));
    const silent = await FreezingRelay.start(Number(new URL(hubUrl).port));
    onTestFinished(() => silent.close());
    const client = new ConfigClient({
      service: 'silent-hub',
      hub: { url: silent.url, token: hub.adminToken, timeoutMs: 1_000 },
      defaults,
      schema: Settings,
      snapshotFile: false,
      live: { via: 'graphql-ws', keepAliveMs: 200 },
      backoff: fastBackoff,
    });
    onTestFinished(() => client.close());
    await client.start().ready();

    silent.freeze();
    // No close, no error from the network: only the unanswered ping tells.
    await until(client, () => client.status.state === 'STALE');
    expect(client.status.reason).toMatch(/live updates down/);
    expect(client.get('operational.batch_size')).toBe(70);

    silent.thaw();
    await client.ready(15_000);
    expect(client.status.version).toBe(1);
  });

  it('applies a change live, with changed paths, per-key watchers and unsubscribe', async () => {
    await createConfig(hub, 'live-ws', hubConfig(1));
    const client = startClient('live-ws');
    await client.ready();

    const changes: { next: Settings; previous: Settings; paths: string[] }[] = [];
    const batchSizes: [number, number][] = [];
    const intervals: number[] = [];
    client.onChange((next, previous, paths) => changes.push({ next, previous, paths }));
    const unwatchBatch = client.watch('operational.batch_size', (value, previous) => batchSizes.push([value, previous]));
    client.watch('operational.gap_check_interval_hours', (value) => intervals.push(value));

    const second = await patchConfig(hub, 'live-ws', { operational: { batch_size: 2 } });
    await until(client, () => client.status.version === second.version);
    expect(client.get('operational.batch_size')).toBe(2);
    expect(changes).toHaveLength(1);
    expect(changes[0]!.paths).toEqual(['operational', 'operational.batch_size']);
    expect(changes[0]!.previous.operational.batch_size).toBe(1);
    expect(batchSizes).toEqual([[2, 1]]);
    expect(intervals).toEqual([]);

    unwatchBatch();
    const third = await patchConfig(hub, 'live-ws', { operational: { batch_size: 3, gap_check_interval_hours: 1 } });
    await until(client, () => client.status.version === third.version);
    expect(batchSizes).toEqual([[2, 1]]);
    expect(intervals).toEqual([1]);
    expect(changes.map((change) => change.paths)).toEqual([
      ['operational', 'operational.batch_size'],
      ['operational', 'operational.batch_size', 'operational.gap_check_interval_hours'],
    ]);
    // What readers get cannot be changed under other readers.
    expect(Object.isFrozen(client.get().operational)).toBe(true);
  });

  it('refuses a config that fails the schema, keeps the old one, and reports the refusal to the hub', async () => {
    await createConfig(hub, 'refuses', hubConfig(50));
    // As a service runs: with its own token, a reader scoped to it.
    const { token } = await hub.app.tokens.create({ name: 'refuses-service', role: 'reader', services: ['refuses'] }, 'admin');
    const client = startClient('refuses', { instanceId: 'refuses-1', token });
    await client.ready();
    await expect.poll(() => instancesOf(hub, 'refuses'), { timeout: 10_000 }).toEqual([
      expect.objectContaining({ instance: 'refuses-1', status: 'READY', appliedVersion: 1, rejectedVersion: null }),
    ]);

    const rejections: ConfigRejection[] = [];
    let changed = 0;
    client.onReject((rejection) => rejections.push(rejection));
    client.onChange(() => changed++);
    const invalid = await patchConfig(hub, 'refuses', { operational: { batch_size: -5 } });
    await until(client, () => rejections.length === 1);
    expect(rejections[0]).toMatchObject({ version: invalid.version, issues: [{ path: 'operational.batch_size' }] });
    expect(client.get('operational.batch_size')).toBe(50);
    expect(client.status).toMatchObject({ state: 'READY', version: 1 });
    expect(client.lastRejection?.version).toBe(invalid.version);
    expect(changed).toBe(0);

    // The operator sees it in the fleet report.
    await expect.poll(() => instancesOf(hub, 'refuses'), { timeout: 10_000 }).toEqual([
      expect.objectContaining({ instance: 'refuses-1', appliedVersion: 1, rejectedVersion: invalid.version, error: expect.stringMatching(/operational.batch_size/) }),
    ]);

    // A later valid version (a gap from the one it runs) is fetched and applied; the refusal clears.
    const fixed = await patchConfig(hub, 'refuses', { operational: { batch_size: 60 } });
    await until(client, () => client.status.version === fixed.version);
    expect(client.get('operational.batch_size')).toBe(60);
    expect(client.lastRejection).toBeNull();
    await expect.poll(() => instancesOf(hub, 'refuses'), { timeout: 10_000 }).toEqual([
      expect.objectContaining({ appliedVersion: fixed.version, rejectedVersion: null, error: null, status: 'READY' }),
    ]);
  });

  it('runs on defaults, ERROR, when the hub has no such config; close() ends a pending ready()', async () => {
    const client = startClient('never-created');
    await until(client, () => /the hub has no config/.test(client.status.reason ?? ''));
    expect(client.status).toMatchObject({ state: 'ERROR', source: 'defaults', version: null });
    expect(client.get()).toEqual(defaults);
    const pending = client.ready(60_000).then(() => null, (error: Error) => error);
    await client.close();
    expect((await pending)?.message).toMatch(/closed before READY: ERROR/);
  });

  it('refuses defaults that fail the schema at construction, and types reads and watchers by the settings', () => {
    expect(() => new ConfigClient({ service: 'x', hub: { url: hubUrl }, defaults: { ...defaults, operational: { batch_size: 0, gap_check_interval_hours: 1 } }, schema: Settings, snapshotFile: false })).toThrow(
      /defaults fail the schema: operational.batch_size/,
    );
    const client = new ConfigClient({ service: 'x', hub: { url: hubUrl }, defaults, schema: Settings, snapshotFile: false, live: { via: 'none' } });
    expectTypeOf(client.get('operational.batch_size')).toEqualTypeOf<number>();
    expectTypeOf(client.get('features')).toEqualTypeOf<{ fast_path: boolean }>();
    expectTypeOf(client.get()).toEqualTypeOf<Settings>();
    // @ts-expect-error: not a path of the settings
    client.get('operational.no_such_key');
    client.watch('features.fast_path', (value, previous) => {
      expectTypeOf(value).toEqualTypeOf<boolean>();
      expectTypeOf(previous).toEqualTypeOf<boolean>();
    })();
  });

  it('refreshes in the background when its TTL expires', async () => {
    await createConfig(hub, 'ttl', hubConfig(5));
    const client = startClient('ttl', { ttlMs: 300 });
    await client.ready();
    const first = await expect.poll(() => instancesOf(hub, 'ttl'), { timeout: 10_000 }).toHaveLength(1).then(() => instancesOf(hub, 'ttl'));
    // Each background fetch reports again (a heartbeat): the report's time moves on.
    await expect
      .poll(async () => (await instancesOf(hub, 'ttl'))[0]?.reportedAt, { timeout: 10_000 })
      .not.toBe(first[0]?.reportedAt);
    expect(client.status.state).toBe('READY');
  });
});
