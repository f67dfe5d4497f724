import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnauthenticatedError } from '../src/access/errors.ts';
import { WORKER_THRESHOLD_CHARS } from '../src/store/documentChecks.ts';
import { configKey } from '../src/store/names.ts';
import { adminAuth, createTestApp, type TestApp } from './support/app.ts';

// How a subscription's stream of changes ends (events/changeStream.ts), on a real feed: every way out
// releases its place in the feed, and an end with an error reaches a read under way.
describe("a subscription's stream of changes", () => {
  let t: TestApp;
  const SERVICE = 'tick-aggregator';
  const key = configKey(SERVICE, 'production');
  beforeAll(async () => {
    t = await createTestApp('pglite');
  });
  afterAll(async () => {
    await t?.close();
  });

  const update = (batchSize: number) =>
    t.graphql(`mutation { updateConfig(input: { service: "${SERVICE}", patch: { batch_size: ${batchSize} } }) { __typename } }`, {}, adminAuth);

  it('is released when its consumer leaves before ever reading it', async () => {
    const before = t.app.feed.openSubscriptions;
    const stream = t.app.feed.subscribe(key);
    expect(t.app.feed.openSubscriptions).toBe(before + 1);
    await stream.return();
    expect(t.app.feed.openSubscriptions).toBe(before);
  });

  it('keeps the changes committed before its first read, in order, then is released when left', async () => {
    const stream = t.app.feed.subscribe(key);
    const { data } = await t.graphql(`{ config(service: "${SERVICE}") { ... on ServiceConfig { version } } }`, {}, adminAuth);
    await update(101);
    await update(102);
    const first = await stream.next();
    const second = await stream.next();
    expect([first.value?.version, second.value?.version]).toEqual([data.config.version + 1, data.config.version + 2]);
    const ended: string[] = [];
    stream.whenEnded(() => ended.push('ended'));
    await stream.return();
    expect(ended).toEqual(['ended']);
  });

  it('fails a read under way once with the error it is ended with, then is done and released', async () => {
    const before = t.app.feed.openSubscriptions;
    const stream = t.app.feed.subscribe(key);
    const reading = stream.next();
    stream.end(new UnauthenticatedError('token "x" expired'));
    await expect(reading).rejects.toThrow('token "x" expired');
    expect(await stream.next()).toEqual({ done: true, value: undefined });
    expect(t.app.feed.openSubscriptions).toBe(before);
  });

  it('fails at once when ended with an error during a replay from the audit log', async () => {
    const stream = t.app.feed.subscribe(key, 0);
    expect((await stream.next()).value?.version).toBe(1);
    stream.end(new UnauthenticatedError('token "x" was revoked'));
    await expect(stream.next()).rejects.toThrow('was revoked');
  });

  it('replays large changes to several subscribers one at a time: the next is worked on once the one before is taken', async () => {
    const service = 'large-replay';
    const document = (version: number) => Object.fromEntries(Array.from({ length: 3000 }, (_, index) => [`s_${index}`, `v${version}-${index}`]));
    expect(JSON.stringify(document(1)).length).toBeGreaterThan(WORKER_THRESHOLD_CHARS);
    const write = (mutation: string, input: object) => t.graphql(`mutation($input: ${mutation}Input!) { ${mutation.replace(/^./, (c) => c.toLowerCase())}(input: $input) { __typename } }`, { input }, adminAuth);
    expect((await write('CreateConfig', { service, config: document(1) })).data).toEqual({ createConfig: { __typename: 'ConfigWrite' } });
    expect((await write('UpdateConfig', { service, config: document(2) })).data).toEqual({ updateConfig: { __typename: 'ConfigWrite' } });
    const largeKey = configKey(service, 'production');
    // Both changes diffed once already (the worker warm), so what is measured below is the turns alone.
    const warm = t.app.feed.subscribe(largeKey, 0);
    await warm.next();
    await warm.next();
    await warm.return();

    const order: string[] = [];
    const first = t.app.feed.subscribe(largeKey, 0);
    const second = t.app.feed.subscribe(largeKey, 0);
    expect((await first.next()).value?.config).toEqual(document(1));
    const secondsFirst = second.next().then((result) => {
      order.push(`second took ${result.value?.version}`);
      return result;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    order.push('first asks for its next');
    const firstsNext = first.next();
    expect((await secondsFirst).value?.config).toEqual(document(1));
    // The second subscriber's change was parsed only once the first had taken its own and asked for more.
    expect(order).toEqual(['first asks for its next', 'second took 1']);
    const secondsNext = second.next();
    expect((await firstsNext).value?.version).toBe(2);
    // Leaving ends a subscriber's turn as asking for more does.
    await first.return();
    expect((await secondsNext).value?.version).toBe(2);
    await second.return();
  });

  it('of many configs takes only what it accepts', async () => {
    const stream = t.app.feed.subscribeMany((event) => event.service === SERVICE && event.config?.batch_size === 202);
    await update(201);
    await update(202);
    expect((await stream.next()).value?.config).toMatchObject({ batch_size: 202 });
    await stream.return();
  });
});
