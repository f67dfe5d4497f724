// Compiled execution (src/server/compiledExecution.ts): every answer is the one graphql-js's executor
// gives for the same request, and the operations that should run compiled do.
import { getIntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator } from '../src/server/authentication.ts';
import type { ExecutionCounts } from '../src/server/compiledExecution.ts';
import { type GraphQLServer, createGraphQLServer } from '../src/server/graphql.ts';
import { graphiqlExamples } from '../src/server/graphiql.ts';
import { adminAuth, createTestApp, silentLogger, type TestApp } from './support/app.ts';

const pilot = 'polygon-historical-downloader';

interface Case {
  name: string;
  query: string;
  variables?: Record<string, unknown>;
  operationName?: string;
  /** Send no token. */
  anonymous?: boolean;
  /** How it should run: compiled, or by the standard executor. */
  runs: keyof ExecutionCounts;
}

const cases: Case[] = [
  {
    name: 'a config with every field, through fragments and aliases',
    query: `query Pilot($service: String!, $withHistory: Boolean!) {
      first: config(service: $service) { __typename ...Whole }
      again: config(service: $service) { ... on ServiceConfig { version updatedBy } }
    }
    fragment Whole on ServiceConfig {
      id service environment version config description createdAt updatedAt updatedBy deletedAt
      history(first: 2) @include(if: $withHistory) { edges { cursor node { version action changedBy patch { op path value } } } }
    }`,
    variables: { service: pilot, withHistory: true },
    runs: 'compiled',
  },
  {
    name: 'a page of configs with its cursors',
    query: `{ configs(first: 2) { totalCount edges { cursor node { service version } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`,
    runs: 'compiled',
  },
  {
    name: 'the history with old and new documents and patches',
    query: `{ configHistory(service: "${pilot}", first: 3) { edges { node { version action oldConfig newConfig changedBy reason patch { op path from value } } } } }`,
    runs: 'compiled',
  },
  {
    name: 'a diff and a past version',
    query: `{
      configDiff(service: "${pilot}", fromVersion: 1, toVersion: 1) { __typename ... on ConfigDiff { operations { op path value } } ... on Error { message } }
      configVersion(service: "${pilot}", version: 1) { __typename ... on ConfigChange { version newConfig } }
    }`,
    runs: 'compiled',
  },
  {
    name: 'an unknown service (a typed result)',
    query: `{ config(service: "no-such-service") { __typename ... on Error { message } ... on NotFoundError { service environment } } }`,
    runs: 'compiled',
  },
  {
    name: 'a dry-run update with its diff',
    query: `mutation { updateConfig(input: { service: "${pilot}", patch: { operational: { batch_size: 5 } }, dryRun: true }) {
      __typename ... on ConfigWrite { dryRun changed previousVersion diff { op path value } config { version config } }
    } }`,
    runs: 'compiled',
  },
  {
    name: 'an update against a stale version (a typed conflict, nothing written)',
    query: `mutation { updateConfig(input: { service: "${pilot}", patch: { counter: 1 }, expectedVersion: 99 }) {
      __typename ... on VersionConflictError { message expectedVersion currentVersion }
    } }`,
    runs: 'compiled',
  },
  {
    name: 'a refusal to a caller without a token',
    query: `{ config(service: "${pilot}") { __typename ... on Error { message } } configs { totalCount } }`,
    anonymous: true,
    runs: 'compiled',
  },
  {
    name: 'a string variable given a number',
    query: `query Q($service: String!) { config(service: $service) { __typename } }`,
    variables: { service: 42 },
    runs: 'standard',
  },
  {
    name: 'an enum variable given a value it does not have',
    query: `mutation M($role: Role!) { createToken(input: { name: "bad-role", role: $role }) { __typename } }`,
    variables: { role: 'ROOT' },
    runs: 'standard',
  },
  {
    name: 'fields left out and kept by @skip and @include',
    query: `query Q($yes: Boolean!, $no: Boolean!) {
      config(service: "${pilot}") { ... on ServiceConfig { version @skip(if: $yes) service @include(if: $yes) config @include(if: $no) updatedBy @skip(if: $no) } }
    }`,
    variables: { yes: true, no: false },
    runs: 'compiled',
  },
  {
    name: 'node and nodes by id, one of them unknown',
    query: `query N($ids: [ID!]!, $id: ID!) { node(id: $id) { __typename id } nodes(ids: $ids) { __typename ... on ServiceConfig { service version } } }`,
    variables: { id: 'U2VydmljZUNvbmZpZzox', ids: ['U2VydmljZUNvbmZpZzox', 'U2VydmljZUNvbmZpZzo5OTk=', 'U2VydmljZUNvbmZpZzoy'] },
    runs: 'compiled',
  },
  {
    name: 'a refusal inside a list: nodes without a token',
    query: `query N($ids: [ID!]!) { nodes(ids: $ids) { __typename } }`,
    variables: { ids: ['U2VydmljZUNvbmZpZzox', 'U2VydmljZUNvbmZpZzoy'] },
    anonymous: true,
    runs: 'compiled',
  },
  {
    name: 'the introspection query GraphiQL sends',
    query: getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, inputValueDeprecation: true }),
    runs: 'compiled',
  },
  { name: 'a GraphiQL example picked by name', query: graphiqlExamples, operationName: 'AllConfigs', runs: 'compiled' },
  { name: 'another example of the same document', query: graphiqlExamples, operationName: 'PilotConfig', runs: 'compiled' },
];

describe('compiled execution', () => {
  let t: TestApp;
  let compiled: GraphQLServer;
  let standard: GraphQLServer;
  const counts: ExecutionCounts = { compiled: 0, standard: 0 };

  beforeAll(async () => {
    t = await createTestApp('pglite');
    const parts = { store: t.app.store, tokens: t.app.tokens, feed: t.app.feed, logger: silentLogger, authenticate: createAuthenticator({ tokens: t.app.tokens }) };
    compiled = createGraphQLServer({ ...parts, executionCounts: counts });
    standard = createGraphQLServer({ ...parts, compile: false });
  });
  afterAll(async () => {
    await t?.close();
  });

  const answer = async (server: GraphQLServer, { query, variables, operationName, anonymous }: Case) => {
    const response = await server.fetch(
      new Request('http://confighub.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(anonymous ? {} : adminAuth) },
        body: JSON.stringify({ query, variables, operationName }),
      }),
    );
    return { status: response.status, body: await response.json() };
  };

  it.each(cases)('$name: the same answer as the standard executor, run $runs from the second time', async (example) => {
    const expected = await answer(standard, example);
    // The first run of a document is never compiled.
    const before = { ...counts };
    expect(await answer(compiled, example)).toEqual(expected);
    expect(counts).toEqual({ ...before, standard: before.standard + 1 });
    const fromCompiled = await answer(compiled, example);
    expect(counts[example.runs]).toBe(before[example.runs] + 1 + (example.runs === 'standard' ? 1 : 0));
    expect(fromCompiled).toEqual(expected);
    expect(JSON.stringify(fromCompiled.body)).not.toContain('Unexpected error');
  });
});
