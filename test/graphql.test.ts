import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TypedDocument } from '../src/client/index.ts';
import { ConfigDiff, ConfigHistory, GetConfig, RollbackConfig, UpdateConfig } from '../src/cli/operations.ts';
import { useTestApp } from './support/app.ts';
import { backends, tablesDigest } from './support/databases.ts';

// Operations with selections of their own (neither the client's nor the CLI's); results are checked field by field.
const CreateConfigMutation = /* GraphQL */ `
  mutation CreateConfig($input: CreateConfigInput!) {
    createConfig(input: $input) {
      __typename
      ... on ConfigWrite {
        previousVersion
        changed
        diff { op path from value }
        config { service environment version config description deletedAt }
        change { version action changedBy reason oldConfig newConfig }
      }
      ... on AlreadyExistsError { service environment deleted }
      ... on Error { message }
    }
  }
`;

const writeSelection = /* GraphQL */ `
  __typename
  ... on ConfigWrite {
    previousVersion
    diff { op path from value }
    config { version config deletedAt }
    change { version action changedBy reason oldConfig newConfig }
  }
  ... on Error { message }
`;
const DeleteConfigMutation = `mutation DeleteConfig($input: ConfigLifecycleInput!) { deleteConfig(input: $input) { ${writeSelection} } }`;
const RestoreConfigMutation = `mutation RestoreConfig($input: ConfigLifecycleInput!) { restoreConfig(input: $input) { ${writeSelection} } }`;

const ListConfigsQuery = /* GraphQL */ `
  query ListConfigs($environment: String, $nameContains: String, $includeDeleted: Boolean, $first: Int, $after: String) {
    configs(environment: $environment, nameContains: $nameContains, includeDeleted: $includeDeleted, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { service environment } }
    }
  }
`;

const tickAggregatorSeed = {
  operational: {
    aggregation_window_ms: 1000,
    late_tick_tolerance_ms: 500,
    worker_threads: 4,
    checkpoint_interval_seconds: 60,
    max_queue_depth: 100_000,
  },
  features: { enable_vwap: true, enable_outlier_filter: true, publish_partial_bars: false },
  business: { bar_intervals: ['1s', '1m', '5m'], outlier_stddev_threshold: 6, min_trade_size: 1 },
};

const nameRule =
  'service must match ^[a-z0-9][a-z0-9._-]{0,127}$ (lower case letters, digits, ".", "_", "-"; at most 128 characters)';

/** Narrows a union result, showing the whole value (an error's message) when it is something else. */
function as<T extends { __typename: string }, N extends T['__typename']>(value: T | null, typename: N): Extract<T, { __typename: N }> {
  expect(value).toMatchObject({ __typename: typename });
  return value as Extract<T, { __typename: N }>;
}

