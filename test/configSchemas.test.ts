import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminAuth, createTestApp, type TestApp } from './support/app.ts';
import { backends, tablesDigest } from './support/databases.ts';

const UPDATE = `mutation($service: String!, $patch: JSON) {
  updateConfig(input: { service: $service, patch: $patch }) {
    __typename
    ... on ConfigWrite { config { version } }
    ... on ValidationError { issues { pointer message } }
    ... on SecretRejectedError { issues { pointer } }
  }
}`;
const SET_SCHEMA = `mutation($input: SetConfigSchemaInput!) {
  setConfigSchema(input: $input) {
    __typename
    ... on ConfigSchema { version }
    ... on ValidationError { issues { pointer message } }
    ... on VersionConflictError { currentVersion }
  }
}`;

describe.each(backends)('config schemas on %s', (backend) => {
  let hub: TestApp;
  beforeAll(async () => {
    hub = await createTestApp(backend);
  });
  afterAll(async () => {
    await hub?.close();
  });

  it('documents each setting of the pilot services through the API', async () => {
    const result = await hub.graphql(`{ config(service: "polygon-historical-downloader") {
      ... on ServiceConfig { schema { version fields { pointer type description default } } } } }`);
    const fields = result.data.config.schema.fields as { pointer: string }[];
    expect(result.data.config.schema.version).toBe(1);
    expect(fields).toContainEqual({
      pointer: '/operational/gap_check_interval_hours',
      type: 'number',
      description: 'Hours between scans for gaps in stored bars.',
      default: 6,
    });
  });

  it('refuses a write that breaks the schema with every violation and its pointer, writing nothing', async () => {
    const before = await tablesDigest(hub.db);
    const result = await hub.graphql(UPDATE, {
      service: 'polygon-historical-downloader',
      patch: { operational: { batch_size: 'big', gap_check_interval_hours: -1 }, features: { enable_gap_filling: 'yes' } },
    });
    expect(result.data.updateConfig.__typename).toBe('ValidationError');
    expect(result.data.updateConfig.issues.map((issue: { pointer: string }) => issue.pointer).sort()).toEqual([
      '/config/features/enable_gap_filling',
      '/config/operational/batch_size',
      '/config/operational/gap_check_interval_hours',
    ]);
    expect(await tablesDigest(hub.db)).toBe(before);
  });

  it('refuses the same through REST with 422', async () => {
    const response = await hub.app.fetch(
      new Request('http://confighub.test/api/v1/config/tick-aggregator', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...adminAuth },
        body: JSON.stringify({ operational: { worker_threads: 0 } }),
      }),
    );
    expect(response.status).toBe(422);
    const body = (await response.json()) as { error: { code: string; issues: { pointer: string }[] } };
    expect(body.error).toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ pointer: '/config/operational/worker_threads' }] });
  });

  it('refuses a schema the live config breaks, and applies a new one to later writes', async () => {
    const strict = {
      type: 'object',
      properties: { operational: { type: 'object', properties: { worker_threads: { type: 'integer', maximum: 2 } } } },
    };
    const refused = await hub.graphql(SET_SCHEMA, { input: { service: 'tick-aggregator', schema: strict } });
    expect(refused.data.setConfigSchema).toMatchObject({
      __typename: 'ValidationError',
      issues: [{ pointer: '/operational/worker_threads' }],
    });

    const relaxed = {
      type: 'object',
      required: ['operational'],
      properties: {
        operational: {
          type: 'object',
          properties: { worker_threads: { type: 'integer', maximum: 16 }, token: { type: 'string', 'x-confighub-not-secret': true } },
        },
      },
    };
    const stale = await hub.graphql(SET_SCHEMA, { input: { service: 'tick-aggregator', schema: relaxed, expectedVersion: 0 } });
    expect(stale.data.setConfigSchema).toEqual({ __typename: 'VersionConflictError', currentVersion: 1 });
    const set = await hub.graphql(SET_SCHEMA, { input: { service: 'tick-aggregator', schema: relaxed, expectedVersion: 1, reason: 'more workers' } });
    expect(set.data.setConfigSchema).toEqual({ __typename: 'ConfigSchema', version: 2 });

    const tooMany = await hub.graphql(UPDATE, { service: 'tick-aggregator', patch: { operational: { worker_threads: 17 } } });
    expect(tooMany.data.updateConfig.issues).toEqual([{ pointer: '/config/operational/worker_threads', message: 'must be <= 16' }]);
    // The new schema marks operational.token as not secret: the guard lets that one field through.
    const token = await hub.graphql(UPDATE, { service: 'tick-aggregator', patch: { operational: { worker_threads: 12, token: 'AAPL' } } });
    expect(token.data.updateConfig.__typename).toBe('ConfigWrite');
    const removed = await hub.graphql(UPDATE, { service: 'tick-aggregator', patch: { operational: null } });
    expect(removed.data.updateConfig.issues).toEqual([{ pointer: '/config/operational', message: "must have required property 'operational'" }]);
  });

  it('keeps schema versions append-only in SQL too', async () => {
    for (const statement of [`UPDATE config_schemas SET schema = '{}' WHERE version = 1`, `DELETE FROM config_schemas`]) {
      const error = await hub.db.session((sql) => sql.query(statement)).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ message: expect.stringMatching(/config_schemas is append-only/) });
    }
    const versions = await hub.db.session((sql) => sql.query<{ count: number }>(`SELECT count(*)::int AS count FROM config_schemas`));
    expect(versions[0]!.count).toBeGreaterThanOrEqual(3);
  });

  it('refuses something that is not a JSON Schema', async () => {
    const result = await hub.graphql(SET_SCHEMA, { input: { service: 'polygon-live-collector', schema: { type: 'no-such-type' } } });
    expect(result.data.setConfigSchema.__typename).toBe('ValidationError');
    expect(result.data.setConfigSchema.issues[0].pointer).toBe('/schema');
  });

  it('refuses a rollback to content the current schema forbids', async () => {
    const service = 'schema-rollback';
    await hub.graphql(`mutation { createConfig(input: { service: "${service}", config: { level: "low" } }) { __typename } }`);
    await hub.graphql(UPDATE, { service, patch: { level: 3 } });
    const schema = { type: 'object', properties: { level: { type: 'integer' } } };
    expect((await hub.graphql(SET_SCHEMA, { input: { service, schema } })).data.setConfigSchema.__typename).toBe('ConfigSchema');
    const rollback = await hub.graphql(`mutation { rollbackConfig(input: { service: "${service}", toVersion: 1 }) {
      __typename ... on ValidationError { issues { pointer } } } }`);
    expect(rollback.data.rollbackConfig).toEqual({ __typename: 'ValidationError', issues: [{ pointer: '/config/level' }] });
  });
});
