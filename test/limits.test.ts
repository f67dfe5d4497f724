import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.ts';
import { tablesDigest } from './support/databases.ts';

// Documents built to exhaust the server are refused at validation, before anything runs or is written.
describe('GraphQL limits', () => {
  const hub = useTestApp('pglite');

  const refused = async (query: string) => {
    const before = await tablesDigest(hub.db);
    const result = await hub.graphql(query);
    expect(result.data).toBeUndefined();
    expect(result.errors?.length).toBeGreaterThan(0);
    expect(await tablesDigest(hub.db)).toBe(before);
    return result.errors!.map((error) => error.message).join(' ');
  };

  it('refuses a query nested deeper than 12 levels', async () => {
    const deep = `{ configs { edges { node { history { edges { node { config { history { edges { node { config { history { edges { node { version } } } } } } } } } } } } } } }`;
    expect(await refused(deep)).toMatch(/depth/i);
  });

  it('refuses too many aliases', async () => {
    const aliases = Array.from({ length: 25 }, (_, i) => `a${i}: config(service: "tick-aggregator") { __typename }`).join(' ');
    expect(await refused(`{ ${aliases} }`)).toMatch(/alias/i);
  });

  it('refuses a document with too many tokens, including a mutation (nothing is written)', async () => {
    const padding = Array.from({ length: 6_000 }, () => '__typename').join(' ');
    expect(await refused(`mutation { updateConfig(input: { service: "tick-aggregator", patch: { a: 1 } }) { __typename ${padding} } }`)).toMatch(/token/i);
  });

  it('refuses a query whose estimated cost is too high', async () => {
    const fields = 'service environment version config description createdAt updatedAt updatedBy deletedAt';
    const wide = Array.from({ length: 19 }, (_, i) => `c${i}: configs(first: 100) { edges { node { ${fields} history(first: 100) { edges { node { version action changedBy changedAt reason patch { op path value } } } } } } }`).join(' ');
    expect(await refused(`{ ${wide} }`)).toMatch(/cost/i);
  });

  it('refuses an operation with more than 100 variables with one error, before graphql-js validates it', async () => {
    const definitions = Array.from({ length: 101 }, (_, i) => `$v${i}: Int`).join(', ');
    const result = await hub.graphql(`query(${definitions}) { __typename }`);
    expect(result.errors).toEqual([expect.objectContaining({ message: 'the document defines 101 variables; the limit is 100', extensions: { code: 'QUERY_TOO_COMPLEX' } })]);
    const hundred = Array.from({ length: 100 }, (_, i) => `$v${i}: Int`).join(', ');
    expect((await hub.graphql(`query(${hundred}) { __typename }`)).errors?.[0]?.message).toMatch(/never used/);
  });

  it('still answers GraphiQL introspection and ordinary operations', async () => {
    const introspection = await hub.graphql(`{ __schema { types { name fields { name type { name kind ofType { name kind ofType { name kind ofType { name kind } } } } } } } }`);
    expect(introspection.errors).toBeUndefined();
    const ordinary = await hub.graphql(`{ config(service: "tick-aggregator") { ... on ServiceConfig { version history(first: 2) { edges { node { version patch { op } } } } } } }`);
    expect(ordinary.errors).toBeUndefined();
    expect(ordinary.data.config.version).toBe(1);
  });
});
