import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, createTestApp } from './support/app.ts';
import { backends } from './support/databases.ts';

// N+1 check: the `config` of each change is loaded through a dataloader, so a page of changes costs the
// same number of statements whatever its size.

/**
 * The statements a GraphQL read issues on the two tables: Prisma's model queries (schema-qualified) and
 * the store's raw SQL. Background work (the outbox relay, which looks for and takes out waiting changes)
 * runs on its own clock and is not counted.
 */
function tableRead(sql: string): 'service_configs' | 'config_audit_log' | null {
  if (/\bconfig_outbox\b|confighub_claim_outbox/.test(sql)) return null;
  const table = /\bFROM (?:"public"\.)?"?(service_configs|config_audit_log)\b/.exec(sql)?.[1];
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
      // The listing, then the first page of history of all the configs listed together (the revisions,
      // then the rows), then the configs those changes belong to, in one batch.
      expect(reads).toEqual(['service_configs', 'config_audit_log', 'config_audit_log', 'service_configs']);
      expect(listed).toBe(data.configs.edges.length);
    }
  });

  it('two page sizes in one request get their own pages; a later page (a cursor) follows on', async () => {
    type Page = { edges: { node: { version: number } }[]; pageInfo: { endCursor: string; hasNextPage: boolean } };
    const versions = (page: Page) => page.edges.map(({ node }) => node.version);
    const { data } = await measure(`{
      configs(nameContains: "batch-") {
        edges { node { service
          small: history(first: 1) { edges { node { version } } pageInfo { endCursor hasNextPage } }
          large: history(first: 4) { edges { node { version } } pageInfo { endCursor hasNextPage } } } }
      }
    }`);
    const byService = Object.fromEntries(data.configs.edges.map(({ node }: { node: { service: string; small: Page; large: Page } }) => [node.service, node]));
    expect(versions(byService['batch-a'].small)).toEqual([11]);
    expect(byService['batch-a'].small.pageInfo.hasNextPage).toBe(true);
    expect(versions(byService['batch-a'].large)).toEqual([11, 10, 9, 8]);
    expect(versions(byService['batch-b'].large)).toEqual([3, 2, 1]);
    expect(byService['batch-b'].large.pageInfo.hasNextPage).toBe(false);
    expect(versions(byService['batch-c'].small)).toEqual([2]);

    const after = byService['batch-a'].small.pageInfo.endCursor;
    const next = await measure(`{ configs(nameContains: "batch-a") { edges { node { history(first: 3, after: "${after}") { edges { node { version } } } } } } }`);
    expect(next.data.configs.edges[0].node.history.edges.map(({ node }: { node: { version: number } }) => node.version)).toEqual([10, 9, 8]);
  });
});
