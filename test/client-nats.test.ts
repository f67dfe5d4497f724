import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ConfigClient } from '../src/client/index.ts';
import { createTestApp, type TestApp } from './support/app.ts';
import { Settings, createConfig, defaults, fastBackoff, patchConfig, temporaryDir, until } from './support/client.ts';
import { TcpProxy } from './support/gateway.ts';
import { NatsServer } from './support/nats.ts';

// ConfigClient in NATS mode: a real nats-server, a real gateway whose outbox relay publishes to it (through
// a TCP relay the tests cut to hold the hub's messages back), and a client reading the hub over HTTP.

let nats: NatsServer;
let hubNats: TcpProxy;
let hub: TestApp;
let hubUrl: string;
let publisher: NatsConnection;
const scratch = temporaryDir();

beforeAll(async () => {
  nats = await NatsServer.start();
  hubNats = await TcpProxy.start(nats.port);
  hub = await createTestApp('pglite', { natsUrl: hubNats.url });
  hubUrl = await hub.app.start();
  publisher = await connect({ servers: nats.url });
});

afterAll(async () => {
  await publisher?.close();
  await hub?.close();
  await hubNats?.cut();
  await nats?.stop();
  scratch.remove();
});

/** A NATS-mode client of `service`, counting the config fetches it makes; closed when the test ends. */
function startClient(service: string) {
  const fetches = { count: 0 };
  const client = new ConfigClient({
    service,
    hub: {
      url: hubUrl,
      token: hub.adminToken,
      timeoutMs: 2_000,
      fetch: (input, init) => {
        if (String(init?.body).includes('query ClientConfig')) fetches.count++;
        return fetch(input, init);
      },
    },
    defaults,
    schema: Settings,
    snapshotFile: `${scratch.dir}/${service}.json`,
    live: { via: 'nats', servers: nats.url },
    backoff: fastBackoff,
    instanceId: `nats-${service}`,
  });
  onTestFinished(() => client.close());
  return { client: client.start(), fetches };
}

const hubConfig = (batchSize: number) => ({
  operational: { batch_size: batchSize, gap_check_interval_hours: 3 },
  features: { fast_path: false },
});

describe('ConfigClient over NATS', () => {
  it('applies a change the hub publishes on config.update.<service>', async () => {
    await createConfig(hub, 'nats-live', hubConfig(1));
    const { client, fetches } = startClient('nats-live');
    await client.ready();
    const fetchesWhenReady = fetches.count;
    const seen: number[] = [];
    client.watch('operational.batch_size', (value) => seen.push(value));

    const next = await patchConfig(hub, 'nats-live', { operational: { batch_size: 2 } });
    await until(client, () => client.status.version === next.version);
    expect(seen).toEqual([2]);
    // The next version came in the message: no fetch was needed.
    expect(fetches.count).toBe(fetchesWhenReady);
  });

  it('reads the hub on a version gap instead of applying it, and ignores older or equal versions', async () => {
    const base = await createConfig(hub, 'nats-gap', hubConfig(10));
    const { client, fetches } = startClient('nats-gap');
    await client.ready();
    // Settled: no fetch of its start-up still on the way to read the changes below.
    await client.refresh();
    const versions: number[] = [];
    client.onChange(() => versions.push(client.status.version!));

    // The hub's messages are held back: two changes commit and wait in its outbox.
    await hubNats.cut();
    onTestFinished(() => hubNats.restore());
    const skipped = await patchConfig(hub, 'nats-gap', { operational: { batch_size: 11 } });
    const latest = await patchConfig(hub, 'nats-gap', { operational: { batch_size: 12 } });
    expect(latest.version).toBe(base + 2);

    // Only the second reaches the client (as when core NATS drops one): a gap.
    const fetchesBefore = fetches.count;
    publisher.publish(
      'config.update.nats-gap',
      JSON.stringify({ service: 'nats-gap', environment: 'production', version: latest.version, revision: 1000000, action: 'UPDATE', config: { operational: { batch_size: 999 } } }),
    );
    await until(client, () => client.status.version === latest.version);
    // What it applied is what it fetched (batch_size 12), not what the message said (999).
    expect(client.get('operational.batch_size')).toBe(12);
    expect(fetches.count).toBe(fetchesBefore + 1);
    expect(versions).toEqual([latest.version]);

    // The held-back messages arrive late (older and equal versions): ignored. A later change proves they
    // were delivered first (one publisher, one subscriber: NATS keeps the order).
    await hubNats.restore();
    const after = await patchConfig(hub, 'nats-gap', { operational: { batch_size: 13 } });
    await until(client, () => client.status.version === after.version);
    expect(versions).toEqual([latest.version, after.version]);
    expect(skipped.version).toBe(base + 1);
  });

  it('goes STALE while NATS is away, keeps its values, and reads what it missed when NATS is back', async () => {
    await createConfig(hub, 'nats-away', hubConfig(30));
    const { client } = startClient('nats-away');
    await client.ready();

    await nats.killForThisTest();
    await until(client, () => client.status.state === 'STALE');
    expect(client.status.reason).toMatch(/live updates down: NATS disconnected/);
    expect(client.get('operational.batch_size')).toBe(30);

    // Committed while NATS is down: waits in the hub's outbox; the client must read it on reconnect.
    const missed = await patchConfig(hub, 'nats-away', { operational: { batch_size: 31 } });
    await nats.startProcess();
    await until(client, () => client.status.state === 'READY' && client.status.version === missed.version, 30_000);
    expect(client.get('operational.batch_size')).toBe(31);
  });
});
