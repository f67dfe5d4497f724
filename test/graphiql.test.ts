import { Kind, parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphiqlExamples } from '../src/server/graphiql.ts';
import { adminAuth, type TestApp, createTestApp } from './support/app.ts';
import { backends } from './support/databases.ts';

const pilot = 'polygon-historical-downloader';
const gapCheck = '/operational/gap_check_interval_hours';

/**
 * What each example shows on a freshly seeded hub, in the order a newcomer would run them.
 * The pilot starts at version 1 with gap_check_interval_hours 6.
 */
const expectations: Record<string, (data: any) => void> = {
  PilotConfig: (data) =>
    expect(data.config).toMatchObject({
      __typename: 'ServiceConfig',
      service: pilot,
      environment: 'production',
      version: 1,
      updatedBy: 'seed',
      config: { operational: { gap_check_interval_hours: 6 } },
    }),
  AllConfigs: (data) => {
    expect(data.configs.totalCount).toBe(3);
    expect(data.configs.edges.map((edge: any) => edge.node.service)).toEqual([pilot, 'polygon-live-collector', 'tick-aggregator']);
  },
  ChangeGapCheckInterval: (data) =>
    expect(data.updateConfig).toMatchObject({
      __typename: 'ConfigWrite',
      previousVersion: 1,
      config: { version: 2, config: { operational: { gap_check_interval_hours: 2 } } },
      diff: [{ op: 'replace', path: gapCheck, value: 2 }],
    }),
  History: (data) =>
    expect(data.configHistory.edges.map((edge: any) => edge.node)).toMatchObject([
      { version: 2, action: 'UPDATE', changedBy: 'admin', reason: 'tighter gap checks during the backfill', patch: [{ op: 'replace', path: gapCheck, value: 2 }] },
      { version: 1, action: 'CREATE', changedBy: 'seed', reason: 'pilot services seeded by migration' },
    ]),
  DiffFirstToSecond: (data) =>
    expect(data.configDiff).toEqual({ __typename: 'ConfigDiff', operations: [{ op: 'replace', path: gapCheck, value: 2 }] }),
  RollBackToFirstVersion: (data) =>
    expect(data.rollbackConfig).toMatchObject({
      __typename: 'ConfigWrite',
      config: { version: 3, config: { operational: { gap_check_interval_hours: 6 } } },
      diff: [{ op: 'replace', path: gapCheck, value: 6 }],
    }),
};

const operationNames = parse(graphiqlExamples).definitions.flatMap((definition) =>
  definition.kind === Kind.OPERATION_DEFINITION && definition.name ? [definition.name.value] : [],
);

describe('GraphiQL', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp('pglite');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a browser asking for /graphql gets GraphiQL, opened on the examples', async () => {
    const response = await t.app.fetch(new Request('http://confighub.test/graphql', { headers: { accept: 'text/html' } }));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await response.text();
    expect(page).toContain('<title>confighub</title>');
    expect(page).toContain(JSON.stringify(graphiqlExamples));
  });

  it('has an expectation for every example, in order', () => {
    expect(operationNames).toEqual(Object.keys(expectations));
  });
});

describe.each(backends)('GraphiQL examples on %s', (backend) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp(backend);
  });
  afterAll(async () => {
    await t?.close();
  });

  // Each example runs on the state the previous ones left, as in GraphiQL: one test per example, in order.
  it.each(operationNames)('%s runs without errors and shows what it says', async (operationName) => {
    const response = await t.app.fetch(
      new Request('http://confighub.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...adminAuth },
        body: JSON.stringify({ query: graphiqlExamples, operationName }),
      }),
    );
    const result = (await response.json()) as { data?: unknown; errors?: unknown[] };
    expect(result.errors).toBeUndefined();
    expectations[operationName]!(result.data);
  });
});
