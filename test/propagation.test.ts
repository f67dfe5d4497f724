import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { openDatabase } from '../src/db/database.ts';
import type { ConfigEvent } from '../src/protocol/changes.ts';
import { adminAuth, createTestApp, type TestApp } from './support/app.ts';
import { createPostgresDatabase, type TestDatabase } from './support/databases.ts';
import { GatewayProcess, TcpProxy } from './support/gateway.ts';
import { NatsServer } from './support/nats.ts';
import { ConfigSubscriber, type ReceivedEvent, readServerSentEvents } from './support/subscriber.ts';

// Invariants 2 and 3 end to end, over the wire: real nats-server, real PostgreSQL, real WebSockets.
// Three gateway instances share one database and one NATS server, each with its own connection pool
// and NATS connection: two in this process, one as a child process (`node --import tsx src/main.ts`)
// that the last resilience test SIGKILLs.

/** Anything that answers HTTP: an in-process gateway after start(), or a child process. */
interface Endpoint {
  name: string;
  url: string;
}

interface Instance extends Endpoint {
  test: TestApp;
  close(): Promise<void>;
}

const UPDATE_MUTATION = /* GraphQL */ `
  mutation Update($input: UpdateConfigInput!) {
    updateConfig(input: $input) { __typename ... on ConfigWrite { config { version } } ... on Error { message } }
  }
`;
const CREATE_MUTATION = /* GraphQL */ `
  mutation Create($input: CreateConfigInput!) {
    createConfig(input: $input) { __typename ... on ConfigWrite { config { version } } ... on Error { message } }
  }
`;

/** Generous: the machine is small and shared. */
const WAIT_MS = 30_000;

async function postGraphQL(endpoint: Endpoint, query: string, variables: Record<string, unknown>) {
  const response = await fetch(`${endpoint.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...adminAuth },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(20_000),
  });
  return (await response.json()) as { data?: Record<string, any>; errors?: unknown[] };
}

async function createConfig(endpoint: Endpoint, service: string): Promise<number> {
  const body = await postGraphQL(endpoint, CREATE_MUTATION, { input: { service, config: { burst: { step: -1 } } } });
  const result = body.data?.createConfig;
  if (result?.__typename !== 'ConfigWrite') throw new Error(`createConfig ${service} failed: ${JSON.stringify(body)}`);
  return result.config.version as number;
}

/** One change through GraphQL or REST, without expectedVersion (it is retried until it applies). */
async function writeChange(endpoint: Endpoint, service: string, step: number, via: 'graphql' | 'rest'): Promise<number> {
  const patch = { burst: { step, via } };
  if (via === 'graphql') {
    const body = await postGraphQL(endpoint, UPDATE_MUTATION, { input: { service, patch } });
    const result = body.data?.updateConfig;
    if (result?.__typename !== 'ConfigWrite') throw new Error(`updateConfig ${service} on ${endpoint.name} failed: ${JSON.stringify(body)}`);
    return result.config.version as number;
  }
  const response = await fetch(`${endpoint.url}/api/v1/config/${service}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...adminAuth },
    body: JSON.stringify(patch),
    signal: AbortSignal.timeout(20_000),
  });
  const body = (await response.json()) as { version?: number };
  if (response.status !== 200 || typeof body.version !== 'number') {
    throw new Error(`REST POST ${service} on ${endpoint.name} failed: ${response.status} ${JSON.stringify(body)}`);
  }
  return body.version;
}

interface BurstOptions {
  services: string[];
  /** Where the next write goes (it may change during the burst). */
  targets: () => Endpoint[];
  workers: number;
  /** The burst ends by itself after this many writes were started. */
  maxWrites: number;
  /** Whether a failed write is expected (a killed gateway); an unexpected one ends the burst. */
  tolerate?: (error: unknown, target: Endpoint) => boolean;
}

/** Concurrent writers spreading changes over configs, instances and transports. */
class WriteBurst {
  /** Writes the gateway acknowledged. */
  committed = 0;
  /** Writes whose fate is unknown (the gateway died under them); they may or may not have committed. */
  uncertain = 0;
  private started = 0;
  private stopping = false;
  private ended = false;
  private failure: unknown;
  private readonly waiters = new Set<() => void>();
  readonly done: Promise<void>;

