import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, createTestApp } from './support/app.ts';
import { backends } from './support/databases.ts';

// N+1 check: the `config` of each change is loaded through a dataloader, so a page of changes costs the
// same number of statements whatever its size.

/**
 * The statements a GraphQL read issues: Prisma's model queries on the two tables (always schema-qualified).
 * Background work (the outbox relay's raw SQL, its transactions) runs on its own clock and is not counted.
 */
function tableRead(sql: string): 'service_configs' | 'config_audit_log' | null {
  const table = /\bFROM "public"\."(service_configs|config_audit_log)"/.exec(sql)?.[1];
  return (table as 'service_configs' | 'config_audit_log' | undefined) ?? null;
}

const historyWithConfigs = (first: number) => /* GraphQL */ `{
  configHistory(service: "batch-a", first: ${first}) {
    edges { node { version config { service version } } }
  }
}`;

const configsWithHistoryWithConfigs = (first: number) => /* GraphQL */ `{
  configs(nameContains: "batch-") {
    edges { node { service history(first: ${first}) { edges { node { version config { service version } } } } } }
  }
}`;

describe.each(backends)('nested config loads on %s', (backend) => {
  let t: TestApp;
  const statements: string[] = [];

  beforeAll(async () => {
    t = await createTestApp(backend, { onQuery: (sql) => statements.push(sql) });
    // 16 changes: batch-a reaches version 11, batch-b and batch-c version 3 and 2.
    const versions = { 'batch-a': 11, 'batch-b': 3, 'batch-c': 2 };
    for (const [service, version] of Object.entries(versions)) {
      const created = await t.graphql(`mutation ($input: CreateConfigInput!) { createConfig(input: $input) { __typename } }`, {
        input: { service, config: { step: 1 } },
      });
      expect(created.data).toEqual({ createConfig: { __typename: 'ConfigWrite' } });
      for (let step = 2; step <= version; step++) {
        const updated = await t.graphql(`mutation ($input: UpdateConfigInput!) { updateConfig(input: $input) { __typename } }`, {
          input: { service, patch: { step } },
        });
        expect(updated.data).toEqual({ updateConfig: { __typename: 'ConfigWrite' } });
      }
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Runs one query with a cold read cache; returns its data and the table reads it issued, in order. */
  async function measure(query: string) {
    t.app.store.cache.clear();
    statements.length = 0;
    const result = await t.graphql(query);
    const reads = statements.map(tableRead).filter((table) => table !== null);
    expect(result.errors).toBeUndefined();
    return { data: result.data, reads };
  }

  it('a page of changes with their config costs two reads, for 3 changes as for 10', async () => {
    const small = await measure(historyWithConfigs(3));
    const large = await measure(historyWithConfigs(10));

    expect(large.data.configHistory.edges.map((edge: any) => edge.node)).toEqual(
      Array.from({ length: 10 }, (_, i) => ({ version: 11 - i, config: { service: 'batch-a', version: 11 } })),
    );
    expect(small.data.configHistory.edges).toHaveLength(3);
    // One read of the page, one batched read of the configs.
    expect(large.reads).toEqual(['config_audit_log', 'service_configs']);
    expect(small.reads).toEqual(large.reads);
  });

  it('changes under several configs: reads grow with the configs listed, never with the changes shown', async () => {
    const listed = 3;
    for (const first of [3, 10]) {
      const { data, reads } = await measure(configsWithHistoryWithConfigs(first));
      const shown = data.configs.edges.flatMap(({ node }: any) =>
        node.history.edges.map(({ node: change }: any) => [node.service, change.version, change.config.version]),
      );
      expect(shown).toEqual([
        ...[11, 10, 9, 8, 7, 6, 5, 4, 3, 2].slice(0, first).map((version) => ['batch-a', version, 11]),
        ...[3, 2, 1].map((version) => ['batch-b', version, 3]),
        ...[2, 1].map((version) => ['batch-c', version, 2]),
      ]);
      // ServiceConfig.history reads once per config listed (at most). The nested configs load in one batch
      // per page of changes at most: pages whose reads return together share a batch, so bound it.
      const count = (table: string) => reads.filter((read) => read === table).length;
      expect(count('config_audit_log')).toBeLessThanOrEqual(listed);
      expect(count('service_configs')).toBeLessThanOrEqual(1 + listed);
    }
  });
});
