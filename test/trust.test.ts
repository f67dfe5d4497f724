// Defects a hostile review of the hub found (issue 15), each reproduced here as it was found. Others live
// beside the code they concern: the bad-input corpus (test/badInput.test.ts: strict parameters, text and
// number refusals, codes), the secret guard's corpus (test/secretGuard.test.ts), the data-directory lock
// (test/dataDirLock.test.ts), schema patterns (test/configSchemas.test.ts), NATS outages
// (test/propagation.test.ts) and the fast paths against stock yoga (test/differential.test.ts).
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminAuth, createTestApp, type TestApp } from './support/app.ts';

const SERVICE = 'tick-aggregator';

describe('a variable inside a JSON literal, the same document run again and again', () => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await createTestApp('pglite');
    base = await t.app.start();
  });
  afterAll(async () => {
    await t?.close();
  });

  const PATCH = `mutation($size: Int, $dry: Boolean) {
    updateConfig(input: { service: "${SERVICE}", patch: { operational: { batch_size: $size } }, dryRun: $dry }) {
      __typename ... on ConfigWrite { changed dryRun diff { op path value } config { version config } }
    }
  }`;
  const REPLACE = `mutation($bs: Int, $w: Int) {
    updateConfig(input: { service: "scratch-replace", config: { batch_size: $bs, workers: [$w, 1] } }) {
      __typename ... on ConfigWrite { changed config { version config } }
    }
  }`;
  const CREATE = `mutation($service: String!, $owner: String) {
    createConfig(input: { service: $service, config: { owner: $owner, nested: { owner: $owner } } }) {
      __typename ... on ConfigWrite { config { version config } }
    }
  }`;

  /** The transports a document reaches the executor by: the fast POST path, yoga's own handler, yoga in-process, graphql-ws. */
  const transports: Record<string, (query: string, variables: Record<string, unknown>) => Promise<any>> = {
    'HTTP, fast path': async (query, variables) =>
      (await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...adminAuth }, body: JSON.stringify({ query, variables }) })).json(),
    // An Accept the fast path leaves to yoga.
    'HTTP, yoga': async (query, variables) =>
      (
        await fetch(`${base}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json;q=0.9, text/plain;q=0.1', ...adminAuth },
          body: JSON.stringify({ query, variables }),
        })
      ).json(),
    'in-process': (query, variables) => t.graphql(query, variables),
    WebSocket: (query, variables) => {
      const client = createClient({ url: `${base.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: adminAuth, retryAttempts: 0 });
      return new Promise((resolve, reject) => {
        let result: unknown;
        client.subscribe({ query, variables }, { next: (value) => void (result = value), error: reject, complete: () => resolve(result) });
      }).finally(() => client.dispose());
    },
  };

  it.each(Object.keys(transports))('%s: every run uses its own variables', async (transport) => {
    const send = transports[transport]!;
    const size = 400 + Object.keys(transports).indexOf(transport) * 10;
    const dry = await send(PATCH, { size, dry: true });
    expect(dry.data.updateConfig).toMatchObject({ changed: true, dryRun: true, diff: [{ op: expect.any(String), path: '/operational/batch_size', value: size }] });
    const written = await send(PATCH, { size, dry: false });
    expect(written.data.updateConfig).toMatchObject({ changed: true, dryRun: false, config: { config: { operational: { batch_size: size } } } });
    const again = await send(PATCH, { size: size + 1, dry: false });
    expect(again.data.updateConfig).toMatchObject({ changed: true, config: { version: written.data.updateConfig.config.version + 1, config: { operational: { batch_size: size + 1 } } } });

    const created = await send(CREATE, { service: `scratch-${transport.replace(/\W+/g, '-').toLowerCase()}-1`, owner: 'ann' });
    expect(created.data.createConfig.config.config).toEqual({ owner: 'ann', nested: { owner: 'ann' } });
    for (const [run, owner] of ['bob', 'cy'].entries()) {
      const next = await send(CREATE, { service: `scratch-${transport.replace(/\W+/g, '-').toLowerCase()}-${run + 2}`, owner });
      expect(next.data.createConfig.config.config).toEqual({ owner, nested: { owner } });
    }
  });

  it('a replacement with variables inside its literal stores them on every run', async () => {
    await t.graphql(`mutation { createConfig(input: { service: "scratch-replace", config: { batch_size: 1 } }) { __typename } }`);
    for (const [bs, w] of [
      [10, 2],
      [20, 3],
      [30, 4],
    ]) {
      const result = await transports['HTTP, fast path']!(REPLACE, { bs, w });
      expect(result.data.updateConfig.config.config).toEqual({ batch_size: bs, workers: [w, 1] });
    }
    const stored = await t.graphql(`{ config(service: "scratch-replace") { ... on ServiceConfig { version config } } }`);
    expect(stored.data.config).toEqual({ version: 4, config: { batch_size: 30, workers: [4, 1] } });
  });
});