  constructor(private readonly options: BurstOptions) {
    this.done = Promise.all(Array.from({ length: options.workers }, () => this.work()))
      .then(
        () => undefined,
        (error: unknown) => {
          this.failure = error;
          throw error;
        },
      )
      .finally(() => {
        this.ended = true;
        this.notify();
      });
    // Awaited by every test; this only keeps an early failure from being reported as unhandled.
    this.done.catch(() => {});
  }

  private notify(): void {
    for (const waiter of this.waiters) waiter();
  }

  private async work(): Promise<void> {
    while (!this.stopping && this.started < this.options.maxWrites) {
      const step = this.started++;
      const targets = this.options.targets();
      const target = targets[Math.floor(step / 2) % targets.length]!;
      const service = this.options.services[step % this.options.services.length]!;
      try {
        await writeChange(target, service, step, step % 2 === 0 ? 'graphql' : 'rest');
        this.committed++;
      } catch (error) {
        if (!this.options.tolerate?.(error, target)) {
          this.stopping = true;
          throw error;
        }
        this.uncertain++;
      }
      this.notify();
    }
  }

  /** Resolves once at least `count` writes are acknowledged; fails if the burst ends first or after `timeoutMs`. */
  committedAtLeast(count: number, timeoutMs = WAIT_MS): Promise<void> {
    return new Promise((resolve, reject) => {
      const settle = (error?: Error) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (error) reject(error);
        else resolve();
      };
      const check = () => {
        if (this.committed >= count) settle();
        else if (this.ended) settle(new Error(`the burst ended with ${this.committed} of ${count} writes acknowledged`, { cause: this.failure }));
      };
      const timer = setTimeout(() => settle(new Error(`only ${this.committed} of ${count} writes acknowledged within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Lets the writes under way finish and starts no more. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.done;
  }
}

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, index) => from + index);
const versionsOf = (events: readonly { service: string; version: number }[], service: string) =>
  events.filter((event) => event.service === service).map((event) => event.version);
const lastVersion = (events: readonly ReceivedEvent[]) => events.at(-1)?.version;

async function currentVersions(db: TestDatabase, services: string[]): Promise<Map<string, number>> {
  const rows = await db.session((sql) =>
    sql.query<{ service_name: string; version: number }>(
      'SELECT service_name, version FROM service_configs WHERE service_name = ANY($1)',
      [services],
    ),
  );
  return new Map(rows.map((row) => [row.service_name, row.version]));
}

function uniqueServices(prefix: string, count: number): string[] {
  const run = Math.random().toString(36).slice(2, 8);
  return range(1, count).map((index) => `${prefix}-${run}-${index}`);
}

/** A subscriber closed when the test finishes, whatever its outcome. */
function subscribe(endpoint: Endpoint, service: string, afterVersion: number): ConfigSubscriber {
  const subscriber = new ConfigSubscriber(endpoint.url).subscribe({ service, afterVersion });
  onTestFinished(() => subscriber.close());
  return subscriber;
}

/** A subscriber on each of `instances` to each of `services`, after its version in `start`. */
function subscribeOnEach(instances: Instance[], services: string[], start: Map<string, number>) {
  return instances.flatMap((instance) =>
    services.map((service) => ({ service, instance: instance.name, subscriber: subscribe(instance, service, start.get(service)!) })),
  );
}

/** A burst stopped when the test finishes, whatever its outcome. */
function startBurst(options: BurstOptions): WriteBurst {
  const burst = new WriteBurst(options);
  onTestFinished(() => burst.stop().catch(() => {}));
  return burst;
}

const reached = (version: number) => (events: ReceivedEvent[]) => (lastVersion(events) ?? 0) >= version;

/**
 * Writes one more change of each service through `endpoint` and waits for every subscriber to have it;
 * then each subscriber must hold every version of its service after `start`, once each, in order.
 */
async function expectEveryVersionOnce(
  endpoint: Endpoint,
  via: 'graphql' | 'rest',
  start: Map<string, number>,
  subscribers: { service: string; instance: string; subscriber: ConfigSubscriber }[],
): Promise<void> {
  const sentinel = new Map<string, number>();
  for (const service of start.keys()) sentinel.set(service, await writeChange(endpoint, service, -2, via));
  for (const { service, subscriber } of subscribers) await subscriber.waitFor(reached(sentinel.get(service)!), WAIT_MS);
  for (const { service, instance, subscriber } of subscribers) {
    expect({ instance, service, versions: versionsOf(subscriber.events, service) }).toEqual({
      instance,
      service,
      versions: range(start.get(service)! + 1, sentinel.get(service)!),
    });
  }
}

describe('change propagation across gateway instances', () => {
  let nats: NatsServer;
  let databaseUrl: string;
  let first: Instance;
  let second: Instance;
  /** A gateway in its own process, for the test that SIGKILLs it; until then it is one more instance. */
  let doomed: GatewayProcess | undefined;
  let observer: NatsConnection;
  /** Every message seen on config.update.>, duplicates included. */
  const onNats: ConfigEvent[] = [];

  /** A gateway in this process with its own pool and NATS connection, listening on a real port. */
  async function openInstance(name: string, natsUrl = nats.url): Promise<Instance> {
    const database: TestDatabase = Object.assign(await openDatabase({ url: databaseUrl }), { url: databaseUrl });
    try {
      const test = await createTestApp('postgres', { natsUrl, database });
      const url = await test.app.start().catch(async (error: unknown) => {
        await test.close();
        throw error;
      });
      return {
        name,
        url,
        test,
        async close() {
          await test.close();
          await database.close();
        },
      };
    } catch (error) {
      await database.close();
      throw error;
    }
  }

  beforeAll(async () => {
    nats = await NatsServer.start();
    databaseUrl = await createPostgresDatabase();
    // In parallel (the child process takes seconds to start); whatever starts is stopped in afterAll.
    const [opened1, opened2, spawned] = await Promise.allSettled([
      openInstance('first'),
      openInstance('second'),
      GatewayProcess.start({ databaseUrl, natsUrl: nats.url }),
    ]);
    if (opened1.status === 'fulfilled') first = opened1.value;
    if (opened2.status === 'fulfilled') second = opened2.value;
    if (spawned.status === 'fulfilled') doomed = spawned.value;
    for (const outcome of [opened1, opened2, spawned]) if (outcome.status === 'rejected') throw outcome.reason;
    observer = await connect({ servers: nats.url, name: 'propagation-observer', maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    observer.subscribe('config.update.>', {
      callback: (_error, message) => {
        onNats.push(message.json<ConfigEvent>());
      },
    });
    await observer.flush();
  });

  afterAll(async () => {
    await observer?.close();
    await doomed?.stop();
    await first?.close();
    await second?.close();
    await nats?.stop();
  });

  /** Creates the configs (version 1) and returns their current versions. */
  async function createConfigs(services: string[]): Promise<Map<string, number>> {
    for (const service of services) expect(await createConfig(first, service)).toBe(1);
    return currentVersions(first.test.db, services);
  }

  it('delivers every change of a concurrent burst through two instances once, in order, and publishes it once', async () => {
    const services = uniqueServices('burst', 4);
    const start = await createConfigs(services);
    const subscribers = subscribeOnEach([first, second], services, start);

    const burst = startBurst({ services, targets: () => [first, second], workers: 8, maxWrites: 200 });
    await burst.committedAtLeast(60);
    // Late joiners asking exactly what an earlier subscriber asked, mid-burst: they too get every version once.
    for (const instance of [first, second]) {
      const service = services[0]!;
      subscribers.push({ service, instance: `${instance.name} (late)`, subscriber: subscribe(instance, service, start.get(service)!) });
    }
    await burst.done;
    expect(burst.committed).toBe(200);

    const final = await currentVersions(first.test.db, services);
    const changes = services.reduce((sum, service) => sum + final.get(service)! - start.get(service)!, 0);
    expect(changes).toBe(200);
    // The last version of each config arrives without any later write to push it along.
    for (const { service, subscriber } of subscribers) await subscriber.waitFor(reached(final.get(service)!), WAIT_MS);
    await expect.poll(() => services.every((service) => versionsOf(onNats, service).includes(final.get(service)!)), { timeout: WAIT_MS }).toBe(true);

    // One more change per config: anything duplicated or late would come before it (order per config).
    const sentinel = new Map<string, number>();
    for (const service of services) sentinel.set(service, await writeChange(second, service, -2, 'graphql'));
    for (const { service, subscriber } of subscribers) await subscriber.waitFor(reached(sentinel.get(service)!), WAIT_MS);
    await expect.poll(() => services.every((service) => versionsOf(onNats, service).includes(sentinel.get(service)!)), { timeout: WAIT_MS }).toBe(true);

    for (const { service, instance, subscriber } of subscribers) {
      expect({ instance, service, versions: versionsOf(subscriber.events, service) }).toEqual({
        instance,
        service,
        versions: range(start.get(service)! + 1, sentinel.get(service)!),
      });
    }
    // Every change, the creation included, appeared on NATS exactly once and in version order.
    for (const service of services) {
      expect({ service, published: versionsOf(onNats, service) }).toEqual({ service, published: range(1, sentinel.get(service)!) });
    }
    await expect.poll(async () => (await first.test.app.relay.backlog()).count, { timeout: WAIT_MS }).toBe(0);
  });

  it('keeps committing while NATS is down and delivers every change once NATS is back', async () => {
    const services = uniqueServices('outage', 3);
    const start = await createConfigs(services);
    const subscribers = subscribeOnEach([first, second], services, start);

    const burst = startBurst({ services, targets: () => [first, second], workers: 6, maxWrites: 1_000 });
    await burst.committedAtLeast(30);
    await nats.killForThisTest();
    const committedAtKill = burst.committed;
    // The writes go on, and wait in the outbox.
    await burst.committedAtLeast(committedAtKill + 60);
    await burst.stop();
    await expect.poll(async () => (await first.test.app.relay.backlog()).count, { timeout: WAIT_MS }).toBeGreaterThan(0);
    const final = await currentVersions(first.test.db, services);
    const changes = services.reduce((sum, service) => sum + final.get(service)! - start.get(service)!, 0);
    expect(changes).toBe(burst.committed);

    // Nobody writes any more: the outbox alone must bring every subscriber up to date.
    await nats.startProcess();
    for (const { service, subscriber } of subscribers) await subscriber.waitFor(reached(final.get(service)!), WAIT_MS);
    await expect.poll(async () => (await first.test.app.relay.backlog()).count, { timeout: WAIT_MS }).toBe(0);

    await expectEveryVersionOnce(first, 'rest', start, subscribers);
  });

  it('while NATS is down, gets each change to every subscriber on every instance within a second of its commit, in order; none twice once NATS is back', async () => {
    const services = uniqueServices('nats-down', 2);
    const start = await createConfigs(services);
    const subscribers = subscribeOnEach([first, second], services, start);
    await nats.killForThisTest();
    await expect.poll(() => first.test.app.bus.isConnected() || second.test.app.bus.isConnected(), { timeout: WAIT_MS }).toBe(false);
    expect((await fetch(`${first.url}/ready`)).status).toBe(200);

    for (let change = 0; change < 20; change++) {
      const service = services[change % services.length]!;
      const version = await writeChange(change % 2 === 0 ? first : second, service, change, change % 4 < 2 ? 'graphql' : 'rest');
      // Within a second of the commit, on both instances (before, they got nothing until NATS was back).
      await Promise.all(subscribers.filter((one) => one.service === service).map(({ subscriber }) => subscriber.waitFor(reached(version), 1_000)));
    }
    // The outbox kept them for NATS meanwhile.
    expect((await first.test.app.relay.backlog()).count).toBeGreaterThanOrEqual(20);

    await nats.startProcess();
    await expect.poll(async () => (await first.test.app.relay.backlog()).count, { timeout: WAIT_MS }).toBe(0);
    await expectEveryVersionOnce(second, 'graphql', start, subscribers);
  });

  it('delivers what other instances published while its own NATS link was down, without a later change', async () => {
    const proxy = await TcpProxy.start(nats.port);
    const opened: Instance[] = [];
    onTestFinished(async () => {
      // Link restored first, so that the instance drains its NATS connection instead of waiting for it.
      await proxy.restore();
      for (const instance of opened) await instance.close();
      await proxy.cut();
    });
    const cutOff = await openInstance('cut-off', proxy.url);
    opened.push(cutOff);
    await expect.poll(() => cutOff.test.app.bus.isConnected(), { timeout: WAIT_MS }).toBe(true);
    const [service] = uniqueServices('cut', 1) as [string];
    const start = (await createConfigs([service])).get(service)!;
    const subscriber = subscribe(cutOff, service, start);
    await writeChange(first, service, 0, 'graphql');
    await subscriber.waitFor(reached(start + 1), WAIT_MS);

    await proxy.cut();
    await expect.poll(() => cutOff.test.app.bus.isConnected(), { timeout: WAIT_MS }).toBe(false);
    for (let step = 1; step < 4; step++) await writeChange(first, service, step, step % 2 ? 'rest' : 'graphql');
    // Published on NATS (by the instances still connected) while the cut-off one could not hear it.
    await expect.poll(() => versionsOf(onNats, service).includes(start + 4), { timeout: WAIT_MS }).toBe(true);
    await proxy.restore();
    await expect.poll(() => cutOff.test.app.bus.isConnected(), { timeout: WAIT_MS }).toBe(true);

    // Nobody writes any more: the instance must find what it missed by itself.
    await subscriber.waitFor(reached(start + 4), WAIT_MS);
    const sentinel = await writeChange(first, service, -2, 'graphql');
    await subscriber.waitFor(reached(sentinel), WAIT_MS);
    expect(versionsOf(subscriber.events, service)).toEqual(range(start + 1, sentinel));
  });

  it('replays exactly the missed versions to a subscriber that resumes with afterVersion, then live ones', async () => {
    const [service] = uniqueServices('resume', 1) as [string];
    const start = (await createConfigs([service])).get(service)!;

    const before = subscribe(first, service, start);
    for (let step = 0; step < 5; step++) await writeChange(step % 2 ? first : second, service, step, 'graphql');
    await before.waitFor(reached(start + 5), WAIT_MS);
    await before.close();
    const seen = lastVersion(before.events)!;

    // Missed while away, through both instances.
    for (let step = 5; step < 15; step++) await writeChange(step % 2 ? first : second, service, step, 'rest');
    // More arrive while it resumes: the seam between replay and live must neither drop nor repeat.
    const live = startBurst({ services: [service], targets: () => [first, second], workers: 2, maxWrites: 20 });
    const resumed = subscribe(second, service, seen);
    await live.done;
    const final = (await currentVersions(first.test.db, [service])).get(service)!;
    expect(final).toBe(start + 35);
    await resumed.waitFor(reached(final), WAIT_MS);
    const sentinel = await writeChange(first, service, -2, 'graphql');
    await resumed.waitFor(reached(sentinel), WAIT_MS);

    expect(versionsOf(before.events, service)).toEqual(range(start + 1, seen));
    expect(versionsOf(resumed.events, service)).toEqual(range(seen + 1, sentinel));
  });

  it('moves the clients of a SIGKILLed gateway to another instance without losing or repeating a version', async () => {
    // graphql-ws prints the expected abnormal close of the doomed gateway's sockets; nothing else is hidden.
    const printError = console.error;
    const quiet = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      const [reported] = args as [{ type?: unknown; code?: unknown } | undefined];
      if (!(reported?.type === 'close' && reported.code === 1006)) printError(...args);
    });
    onTestFinished(() => quiet.mockRestore());
    if (!doomed?.alive) throw new Error('the gateway process is not running');
    const gateway = doomed;
    const doomedEndpoint: Endpoint = { name: 'doomed', url: gateway.url };
    const services = uniqueServices('failover', 3);
    const start = await createConfigs(services);
    const clients = services.map((service) => ({ service, subscribers: [subscribe(doomedEndpoint, service, start.get(service)!)] }));
    const control = services.map((service) => ({ service, subscriber: subscribe(second, service, start.get(service)!) }));

    let killed = false;
    const burst = startBurst({
      services,
      targets: () => (killed ? [first, second] : [doomedEndpoint, first, second]),
      workers: 6,
      maxWrites: 1_000,
      // A write cut off by the kill may or may not have committed: the database says which.
      tolerate: (_error, target) => killed && target === doomedEndpoint,
    });
    await burst.committedAtLeast(40);
    // Every client has heard from the doomed gateway before it dies, so each resumes from a real version.
    for (const { service, subscribers } of clients) await subscribers[0]!.waitFor(reached(start.get(service)! + 1), WAIT_MS);
    killed = true;
    await gateway.kill();
    const committedAtKill = burst.committed;

    for (const client of clients) {
      const [gone] = client.subscribers as [ConfigSubscriber];
      await expect.poll(() => gone.error !== undefined, { timeout: WAIT_MS }).toBe(true);
      client.subscribers.push(subscribe(first, client.service, lastVersion(gone.events)!));
    }
    await burst.committedAtLeast(committedAtKill + 40);
    await burst.stop();

    const final = await currentVersions(first.test.db, services);
    const changes = services.reduce((sum, service) => sum + final.get(service)! - start.get(service)!, 0);
    expect(changes).toBeGreaterThanOrEqual(burst.committed);
    expect(changes).toBeLessThanOrEqual(burst.committed + burst.uncertain);
    for (const { service, subscribers } of clients) await subscribers[1]!.waitFor(reached(final.get(service)!), WAIT_MS);

    const sentinel = new Map<string, number>();
    for (const service of services) sentinel.set(service, await writeChange(second, service, -2, 'rest'));
    for (const { service, subscribers } of clients) await subscribers[1]!.waitFor(reached(sentinel.get(service)!), WAIT_MS);
    for (const { service, subscriber } of control) await subscriber.waitFor(reached(sentinel.get(service)!), WAIT_MS);

    for (const { service, subscribers } of clients) {
      const held = subscribers.flatMap((subscriber) => versionsOf(subscriber.events, service));
      expect({ service, held }).toEqual({ service, held: range(start.get(service)! + 1, sentinel.get(service)!) });
    }
    for (const { service, subscriber } of control) {
      expect({ service, control: versionsOf(subscriber.events, service) }).toEqual({ service, control: range(start.get(service)! + 1, sentinel.get(service)!) });
    }
    await expect.poll(async () => (await first.test.app.relay.backlog()).count, { timeout: WAIT_MS }).toBe(0);
  });

  it('streams replayed and live changes over SSE', async () => {
    const [service] = uniqueServices('sse', 1) as [string];
    const start = (await createConfigs([service])).get(service)!;
    for (let step = 0; step < 3; step++) await writeChange(first, service, step, 'graphql');

    const abort = new AbortController();
    onTestFinished(() => abort.abort());
    const response = await fetch(`${second.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...adminAuth },
      body: JSON.stringify({
        query: 'subscription($service: String!, $afterVersion: Int) { configChanged(service: $service, afterVersion: $afterVersion) { service version action } }',
        variables: { service, afterVersion: start },
      }),
      signal: abort.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);

    const { received, errors, stop } = readServerSentEvents<{ service: string; version: number; action: string }>(response, 'configChanged');

    await expect.poll(() => received.length, { timeout: WAIT_MS }).toBeGreaterThanOrEqual(3);
    for (let step = 3; step < 5; step++) await writeChange(first, service, step, 'rest');
    await expect.poll(() => received.at(-1)?.version ?? 0, { timeout: WAIT_MS }).toBeGreaterThanOrEqual(start + 5);
    await stop();
    abort.abort();

    expect(errors).toEqual([]);
    expect(received).toEqual(range(start + 1, start + 5).map((version) => ({ service, version, action: 'UPDATE' })));
  });
});