describe.each(backends)('GraphQL API on %s', (backend) => {
  const t = useTestApp(backend);

  /** Runs an operation that must not fail at the top level: expected failures are union members. */
  async function run<R, V>(document: TypedDocument<R, V> | string, variables: V): Promise<R> {
    const result = await t.graphql<R>(document, variables as Record<string, unknown>);
    expect(result.errors).toBeUndefined();
    return result.data!;
  }

  const digest = () => tablesDigest(t.db);

  async function create(service: string, config: object, environment?: string) {
    const { createConfig } = await run<any, object>(CreateConfigMutation, { input: { service, environment, config } });
    expect(createConfig).toMatchObject({ __typename: 'ConfigWrite', config: { version: 1 } });
  }

  /** Creates a config with versions[0] and replaces it with each later document in turn. */
  async function createVersions(service: string, versions: object[]) {
    await create(service, versions[0]!);
    for (const [index, config] of versions.slice(1).entries()) {
      const { updateConfig } = await run(UpdateConfig, { input: { service, config, reason: `step ${index + 2}` } });
      expect(as(updateConfig, 'ConfigWrite').config.version).toBe(index + 2);
    }
  }

  async function history(service: string, first = 50) {
    const { configHistory } = await run(ConfigHistory, { service, first });
    return configHistory!.edges.map(({ node }) => node);
  }

  describe('reads', () => {
    it('serves a seeded config, in production unless told otherwise', async () => {
      const { config } = await run(GetConfig, { service: 'tick-aggregator' });
      const seeded = as(config, 'ServiceConfig');
      expect(seeded).toMatchObject({
        service: 'tick-aggregator',
        environment: 'production',
        version: 1,
        config: tickAggregatorSeed,
        description: 'Rolls raw ticks into OHLCV bars and publishes them to downstream processors',
        updatedBy: 'seed',
      });
      expect(seeded.config).toEqual(tickAggregatorSeed);

      const byId = await run<any, object>(`query ($id: ID!) { node(id: $id) { ... on ServiceConfig { service version } } }`, { id: seeded.id });
      expect(byId.node).toEqual({ service: 'tick-aggregator', version: 1 });

      const staging = await run(GetConfig, { service: 'tick-aggregator', environment: 'staging' });
      expect(staging.config).toEqual({
        __typename: 'NotFoundError',
        message: 'no config for service "tick-aggregator" in environment "staging"',
      });
    });

    it('lists configs by environment and name, with paging and totalCount', async () => {
      await create('list-a', { n: 1 }, 'listing');
      await create('list-b', { n: 2 }, 'listing');
      await create('list-c', { n: 3 }, 'listing');
      await create('list-a', { n: 4 });

      const pilots = await run<any, object>(ListConfigsQuery, { environment: 'production', nameContains: 'polygon' });
      expect(pilots.configs).toEqual({
        totalCount: 2,
        pageInfo: { hasNextPage: false, endCursor: expect.any(String) },
        edges: [
          { node: { service: 'polygon-historical-downloader', environment: 'production' } },
          { node: { service: 'polygon-live-collector', environment: 'production' } },
        ],
      });

      const named = await run<any, object>(ListConfigsQuery, { nameContains: 'list-a' });
      expect(named.configs.totalCount).toBe(2);
      expect(named.configs.edges).toEqual([
        { node: { service: 'list-a', environment: 'listing' } },
        { node: { service: 'list-a', environment: 'production' } },
      ]);

      const first = await run<any, object>(ListConfigsQuery, { environment: 'listing', first: 2 });
      expect(first.configs.totalCount).toBe(3);
      expect(first.configs.pageInfo.hasNextPage).toBe(true);
      expect(first.configs.edges.map((edge: any) => edge.node.service)).toEqual(['list-a', 'list-b']);

      const rest = await run<any, object>(ListConfigsQuery, { environment: 'listing', first: 2, after: first.configs.pageInfo.endCursor });
      expect(rest.configs.totalCount).toBe(3);
      expect(rest.configs.pageInfo.hasNextPage).toBe(false);
      expect(rest.configs.edges.map((edge: any) => edge.node.service)).toEqual(['list-c']);
    });

    it('pages configHistory newest first, with each change as RFC 6902 operations', async () => {
      await createVersions('paged-history', [{ n: 0 }, { n: 1 }, { n: 2, extra: true }, { n: 3 }, { n: 4 }]);

      const page1 = (await run(ConfigHistory, { service: 'paged-history', first: 2 })).configHistory!;
      expect(page1.pageInfo.hasNextPage).toBe(true);
      expect(page1.edges.map(({ node }) => [node.version, node.action, node.patch])).toEqual([
        [5, 'UPDATE', [{ op: 'replace', path: '/n', from: null, value: 4 }]],
        [4, 'UPDATE', [
          { op: 'remove', path: '/extra', from: null, value: null },
          { op: 'replace', path: '/n', from: null, value: 3 },
        ]],
      ]);

      const page2 = (await run(ConfigHistory, { service: 'paged-history', first: 2, after: page1.pageInfo.endCursor })).configHistory!;
      expect(page2.pageInfo.hasNextPage).toBe(true);
      expect(page2.edges.map(({ node }) => [node.version, node.patch])).toEqual([
        [3, [
          { op: 'replace', path: '/n', from: null, value: 2 },
          { op: 'add', path: '/extra', from: null, value: true },
        ]],
        [2, [{ op: 'replace', path: '/n', from: null, value: 1 }]],
      ]);

      const page3 = (await run(ConfigHistory, { service: 'paged-history', first: 2, after: page2.pageInfo.endCursor })).configHistory!;
      expect(page3.pageInfo.hasNextPage).toBe(false);
      expect(page3.edges.map(({ node }) => node)).toEqual([
        expect.objectContaining({
          version: 1,
          action: 'CREATE',
          changedBy: 'admin',
          reason: null,
          oldConfig: null,
          newConfig: { n: 0 },
          patch: [{ op: 'add', path: '/n', from: null, value: 0 }],
        }),
      ]);

      const revisions = [...page1.edges, ...page2.edges, ...page3.edges].map(({ node }) => node.revision);
      expect(revisions).toEqual([...revisions].sort((a, b) => b - a));
      expect(new Set(revisions).size).toBe(5);
    });

    it('diffs two versions, both ways', async () => {
      await createVersions('diff-target', [{ a: 1, b: { c: true } }, { a: 1, b: { d: 'x' }, e: [1] }]);

      const forward = await run(ConfigDiff, { service: 'diff-target', fromVersion: 1, toVersion: 2 });
      expect(as(forward.configDiff, 'ConfigDiff').operations).toEqual([
        { op: 'remove', path: '/b/c', from: null, value: null },
        { op: 'add', path: '/b/d', from: null, value: 'x' },
        { op: 'add', path: '/e', from: null, value: [1] },
      ]);
      const backward = await run(ConfigDiff, { service: 'diff-target', fromVersion: 2, toVersion: 1 });
      expect(as(backward.configDiff, 'ConfigDiff').operations).toEqual([
        { op: 'remove', path: '/e', from: null, value: null },
        { op: 'remove', path: '/b/d', from: null, value: null },
        { op: 'add', path: '/b/c', from: null, value: true },
      ]);
      const same = await run(ConfigDiff, { service: 'diff-target', fromVersion: 2, toVersion: 2 });
      expect(as(same.configDiff, 'ConfigDiff').operations).toEqual([]);
      // A diff is kept once worked out: asked again, the same answer; another config's versions 1 and 2, its own.
      const again = await run(ConfigDiff, { service: 'diff-target', fromVersion: 1, toVersion: 2 });
      expect(as(again.configDiff, 'ConfigDiff').operations).toEqual(as(forward.configDiff, 'ConfigDiff').operations);
      await createVersions('diff-other', [{ a: 1 }, { a: 2 }]);
      const other = await run(ConfigDiff, { service: 'diff-other', fromVersion: 1, toVersion: 2 });
      expect(as(other.configDiff, 'ConfigDiff').operations).toEqual([{ op: 'replace', path: '/a', from: null, value: 2 }]);

      const missing = await run<any, object>(
        `{ configDiff(service: "diff-target", fromVersion: 1, toVersion: 9) { __typename ... on NotFoundError { service environment version message } } }`,
        {},
      );
      expect(missing.configDiff).toEqual({
        __typename: 'NotFoundError',
        service: 'diff-target',
        environment: 'production',
        version: 9,
        message: 'config "diff-target" in "production" has no version 9',
      });
    });

    it('configVersion, ServiceConfig.history and atVersion give past content', async () => {
      await createVersions('past-content', [{ level: 'low' }, { level: 'mid' }, { level: 'high' }]);

      const atVersion = await run<any, object>(
        /* GraphQL */ `{
          v2: configVersion(service: "past-content", version: 2) { __typename ... on ConfigChange { version action newConfig oldConfig } }
          v7: configVersion(service: "past-content", version: 7) { __typename ... on NotFoundError { version message } }
        }`,
        {},
      );
      expect(atVersion).toEqual({
        v2: { __typename: 'ConfigChange', version: 2, action: 'UPDATE', newConfig: { level: 'mid' }, oldConfig: { level: 'low' } },
        v7: { __typename: 'NotFoundError', version: 7, message: 'config "past-content" in "production" has no version 7' },
      });

      const nested = await run<any, object>(
        /* GraphQL */ `{
          config(service: "past-content") {
            ... on ServiceConfig {
              version
              config
              history(first: 2) { pageInfo { hasNextPage } edges { node { version newConfig } } }
              first: atVersion(version: 1) { version action newConfig }
              none: atVersion(version: 4) { version }
            }
          }
        }`,
        {},
      );
      expect(nested.config).toEqual({
        version: 3,
        config: { level: 'high' },
        history: {
          pageInfo: { hasNextPage: true },
          edges: [{ node: { version: 3, newConfig: { level: 'high' } } }, { node: { version: 2, newConfig: { level: 'mid' } } }],
        },
        first: { version: 1, action: 'CREATE', newConfig: { level: 'low' } },
        none: null,
      });
    });

    it('refuses a page of history or rollouts in each config of a listing, and answers the rest', async () => {
      // Each config's atVersion is a read of its own: whichever ends first must not decide what is answered.
      await createVersions('refused-page-a', [{ level: 'low' }, { level: 'mid' }]);
      await createVersions('refused-page-b', [{ level: 'low' }]);
      const listing = await t.graphql<any>(
        /* GraphQL */ `{
          configs(nameContains: "refused-page") {
            edges { node { service first: atVersion(version: 1) { version } history(first: -1) { edges { cursor } } rollouts(first: 0) { id } } }
          }
        }`,
      );
      expect(listing.data.configs.edges.map(({ node }: any) => node)).toEqual([
        { service: 'refused-page-a', first: { version: 1 }, history: null, rollouts: null },
        { service: 'refused-page-b', first: { version: 1 }, history: null, rollouts: null },
      ]);
      const refused = listing.errors!.map((error: any) => [error.path.join('.'), error.extensions.code]).sort();
      expect(refused).toEqual([
        ['configs.edges.0.node.history', 'BAD_USER_INPUT'],
        ['configs.edges.0.node.rollouts', 'BAD_USER_INPUT'],
        ['configs.edges.1.node.history', 'BAD_USER_INPUT'],
        ['configs.edges.1.node.rollouts', 'BAD_USER_INPUT'],
      ]);
    });
  });

  describe('updateConfig', () => {
    it('applies a merge patch where null removes a key, and returns the audit row', async () => {
      await create('merge-target', { a: { b: 1, c: 2 }, keep: true });
      const { updateConfig } = await run(UpdateConfig, {
        input: { service: 'merge-target', patch: { a: { b: 5, c: null }, added: 'x' }, reason: 'tune b' },
      });
      const write = as(updateConfig, 'ConfigWrite');
      expect(write).toMatchObject({
        previousVersion: 1,
        changed: true,
        dryRun: false,
        diff: [
          { op: 'remove', path: '/a/c', from: null, value: null },
          { op: 'replace', path: '/a/b', from: null, value: 5 },
          { op: 'add', path: '/added', from: null, value: 'x' },
        ],
        config: { service: 'merge-target', environment: 'production', version: 2, updatedBy: 'admin' },
        change: { version: 2, action: 'UPDATE', changedBy: 'admin', reason: 'tune b' },
      });
      expect(write.config.config).toEqual({ a: { b: 5 }, keep: true, added: 'x' });

      // ConfigWrite.change is the newest row of the audit log.
      const [latest, created] = await history('merge-target');
      expect(write.change!.revision).toBe(latest!.revision);
      expect(write.change!.revision).toBeGreaterThan(created!.revision);
      expect(latest).toMatchObject({ newConfig: { a: { b: 5 }, keep: true, added: 'x' }, oldConfig: { a: { b: 1, c: 2 }, keep: true } });
    });

    it('replaces the whole document with config', async () => {
      await create('replace-target', { a: 1, b: { c: 2 } });
      const { updateConfig } = await run(UpdateConfig, { input: { service: 'replace-target', config: { x: true } } });
      const write = as(updateConfig, 'ConfigWrite');
      expect(write.config).toMatchObject({ version: 2, config: { x: true } });
      expect(write.diff).toEqual([
        { op: 'remove', path: '/b', from: null, value: null },
        { op: 'remove', path: '/a', from: null, value: null },
        { op: 'add', path: '/x', from: null, value: true },
      ]);
      expect(write.change).toMatchObject({ version: 2, action: 'UPDATE', changedBy: 'admin', reason: null });
    });

    it('writes with the current expectedVersion and refuses a stale one, writing nothing', async () => {
      await create('pinned', { n: 1 });
      const ok = await run(UpdateConfig, { input: { service: 'pinned', patch: { n: 2 }, expectedVersion: 1 } });
      expect(as(ok.updateConfig, 'ConfigWrite').config.version).toBe(2);

      const before = await digest();
      const stale = await run(UpdateConfig, { input: { service: 'pinned', patch: { n: 3 }, expectedVersion: 1 } });
      expect(stale.updateConfig).toEqual({
        __typename: 'VersionConflictError',
        expectedVersion: 1,
        currentVersion: 2,
        message: 'config "pinned" in "production" is at version 2, not 1: re-read it and retry',
      });
      expect(await digest()).toBe(before);
    });

    it('dryRun returns the diff and the would-be version, and writes nothing', async () => {
      const before = await digest();
      const { updateConfig } = await run(UpdateConfig, {
        input: { service: 'tick-aggregator', patch: { features: { enable_vwap: false } }, dryRun: true },
      });
      const dry = as(updateConfig, 'ConfigWrite');
      expect(dry).toMatchObject({
        dryRun: true,
        changed: true,
        previousVersion: 1,
        diff: [{ op: 'replace', path: '/features/enable_vwap', from: null, value: false }],
        config: { version: 2 },
        change: null,
      });
      expect(dry.config.config).toEqual({ ...tickAggregatorSeed, features: { ...tickAggregatorSeed.features, enable_vwap: false } });

      expect(await digest()).toBe(before);
      const after = as((await run(GetConfig, { service: 'tick-aggregator' })).config, 'ServiceConfig');
      expect(after.version).toBe(1);
      expect(after.config).toEqual(tickAggregatorSeed);
    });

    it('a dry run shows the description the write would set, also when it clears it', async () => {
      await run<any, object>(CreateConfigMutation, { input: { service: 'described', config: { a: 1 }, description: 'to be cleared' } });
      const before = await digest();
      const dry = await run(UpdateConfig, { input: { service: 'described', patch: {}, description: null, dryRun: true } });
      expect(as(dry.updateConfig, 'ConfigWrite')).toMatchObject({
        dryRun: true,
        changed: true,
        diff: [],
        config: { version: 2, description: null, config: { a: 1 } },
      });
      expect(await digest()).toBe(before);

      const write = await run(UpdateConfig, { input: { service: 'described', patch: {}, description: null } });
      expect(as(write.updateConfig, 'ConfigWrite')).toMatchObject({
        dryRun: false,
        changed: true,
        config: { version: 2, description: null, config: { a: 1 } },
      });
    });

    it('a patch that changes nothing writes no version', async () => {
      const before = await digest();
      const { updateConfig } = await run(UpdateConfig, {
        input: { service: 'tick-aggregator', patch: { features: { enable_vwap: true } }, reason: 'no-op' },
      });
      expect(as(updateConfig, 'ConfigWrite')).toMatchObject({
        changed: false,
        dryRun: false,
        previousVersion: 1,
        diff: [],
        config: { version: 1 },
        change: null,
      });
      expect(await digest()).toBe(before);
    });

    it('a replacement written inline with the same content writes no version either', async () => {
      // Inline JSON objects reach the store with a null prototype; they are still the same document.
      await create('inline-same', { a: 1, nested: { b: [1, { c: 'x' }] } });
      const before = await digest();
      const { updateConfig } = await run<any, object>(
        `mutation { updateConfig(input: { service: "inline-same", config: { nested: { b: [1, { c: "x" }] }, a: 1 } }) {
          __typename ... on ConfigWrite { changed previousVersion config { version } } } }`,
        {},
      );
      expect(updateConfig).toEqual({ __typename: 'ConfigWrite', changed: false, previousVersion: 1, config: { version: 1 } });
      expect(await digest()).toBe(before);
    });
  });

  describe('expected failures are union members and write nothing', () => {
    it.each([
      ['an unknown service', { service: 'no-such-service', patch: { a: 1 } }, {
        __typename: 'NotFoundError',
        message: 'no config for service "no-such-service" in environment "production"',
      }],
      ['an invalid service name', { service: 'Bad Name!', patch: { a: 1 } }, {
        __typename: 'ValidationError',
        issues: [{ pointer: '/service', message: nameRule }],
      }],
      ['a config that is not an object', { service: 'tick-aggregator', config: [1, 2] }, {
        __typename: 'ValidationError',
        issues: [{ pointer: '/config', message: 'config must be a JSON object, not an array' }],
      }],
      ['a patch that is not an object', { service: 'tick-aggregator', patch: 'x' }, {
        __typename: 'ValidationError',
        issues: [{ pointer: '/patch', message: 'patch must be a JSON object, not a string' }],
      }],
      ['both patch and config', { service: 'tick-aggregator', patch: { a: 1 }, config: { a: 1 } }, {
        __typename: 'ValidationError',
        issues: [{ pointer: '', message: 'give exactly one of patch (RFC 7396 merge patch) or config (full replacement)' }],
      }],
    ])('updateConfig refuses %s', async (_name, input, expected) => {
      const before = await digest();
      const { updateConfig } = await run(UpdateConfig, { input });
      expect(updateConfig).toMatchObject(expected);
      expect(await digest()).toBe(before);
    });

    it('config reports an unknown service and an invalid name', async () => {
      const result = await run<any, object>(
        /* GraphQL */ `{
          unknown: config(service: "no-such-service") { __typename ... on NotFoundError { service environment version } }
          invalid: config(service: "tick-aggregator", environment: "Not Valid") { __typename ... on ValidationError { issues { pointer } } }
        }`,
        {},
      );
      expect(result).toEqual({
        unknown: { __typename: 'NotFoundError', service: 'no-such-service', environment: 'production', version: null },
        invalid: { __typename: 'ValidationError', issues: [{ pointer: '/environment' }] },
      });
    });

    it('createConfig refuses a duplicate with AlreadyExistsError', async () => {
      const before = await digest();
      const { createConfig } = await run<any, object>(CreateConfigMutation, { input: { service: 'tick-aggregator', config: { a: 1 } } });
      expect(createConfig).toEqual({
        __typename: 'AlreadyExistsError',
        service: 'tick-aggregator',
        environment: 'production',
        deleted: false,
        message: 'config "tick-aggregator" in "production" already exists',
      });
      expect(await digest()).toBe(before);
    });
  });

  it('creates, soft-deletes and restores a config, each audited', async () => {
    const created = await run<any, object>(CreateConfigMutation, {
      input: { service: 'lifecycle', config: { on: true }, description: 'comes and goes', reason: 'new service' },
    });
    expect(created.createConfig).toEqual({
      __typename: 'ConfigWrite',
      previousVersion: 0,
      changed: true,
      diff: [{ op: 'add', path: '/on', from: null, value: true }],
      config: { service: 'lifecycle', environment: 'production', version: 1, config: { on: true }, description: 'comes and goes', deletedAt: null },
      change: { version: 1, action: 'CREATE', changedBy: 'admin', reason: 'new service', oldConfig: null, newConfig: { on: true } },
    });

    const deleted = await run<any, object>(DeleteConfigMutation, { input: { service: 'lifecycle', reason: 'retired' } });
    expect(deleted.deleteConfig).toMatchObject({
      __typename: 'ConfigWrite',
      previousVersion: 1,
      diff: [{ op: 'remove', path: '/on', from: null, value: null }],
      config: { version: 2, deletedAt: expect.any(String) },
      change: { version: 2, action: 'DELETE', changedBy: 'admin', reason: 'retired', oldConfig: { on: true }, newConfig: null },
    });

    expect((await run(GetConfig, { service: 'lifecycle' })).config).toMatchObject({ __typename: 'NotFoundError' });
    expect((await history('lifecycle')).map((change) => change.action)).toEqual(['DELETE', 'CREATE']);
    const listed = await run<any, object>(ListConfigsQuery, { nameContains: 'lifecycle' });
    expect(listed.configs.totalCount).toBe(0);
    const listedWithDeleted = await run<any, object>(ListConfigsQuery, { nameContains: 'lifecycle', includeDeleted: true });
    expect(listedWithDeleted.configs.totalCount).toBe(1);
    const again = await run<any, object>(CreateConfigMutation, { input: { service: 'lifecycle', config: { on: false } } });
    expect(again.createConfig).toMatchObject({ __typename: 'AlreadyExistsError', deleted: true });

    const restored = await run<any, object>(RestoreConfigMutation, { input: { service: 'lifecycle', expectedVersion: 2 } });
    expect(restored.restoreConfig).toMatchObject({
      __typename: 'ConfigWrite',
      previousVersion: 2,
      config: { version: 3, config: { on: true }, deletedAt: null },
      change: { version: 3, action: 'RESTORE', oldConfig: null, newConfig: { on: true } },
    });
    expect(as((await run(GetConfig, { service: 'lifecycle' })).config, 'ServiceConfig')).toMatchObject({ version: 3, config: { on: true } });
    expect((await history('lifecycle')).map((change) => change.action)).toEqual(['RESTORE', 'DELETE', 'CREATE']);

    const restoreLive = await run<any, object>(RestoreConfigMutation, { input: { service: 'lifecycle' } });
    expect(restoreLive.restoreConfig).toEqual({ __typename: 'NotFoundError', message: 'config "lifecycle" in "production" is not deleted' });
  });

  describe('rollbackConfig', () => {
    it('writes a new version with the old content, recorded as ROLLBACK', async () => {
      await createVersions('rollback-target', [{ level: 1, mode: 'a' }, { level: 2, mode: 'a' }, { level: 2, mode: 'b' }]);

      const { rollbackConfig } = await run(RollbackConfig, { input: { service: 'rollback-target', toVersion: 1, reason: 'undo' } });
      const write = as(rollbackConfig, 'ConfigWrite');
      expect(write).toMatchObject({
        previousVersion: 3,
        dryRun: false,
        config: { version: 4, updatedBy: 'admin' },
        change: { version: 4, action: 'ROLLBACK', changedBy: 'admin', reason: 'undo' },
      });
      expect(write.config.config).toEqual({ level: 1, mode: 'a' });
      expect(write.diff).toEqual(
        expect.arrayContaining([
          { op: 'replace', path: '/level', from: null, value: 1 },
          { op: 'replace', path: '/mode', from: null, value: 'a' },
        ]),
      );
      expect(write.diff).toHaveLength(2);

      const changes = await history('rollback-target');
      expect(changes.map((change) => [change.version, change.action])).toEqual([[4, 'ROLLBACK'], [3, 'UPDATE'], [2, 'UPDATE'], [1, 'CREATE']]);
      expect(changes[0]!.newConfig).toEqual(changes[3]!.newConfig);

      // Without a reason, the audit log says what happened.
      const again = await run(RollbackConfig, { input: { service: 'rollback-target', toVersion: 3, expectedVersion: 4 } });
      expect(as(again.rollbackConfig, 'ConfigWrite')).toMatchObject({
        config: { version: 5, config: { level: 2, mode: 'b' } },
        change: { action: 'ROLLBACK', reason: 'rollback to version 3' },
      });
    });

    it('refuses a missing version, a deletion and a stale expectedVersion, writing nothing', async () => {
      await createVersions('rollback-refused', [{ n: 1 }, { n: 2 }]);
      await run<any, object>(DeleteConfigMutation, { input: { service: 'rollback-refused' } });
      await run<any, object>(RestoreConfigMutation, { input: { service: 'rollback-refused' } });
      const before = await digest();

      const missing = await run(RollbackConfig, { input: { service: 'rollback-refused', toVersion: 7 } });
      expect(missing.rollbackConfig).toEqual({
        __typename: 'NotFoundError',
        message: 'config "rollback-refused" in "production" has no version 7',
      });
      const deletion = await run<any, object>(
        `mutation { rollbackConfig(input: { service: "rollback-refused", toVersion: 3 }) { __typename ... on ValidationError { issues { pointer message } } } }`,
        {},
      );
      expect(deletion.rollbackConfig).toEqual({
        __typename: 'ValidationError',
        issues: [{ pointer: '/toVersion', message: 'version 3 of "rollback-refused" is a deletion and holds no config' }],
      });
      const stale = await run(RollbackConfig, { input: { service: 'rollback-refused', toVersion: 1, expectedVersion: 2 } });
      expect(stale.rollbackConfig).toMatchObject({ __typename: 'VersionConflictError', expectedVersion: 2, currentVersion: 4 });
      expect(await digest()).toBe(before);
    });
  });
});
