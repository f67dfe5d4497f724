import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, createTestApp } from './support/app.ts';
import { backends } from './support/databases.ts';

// The hub side of the fleet report: reportInstance upserts one row per instance, `instances` lists them
// per config, and a page of configs loads its instances in one statement (dataloader), not one per config.

const REPORT = /* GraphQL */ `
  mutation Report($input: ReportInstanceInput!) {
    reportInstance(input: $input) {
      __typename
      ... on ConfigInstance { service environment instance status appliedVersion rejectedVersion error firstSeenAt reportedAt }
      ... on ValidationError { issues { pointer message } }
      ... on Error { message }
    }
  }
`;

const INSTANCES_OF_PAGE = /* GraphQL */ `{
  configs(nameContains: "fleet-") {
    edges { node { service instances { instance status appliedVersion } } }
  }
}`;

describe.each(backends)('fleet report on %s', (backend) => {
  let t: TestApp;
  const statements: string[] = [];

  beforeAll(async () => {
    t = await createTestApp(backend, { onQuery: (sql) => statements.push(sql) });
    for (const service of ['fleet-a', 'fleet-b', 'fleet-c']) {
      const created = await t.graphql(`mutation ($input: CreateConfigInput!) { createConfig(input: $input) { __typename } }`, {
        input: { service, config: { batch_size: 1 } },
      });
      expect(created.data).toEqual({ createConfig: { __typename: 'ConfigWrite' } });
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  it('upserts one row per instance and keeps when it was first seen', async () => {
    const first = await t.graphql(REPORT, { input: { service: 'fleet-a', instance: 'host-1:100', status: 'READY', appliedVersion: 1 } });
    expect(first.data?.reportInstance).toMatchObject({ __typename: 'ConfigInstance', instance: 'host-1:100', status: 'READY', appliedVersion: 1, environment: 'production' });
    const second = await t.graphql(REPORT, {
      input: { service: 'fleet-a', instance: 'host-1:100', status: 'READY', appliedVersion: 1, rejectedVersion: 2, error: '/batch_size: too big' },
    });
    const row = second.data?.reportInstance;
    expect(row).toMatchObject({ appliedVersion: 1, rejectedVersion: 2, error: '/batch_size: too big' });
    expect(row.firstSeenAt).toBe(first.data?.reportInstance.firstSeenAt);
    expect(Date.parse(row.reportedAt)).toBeGreaterThanOrEqual(Date.parse(first.data?.reportInstance.reportedAt));
    const rows = await t.db.query<{ count: string }>(`SELECT count(*)::text AS count FROM config_instances WHERE service_name = 'fleet-a'`);
    expect(rows[0]?.count).toBe('1');
  });

  it('drops instances silent for a week when reports come in, and keeps the others', async () => {
    // A gateway sweeps with its first report, then at most once an hour: a fresh one, on its own database.
    const fresh = await createTestApp(backend);
    try {
      const created = await fresh.graphql(`mutation { createConfig(input: { service: "fleet-sweep", config: { a: 1 } }) { __typename } }`);
      expect(created.data).toEqual({ createConfig: { __typename: 'ConfigWrite' } });
      await fresh.db.query(
        `INSERT INTO config_instances (service_name, environment, instance_id, status, applied_version, reported_at)
         VALUES ('fleet-sweep', 'production', 'gone-pod', 'READY', 1, now() - interval '8 days'),
                ('fleet-sweep', 'production', 'quiet-pod', 'READY', 1, now() - interval '6 days')`,
      );
      const reported = await fresh.graphql(REPORT, { input: { service: 'fleet-sweep', instance: 'new-pod', status: 'READY', appliedVersion: 1 } });
      expect(reported.data?.reportInstance.__typename).toBe('ConfigInstance');
      const left = await fresh.db.query<{ instance_id: string }>(`SELECT instance_id FROM config_instances ORDER BY instance_id`);
      expect(left.map((row) => row.instance_id)).toEqual(['new-pod', 'quiet-pod']);
    } finally {
      await fresh.close();
    }
  });

  it('refuses a report for an unknown config or with a bad instance id, and writes nothing', async () => {
    const unknown = await t.graphql(REPORT, { input: { service: 'fleet-none', instance: 'h', status: 'READY' } });
    expect(unknown.data?.reportInstance.__typename).toBe('NotFoundError');
    const blank = await t.graphql(REPORT, { input: { service: 'fleet-b', instance: '  ', status: 'READY', appliedVersion: 0 } });
    expect(blank.data?.reportInstance.__typename).toBe('ValidationError');
    expect(blank.data?.reportInstance.issues.map((issue: { pointer: string }) => issue.pointer)).toEqual(['/instance', '/appliedVersion']);
    const rows = await t.db.query<{ count: string }>(`SELECT count(*)::text AS count FROM config_instances WHERE service_name IN ('fleet-none', 'fleet-b')`);
    expect(rows[0]?.count).toBe('0');
  });

  it("accepts a report with a reader token scoped to the service, and refuses one for another service", async () => {
    const { token } = await t.app.tokens.create({ name: 'fleet-a-reader', role: 'reader', services: ['fleet-a'] }, 'admin');
    const asReader = { authorization: `Bearer ${token}` };
    const own = await t.graphql(REPORT, { input: { service: 'fleet-a', instance: 'reader-1', status: 'READY', appliedVersion: 1 } }, asReader);
    expect(own.data?.reportInstance).toMatchObject({ __typename: 'ConfigInstance', instance: 'reader-1' });
    const other = await t.graphql(REPORT, { input: { service: 'fleet-b', instance: 'reader-1', status: 'READY', appliedVersion: 1 } }, asReader);
    expect(other.data?.reportInstance.__typename).toBe('ForbiddenError');
    const rows = await t.db.query<{ count: string }>(`SELECT count(*)::text AS count FROM config_instances WHERE instance_id = 'reader-1'`);
    expect(rows[0]?.count).toBe('1');
    await t.db.query(`DELETE FROM config_instances WHERE instance_id = 'reader-1'`);
  });

  it('lists the instances of each config of a page in one statement', async () => {
    for (const [service, instance] of [['fleet-b', 'b-1'], ['fleet-b', 'b-2'], ['fleet-c', 'c-1']] as const) {
      const report = await t.graphql(REPORT, { input: { service, instance, status: 'STALE', appliedVersion: 1 } });
      expect(report.data?.reportInstance.__typename).toBe('ConfigInstance');
    }
    statements.length = 0;
    const result = await t.graphql(INSTANCES_OF_PAGE);
    expect(result.errors).toBeUndefined();
    const byService = Object.fromEntries(
      result.data.configs.edges.map((edge: any) => [edge.node.service, edge.node.instances.map((row: any) => row.instance).sort()]),
    );
    expect(byService).toEqual({ 'fleet-a': ['host-1:100'], 'fleet-b': ['b-1', 'b-2'], 'fleet-c': ['c-1'] });
    const instanceReads = statements.filter((sql) => /\bFROM "public"\."config_instances"/.test(sql));
    expect(instanceReads).toHaveLength(1);
  });
});
