// Answers the direct POST path keeps (server/graphql/answers.ts): served again only to the same caller
// for the same request, and never once the config they were made from has changed, wherever the change
// was made (this gateway, another gateway on the same PostgreSQL, psql). Requests go over real HTTP.
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.ts';
import { schema } from '../src/graphql/index.ts';
import { onlyPureFields } from '../src/server/graphql/answers.ts';
import { TEST_ADMIN_TOKEN, type TestApp, createTestApp } from './support/app.ts';
import { type TestDatabase, backends, createPostgresDatabase } from './support/databases.ts';

const READ = `query Read($service: String!, $environment: String = "production") {
  config(service: $service, environment: $environment) {
    __typename
    ... on ServiceConfig { id service environment version config updatedBy }
    ... on Error { message }
  }
}`;

interface Answer {
  status: number;
  contentType: string | null;
  text: string;
  body: { data?: { config?: { __typename: string; version?: number; config?: Record<string, unknown>; message?: string } }; errors?: unknown[] };
}

async function post(base: string, query: string, variables: Record<string, unknown>, token: string | null = TEST_ADMIN_TOKEN): Promise<Answer> {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  return { status: response.status, contentType: response.headers.get('content-type'), text, body: JSON.parse(text) as Answer['body'] };
}

describe.each(backends)('kept answers on %s', (backend) => {
  let t: TestApp;
  let base: string;
  const read = (service: string, token?: string | null) => post(base, READ, { service }, token);
  /** Reads once, then again; returns the second answer and whether it was a kept one. */
  async function readTwice(service: string, token?: string | null) {
    const first = await read(service, token);
    const before = t.app.keptAnswerCount();
    const second = await read(service, token);
    expect(second.text).toBe(first.text);
    expect(second.contentType).toBe(first.contentType);
    return { answer: second, kept: t.app.keptAnswerCount() > before };
  }
  async function token(name: string, role: string, services: string[] | null): Promise<string> {
    const { data } = await t.graphql(`mutation($input: CreateTokenInput!) { createToken(input: $input) { ... on CreatedToken { token } } }`, { input: { name, role, services } });
    return data.createToken.token as string;
  }

  beforeAll(async () => {
    t = await createTestApp(backend);
    base = await t.app.start();
    for (const service of ['kept-a', 'kept-b']) await t.app.store.createConfig({ service, config: { batch_size: 1 } }, { actor: 'test' });
    // A document's first request is yoga's (post.ts): the direct path, and what it keeps, start with the second.
    await read('kept-warm-up');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('serves a config read again to the same caller, with the same bytes, until the config changes here', async () => {
    const { answer, kept } = await readTwice('kept-a');
    expect(kept).toBe(true);
    expect(answer.body.data?.config).toMatchObject({ __typename: 'ServiceConfig', version: 1, config: { batch_size: 1 } });

    const changed = await post(base, `mutation { updateConfig(input: { service: "kept-a", patch: { batch_size: 2 } }) { ... on ConfigWrite { changed } } }`, {});
    expect(changed.body.data).toEqual({ updateConfig: { changed: true } });
    // The very next read: the new version, not the kept answer.
    expect((await read('kept-a')).body.data?.config).toMatchObject({ version: 2, config: { batch_size: 2 } });
    const again = await readTwice('kept-a');
    expect(again.kept).toBe(true);
    expect(again.answer.body.data?.config).toMatchObject({ version: 2 });
    // Operators see how many reads were answered so.
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(Number(/^confighub_graphql_kept_answers_total (\d+)$/m.exec(metrics)?.[1])).toBe(t.app.keptAnswerCount());
  });

  it('stops serving a kept answer once a change made in SQL reaches the gateway', async () => {
    expect((await readTwice('kept-b')).kept).toBe(true);
    const [row] = await t.db.session((sql) =>
      sql.query<{ version: number }>(`UPDATE service_configs SET config = '{"batch_size": 7}' WHERE service_name = 'kept-b' RETURNING version`),
    );
    await expect.poll(async () => (await read('kept-b')).body.data?.config?.version, { timeout: 10_000, interval: 10 }).toBe(row!.version);
    // Once there, never back: reads answered from then on all carry the new version.
    for (let index = 0; index < 5; index++) expect((await read('kept-b')).body.data?.config).toMatchObject({ version: row!.version, config: { batch_size: 7 } });
  });

  it('serves an answer only to the caller it was made for', async () => {
    const reader = await token(`kept-reader-${backend}`, 'READER', ['polygon-*']);
    const editor = await token(`kept-editor-${backend}`, 'EDITOR', null);
    expect((await readTwice('kept-a')).answer.body.data?.config?.__typename).toBe('ServiceConfig');
    // Another token, out of scope: refused; an editor in scope: its own answer; no token: unauthenticated.
    expect((await read('kept-a', reader)).body.data?.config?.__typename).toBe('ForbiddenError');
    expect((await readTwice('kept-a', editor)).answer.body.data?.config?.__typename).toBe('ServiceConfig');
    expect((await read('kept-a', null)).body.data?.config?.__typename).toBe('UnauthenticatedError');
    // A token revoked after its answer was kept is refused.
    await t.graphql(`mutation { revokeToken(input: { name: "kept-editor-${backend}" }) { __typename } }`);
    const refused = await read('kept-a', editor);
    expect(refused.text).not.toContain('"ServiceConfig"');
    expect(JSON.stringify(refused.body)).toMatch(/UNAUTHENTICATED|Unauthenticated/);
  });

  it('keeps nothing that was not found, and answers a config created since at once', async () => {
    const before = t.app.keptAnswerCount();
    expect((await read('kept-later')).body.data?.config?.__typename).toBe('NotFoundError');
    expect((await read('kept-later')).body.data?.config?.__typename).toBe('NotFoundError');
    expect(t.app.keptAnswerCount()).toBe(before);
    await t.app.store.createConfig({ service: 'kept-later', config: { on: true } }, { actor: 'test' });
    expect((await read('kept-later')).body.data?.config).toMatchObject({ __typename: 'ServiceConfig', version: 1 });
  });

  it('answers a deleted config as not found, and a restored one at once', async () => {
    await t.app.store.createConfig({ service: 'kept-deleted', config: { on: true } }, { actor: 'test' });
    expect((await readTwice('kept-deleted')).kept).toBe(true);
    await post(base, `mutation { deleteConfig(input: { service: "kept-deleted" }) { __typename } }`, {});
    expect((await read('kept-deleted')).body.data?.config?.__typename).toBe('NotFoundError');
    await post(base, `mutation { restoreConfig(input: { service: "kept-deleted" }) { __typename } }`, {});
    expect((await read('kept-deleted')).body.data?.config).toMatchObject({ __typename: 'ServiceConfig', version: 3 });
  });

  it('executes every time a read of anything else: history, listings, introspection', async () => {
    const before = t.app.keptAnswerCount();
    for (const query of [
      `{ config(service: "kept-a") { ... on ServiceConfig { version history(first: 1) { edges { node { version } } } } } }`,
      `{ configs(first: 2) { edges { node { service } } } }`,
      `{ __schema { queryType { name } } }`,
    ]) {
      for (let index = 0; index < 3; index++) expect((await post(base, query, {})).status).toBe(200);
    }
    expect(t.app.keptAnswerCount()).toBe(before);
  });
});

describe('kept answers with two gateways on one PostgreSQL', () => {
  const gateways: { test: TestApp; database: TestDatabase; base: string }[] = [];

  beforeAll(async () => {
    const url = await createPostgresDatabase();
    for (let index = 0; index < 2; index++) {
      const database: TestDatabase = Object.assign(await openDatabase({ url }), { url });
      const test = await createTestApp('postgres', { database });
      const base = await test.app.start();
      await post(base, READ, { service: 'kept-warm-up' });
      gateways.push({ test, database, base });
    }
  });
  afterAll(async () => {
    for (const { test, database } of gateways) {
      await test.close();
      await database.close();
    }
  });

  it('stops serving a kept answer on one gateway once a change made on the other reaches it', async () => {
    const [first, second] = gateways;
    await first!.test.app.store.createConfig({ service: 'kept-pair', config: { n: 0 } }, { actor: 'test' });
    for (let n = 1; n <= 5; n++) {
      // Kept on the first gateway...
      await post(first!.base, READ, { service: 'kept-pair' });
      const before = first!.test.app.keptAnswerCount();
      expect((await post(first!.base, READ, { service: 'kept-pair' })).body.data?.config).toMatchObject({ version: n });
      expect(first!.test.app.keptAnswerCount()).toBe(before + 1);
      // ... changed on the second: the first answers the new version as soon as PostgreSQL tells it.
      await post(second!.base, `mutation { updateConfig(input: { service: "kept-pair", patch: { n: ${n} } }) { __typename } }`, {});
      await expect.poll(async () => (await post(first!.base, READ, { service: 'kept-pair' })).body.data?.config?.version, { timeout: 10_000, interval: 10 }).toBe(n + 1);
    }
  });
});

describe('which documents have answers worth keeping', () => {
  const pure = (text: string) => onlyPureFields(schema, parse(text));

  it('takes a config read of its own fields, through fragments, aliases and directives', () => {
    expect(pure(READ)).toBe(true);
    expect(pure(`query($x: Boolean!) { a: config(service: "a") { ...F } b: config(service: "b") { __typename } } fragment F on ServiceConfig { version config @include(if: $x) }`)).toBe(true);
    expect(pure(`{ config(service: "a") { ... on NotFoundError { service environment version message } ... on ValidationError { issues { pointer message } } } }`)).toBe(true);
  });

  it('refuses anything else: other fields of a config, other roots, mutations, introspection', () => {
    expect(pure(`{ config(service: "a") { ... on ServiceConfig { overrides { id } } } }`)).toBe(false);
    expect(pure(`{ config(service: "a") { ... on ServiceConfig { schema { version } } } }`)).toBe(false);
    expect(pure(`{ configs { totalCount } }`)).toBe(false);
    expect(pure(`{ viewer { name } }`)).toBe(false);
    expect(pure(`{ __schema { types { name } } }`)).toBe(false);
    expect(pure(`mutation { deleteConfig(input: { service: "a" }) { __typename } }`)).toBe(false);
    // A document with a second operation that is not pure is not kept, whichever operation is asked for.
    expect(pure(`query A { config(service: "a") { __typename } } query B { viewer { name } }`)).toBe(false);
  });
});
