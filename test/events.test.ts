import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigEvent } from '../src/protocol/changes.ts';
import { adminAuth, createTestApp, type TestApp } from './support/app.ts';
import { NatsServer } from './support/nats.ts';
import { ConfigSubscriber } from './support/subscriber.ts';

// One change made by each write path — GraphQL mutation, REST, raw SQL — is published exactly once on
// NATS and reaches a GraphQL subscriber exactly once.
describe('change propagation through NATS', () => {
  let nats: NatsServer;
  let hub: TestApp;
  let baseUrl: string;
  let observer: NatsConnection;
  const published: ConfigEvent[] = [];

  beforeAll(async () => {
    nats = await NatsServer.start();
    hub = await createTestApp('postgres', { natsUrl: nats.url });
    baseUrl = await hub.app.start();
    observer = await connect({ servers: nats.url, name: 'test-observer' });
    observer.subscribe('config.update.>', {
      callback: (_error, message) => {
        published.push(message.json<ConfigEvent>());
      },
    });
    await observer.flush();
    // The gateway sets up the JetStream stream once connected.
    const streams = (await jetstreamManager(observer)).streams;
    for (const deadline = Date.now() + 10_000; !(await streams.info('CONFIG_UPDATES').then(() => true, () => false)); ) {
      if (Date.now() > deadline) throw new Error('the gateway did not create the CONFIG_UPDATES stream');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });

  afterAll(async () => {
    await observer?.close();
    await hub?.close();
    await nats?.stop();
  });

  it('publishes one message and delivers one event per change, whatever the write path', async () => {
    const service = 'polygon-live-collector';
    const subscriber = new ConfigSubscriber(baseUrl).subscribe({ service, afterVersion: 1 });
    try {
      const mutation = await hub.graphql(
        `mutation { updateConfig(input: { service: "${service}", patch: { operational: { buffer_max_messages: 20000 } }, reason: "by mutation" }) { __typename } }`,
      );
      expect(mutation.data).toEqual({ updateConfig: { __typename: 'ConfigWrite' } });
      const rest = await fetch(`${baseUrl}/api/v1/config/${service}?reason=by%20rest`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...adminAuth },
        body: JSON.stringify({ operational: { buffer_max_messages: 30000 } }),
      });
      expect(rest.status).toBe(200);
      await hub.db.session((sql) =>
        sql.exec(`UPDATE service_configs SET config = jsonb_set(config, '{operational,buffer_max_messages}', '40000')
                   WHERE service_name = '${service}'`),
      );
      // A sentinel on the same config: once it has arrived, everything before it has too (order per config).
      await hub.graphql(`mutation { updateConfig(input: { service: "${service}", patch: { sentinel: true } }) { __typename } }`);

      const events = await subscriber.waitFor((received) => received.some((event) => event.version === 5));
      expect(events.map((event) => [event.version, event.changedBy])).toEqual([
        [2, 'admin'],
        [3, 'admin'],
        [4, 'postgres'],
        [5, 'admin'],
      ]);
      expect(events[2]!.config).toMatchObject({ operational: { buffer_max_messages: 40000 } });

      await expect.poll(() => published.filter((event) => event.service === service).length).toBe(4);
      const onNats = published.filter((event) => event.service === service);
      expect(onNats.map((event) => event.version)).toEqual([2, 3, 4, 5]);
      expect(onNats.map((event) => event.reason)).toEqual(['by mutation', 'by rest', null, null]);
      expect(onNats[0]).toMatchObject({
        environment: 'production',
        action: 'UPDATE',
        patch: [{ op: 'replace', path: '/operational/buffer_max_messages', value: 20000 }],
      });
      // JetStream keeps them for durable replay (and would drop a re-published revision).
      const stream = await (await jetstreamManager(observer)).streams.info('CONFIG_UPDATES');
      expect(stream.state.messages).toBe(4);
      // Rows are marked in the transaction that published them, which commits just after.
      await expect.poll(async () => (await hub.app.relay.backlog()).count).toBe(0);
    } finally {
      await subscriber.close();
    }
  });
});
