// Access control: who may do what, over GraphQL (in-process and HTTP), REST and graphql-ws, with the
// database unchanged by every refusal. Tokens are real: made by the token store, sent as Bearer headers.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestApp, type TestApp } from './support/app.ts';
import { TokenStore } from '../src/access/tokens.ts';
import { mayWrite } from '../src/access/principal.ts';
import { mayWrite as consoleMayWrite } from '../src/console/api.ts';
import { backends, openTestDatabase, tablesDigest } from './support/databases.ts';
import { ConfigSubscriber } from './support/subscriber.ts';
import { eventually } from './support/waiting.ts';

const IN_SCOPE = 'polygon-live-collector';
const OUT_OF_SCOPE = 'tick-aggregator';

type TokenName = 'reader' | 'editor' | 'stagingEditor' | 'scopedAdmin' | 'admin' | 'none';

/** One GraphQL operation of the matrix, with what it needs as variables and how to read its outcome. */
interface Operation {
  name: string;
  /** Whether a token of the row may do it on the in-scope service. */
  allowed: Record<TokenName, boolean>;
  query: string;
  variables: (service: string) => Record<string, unknown>;
}

const everyone = { reader: true, editor: true, stagingEditor: false, scopedAdmin: true, admin: true, none: false };
const editors = { reader: false, editor: true, stagingEditor: false, scopedAdmin: true, admin: true, none: false };
const fullAdmins = { reader: false, editor: false, stagingEditor: false, scopedAdmin: false, admin: true, none: false };

const operations: Operation[] = [
  {
    name: 'config',
    allowed: everyone,
    query: 'query($service: String!) { result: config(service: $service) { __typename ... on Error { message } } }',
    variables: (service) => ({ service }),
  },
  {
    name: 'configVersion',
    allowed: everyone,
    query: 'query($service: String!) { result: configVersion(service: $service, version: 1) { __typename ... on Error { message } } }',
    variables: (service) => ({ service }),
  },
  {
    name: 'configDiff',
    allowed: everyone,
    query: 'query($service: String!) { result: configDiff(service: $service, fromVersion: 1, toVersion: 1) { __typename ... on Error { message } } }',
    variables: (service) => ({ service }),
  },
  {
    name: 'updateConfig (dry run)',
    allowed: editors,
    query: 'mutation($service: String!) { result: updateConfig(input: { service: $service, patch: { operational: { probe: 1 } }, dryRun: true }) { __typename ... on Error { message } } }',
    variables: (service) => ({ service }),
  },
  {
    name: 'rollbackConfig (dry run)',
    allowed: editors,
    query: 'mutation($service: String!) { result: rollbackConfig(input: { service: $service, toVersion: 1, dryRun: true }) { __typename ... on Error { message } } }',
    variables: (service) => ({ service }),
  },
  {
    name: 'setConfigSchema (stale expectedVersion)',
    // Allowed callers get past authorization and meet the version check, so nothing is written. An admin
    // scoped to some services manages their schemas.
    allowed: { ...fullAdmins, scopedAdmin: true },
    query: 'mutation($service: String!) { result: setConfigSchema(input: { service: $service, schema: { type: "object" }, expectedVersion: 999 }) { __typename ... on Error { message } } }',
    variables: (service) => ({ service }),
  },
  {
    name: 'createToken (invalid name)',
    // Allowed callers get past authorization and meet the name check, so nothing is written.
    allowed: fullAdmins,
    query: 'mutation { result: createToken(input: { name: "Not A Name", role: READER }) { __typename ... on Error { message } } }',
    variables: () => ({}),
  },
];

/** The typename an operation's result has when the caller is refused. */
const refusal = (token: TokenName) => (token === 'none' ? 'UnauthenticatedError' : 'ForbiddenError');

/** A graphql-ws client with one live `configChanged` subscription; resolves `closed` with the close code and reason. */
function watchingSocket(base: string, token: string, service = IN_SCOPE) {
  let onClosed!: (event: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    onClosed = resolve;
  });
  const client = createClient({
    url: `${base.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => {},
    on: {
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        onClosed({ code, reason });
      },
    },
  });
  client.subscribe(
    { query: 'subscription($service: String!) { configChanged(service: $service) { version } }', variables: { service } },
    { next: () => {}, error: () => {}, complete: () => {} },
  );
  return { closed, dispose: () => client.dispose() };
}

/** A `configChanged` subscription over SSE; `body` resolves with everything the stream said once it ends. */
async function sseSubscription(base: string, token: string, service = IN_SCOPE) {
  const abort = new AbortController();
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: 'subscription($service: String!) { configChanged(service: $service) { version } }', variables: { service } }),
    signal: abort.signal,
  });
  expect(response.status).toBe(200);
  return { body: response.text(), abort: () => abort.abort() };
}

/** Resolves with `promise`, or fails naming `what` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms))]);
}

describe.each(backends)('access control on %s', (backend) => {
  let t: TestApp;
  let base: string;
  const tokens = {} as Record<Exclude<TokenName, 'none'>, string>;

  const graphql = (token: TokenName, query: string, variables: Record<string, unknown> = {}) =>
    t.graphql(query, variables, token === 'none' ? { authorization: '' } : { authorization: `Bearer ${tokens[token]}` });

  beforeAll(async () => {
    t = await createTestApp(backend);
    base = await t.app.start();
    tokens.admin = t.adminToken;
    const make = async (name: string, role: 'reader' | 'editor' | 'admin', services: string[] | null, environments: string[] | null = null) =>
      (await t.app.tokens.create({ name, role, services, environments }, 'access-test')).token;
    tokens.reader = await make('svc-reader', 'reader', ['polygon-*']);
    tokens.editor = await make('svc-editor', 'editor', ['polygon-*', 'exact-name']);
    tokens.stagingEditor = await make('staging-editor', 'editor', ['polygon-*'], ['staging']);
    tokens.scopedAdmin = await make('polygon-admin', 'admin', ['polygon-*']);
  });

  afterAll(async () => {
    await t?.close();
  });

  describe('the matrix: role x operation x in-scope / out-of-scope service, over GraphQL', () => {
    const rows = operations.flatMap((operation) =>
      (['reader', 'editor', 'stagingEditor', 'scopedAdmin', 'admin', 'none'] as TokenName[]).flatMap((token) => [
        { operation, token, service: IN_SCOPE, allowed: operation.allowed[token] },
        // Out of scope: only unrestricted admins pass.
        { operation, token, service: OUT_OF_SCOPE, allowed: token === 'admin' },
      ]),
    );
    it.each(rows.map((row) => [row.operation.name, row.token, row.service, row.allowed, row] as const))(
      '%s as %s on %s: allowed=%s',
      async (_name, token, _service, allowed, row) => {
        const before = await tablesDigest(t.db);
        const { data, errors } = await graphql(token, row.operation.query, row.operation.variables(row.service));
        expect(errors).toBeUndefined();
        if (allowed) expect(['UnauthenticatedError', 'ForbiddenError']).not.toContain(data.result.__typename);
        else {
          expect(data.result.__typename).toBe(refusal(token));
          if (token !== 'none') expect(data.result.message).toContain(`may not`);
        }
        expect(await tablesDigest(t.db)).toBe(before);
      },
    );
  });

  it('a write records the token name as actor', async () => {
    const { data } = await graphql('editor', 'mutation { updateConfig(input: { service: "polygon-live-collector", patch: { operational: { reconnect_delay_ms: 750 } }, reason: "matrix" }) { __typename ... on ConfigWrite { change { changedBy reason } } } }');
    expect(data.updateConfig).toEqual({ __typename: 'ConfigWrite', change: { changedBy: 'svc-editor', reason: 'matrix' } });
  });

  it('a reader lists only the configs it may read, and counts only those', async () => {
    const { data } = await graphql('reader', '{ configs { totalCount edges { node { service } } } }');
    const services = data.configs.edges.map((edge: { node: { service: string } }) => edge.node.service);
    expect(services.length).toBeGreaterThan(0);
    expect(services.every((service: string) => service.startsWith('polygon-'))).toBe(true);
    expect(data.configs.totalCount).toBe(services.length);
    const all = await graphql('admin', '{ configs { totalCount } }');
    expect(all.data.configs.totalCount).toBeGreaterThan(services.length);
  });

  it('a token limited to staging sees nothing in production', async () => {
    const { data } = await graphql('stagingEditor', '{ configs { totalCount } }');
    expect(data.configs.totalCount).toBe(0);
  });

  it('a config out of scope cannot be reached through node(id) either', async () => {
    const { data } = await graphql('admin', `{ config(service: "${OUT_OF_SCOPE}") { ... on ServiceConfig { id } } }`);
    const result = await graphql('reader', 'query($id: ID!) { node(id: $id) { id } }', { id: data.config.id });
    expect(result.data?.node ?? null).toBeNull();
    expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('node(id) and nodes(ids) do not even tell an out-of-scope config exists (its __typename)', async () => {
    const ids = async (service: string) =>
      (await graphql('admin', `{ config(service: "${service}") { ... on ServiceConfig { id } } }`)).data.config.id as string;
    const [inScope, outOfScope] = [await ids('polygon-live-collector'), await ids(OUT_OF_SCOPE)];
    const one = await graphql('reader', 'query($id: ID!) { node(id: $id) { __typename } }', { id: outOfScope });
    expect(one.data?.node ?? null).toBeNull();
    expect(one.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    const anonymous = await graphql('none', 'query($id: ID!) { node(id: $id) { __typename } }', { id: inScope });
    expect(anonymous.data?.node ?? null).toBeNull();
    expect(anonymous.errors?.map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);
    const both = await graphql('reader', 'query($ids: [ID!]!) { nodes(ids: $ids) { __typename ... on ServiceConfig { service } } }', { ids: [inScope, outOfScope] });
    expect(both.data?.nodes).toEqual([{ __typename: 'ServiceConfig', service: 'polygon-live-collector' }, null]);
    expect(both.errors?.map((error) => [error.extensions?.code, (error as { path?: unknown }).path])).toEqual([['FORBIDDEN', ['nodes', 1]]]);
  });

  it('lists errors in the order of the document, whichever field failed first', async () => {
    const { data } = await graphql('admin', `{ config(service: "${OUT_OF_SCOPE}") { ... on ServiceConfig { id } } }`);
    // The node is refused after a read of the database; the cursor (an integer cursor where configs page by name) at once.
    const result = await graphql('reader', 'query($id: ID!) { node(id: $id) { id } later: configs(after: "R1BDOkk6Mw==") { edges { cursor } } }', { id: data.config.id });
    expect(result.errors?.map((error) => [error.extensions?.code, (error as { path?: unknown }).path])).toEqual([
      ['FORBIDDEN', ['node']],
      ['BAD_USER_INPUT', ['later']],
    ]);
  });

  it('without a token: reads and writes are refused, introspection and viewer answer', async () => {
    const before = await tablesDigest(t.db);
    const listing = await graphql('none', '{ configs { totalCount } }');
    expect(listing.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const write = await graphql('none', 'mutation { updateConfig(input: { service: "polygon-live-collector", patch: { x: 1 } }) { __typename } }');
    expect(write.data?.updateConfig.__typename).toBe('UnauthenticatedError');
    const schema = await graphql('none', '{ __schema { queryType { name } } viewer { name } }');
    expect(schema).toEqual({ data: { __schema: { queryType: { name: 'Query' } }, viewer: null } });
    expect(await tablesDigest(t.db)).toBe(before);
  });

  it('viewer says who is asking and what it may touch', async () => {
    const { data } = await graphql('reader', '{ viewer { name role services environments expiresAt } }');
    expect(data.viewer).toEqual({ name: 'svc-reader', role: 'READER', services: ['polygon-*'], environments: null, expiresAt: null });
  });

  it('admins create, list and revoke tokens; a revoked or expired token is refused at once', async () => {
    const created = await graphql('admin', 'mutation { createToken(input: { name: "short-lived", role: EDITOR, services: ["polygon-*"] }) { __typename ... on CreatedToken { token apiToken { name prefix role createdBy } } } }');
    const { token, apiToken } = created.data.createToken;
    expect(apiToken).toEqual({ name: 'short-lived', prefix: token.slice(0, 12), role: 'EDITOR', createdBy: 'admin' });
    const asNew = { authorization: `Bearer ${token}` };
    expect((await t.graphql('{ viewer { name } }', {}, asNew)).data).toEqual({ viewer: { name: 'short-lived' } });

    const listed = await graphql('admin', '{ tokens { name revokedAt } }');
    expect(listed.data.tokens).toContainEqual({ name: 'short-lived', revokedAt: null });
    // Only digests are stored.
    const [stored] = await t.db.query<{ leaked: boolean }>('SELECT bool_or(position($1 in name || prefix || coalesce(created_by, \'\')) > 0 AND length($1) > 12) AS leaked FROM api_tokens', [token]);
    expect(stored!.leaked).toBe(false);

    const revoked = await graphql('admin', 'mutation { revokeToken(input: { name: "short-lived" }) { __typename ... on ApiToken { revokedAt } } }');
    expect(revoked.data.revokeToken.revokedAt).not.toBeNull();
    const refused = await t.app.fetch(new Request('http://confighub.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...asNew },
      body: JSON.stringify({ query: '{ viewer { name } }' }),
    }));
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('Bearer');
    expect((await refused.json()).errors[0]).toMatchObject({ message: 'token "short-lived" was revoked', extensions: { code: 'UNAUTHENTICATED' } });

    const expiring = await t.app.tokens.create({ name: 'expiring', role: 'reader', expiresAt: new Date(Date.now() + 60_000) }, 'access-test');
    await t.db.query("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE name = 'expiring'");
    const expired = await fetch(`${base}/api/v1/config/${IN_SCOPE}`, { headers: { authorization: `Bearer ${expiring.token}` } });
    expect(expired.status).toBe(401);
    expect((await expired.json()).error.message).toMatch(/^token "expiring" expired at /);
  });

  it('createToken checks its input and reports every problem with its pointer', async () => {
    const { data } = await graphql('admin', 'mutation { createToken(input: { name: "ok-name", role: READER, services: ["Bad Glob"], environments: [], expiresAt: "2001-01-01T00:00:00Z" }) { __typename ... on ValidationError { issues { pointer } } } }');
    expect(data.createToken.__typename).toBe('ValidationError');
    expect(data.createToken.issues.map((issue: { pointer: string }) => issue.pointer)).toEqual(['/services/0', '/environments', '/expiresAt']);
  });

  describe('REST follows the same rules', () => {
    const get = (service: string, token: TokenName) =>
      fetch(`${base}/api/v1/config/${service}`, { headers: token === 'none' ? {} : { authorization: `Bearer ${tokens[token]}` } });
    const post = (service: string, token: TokenName) =>
      fetch(`${base}/api/v1/config/${service}?dryRun=true`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token === 'none' ? {} : { authorization: `Bearer ${tokens[token]}` }) },
        body: JSON.stringify({ operational: { probe: 2 } }),
      });

    it.each([
      ['GET', 'reader', IN_SCOPE, 200],
      ['GET', 'reader', OUT_OF_SCOPE, 403],
      ['GET', 'none', IN_SCOPE, 401],
      ['GET', 'stagingEditor', IN_SCOPE, 403],
      ['POST', 'reader', IN_SCOPE, 403],
      ['POST', 'editor', IN_SCOPE, 200],
      ['POST', 'editor', OUT_OF_SCOPE, 403],
      ['POST', 'none', IN_SCOPE, 401],
      ['POST', 'admin', OUT_OF_SCOPE, 200],
    ] as const)('%s as %s on %s: %i', async (method, token, service, status) => {
      const before = await tablesDigest(t.db);
      const response = await (method === 'GET' ? get(service, token) : post(service, token));
      expect(response.status).toBe(status);
      if (status === 401) expect(response.headers.get('www-authenticate')).toContain('Bearer');
      if (status >= 400) expect((await response.json()).error.code).toBe(status === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN');
      expect(await tablesDigest(t.db)).toBe(before);
    });

    it('history needs read access too', async () => {
      const response = await fetch(`${base}/api/v1/config/history/${OUT_OF_SCOPE}`, { headers: { authorization: `Bearer ${tokens.reader}` } });
      expect(response.status).toBe(403);
    });
  });

  describe('graphql-ws: the token in connectionParams', () => {
    it('a reader in scope follows changes; out of scope is refused on subscribe', async () => {
      const inScope = new ConfigSubscriber(base, { authorization: `Bearer ${tokens.reader}` }).subscribe({ service: IN_SCOPE, afterVersion: 1 });
      const outOfScope = new ConfigSubscriber(base, { authorization: `Bearer ${tokens.reader}` }).subscribe({ service: OUT_OF_SCOPE, afterVersion: 1 });
      try {
        await expect(outOfScope.waitFor(() => false, 10_000)).rejects.toThrow(/FORBIDDEN|may not read/);
        const events = await inScope.waitFor((received) => received.length > 0);
        expect(events[0]).toMatchObject({ service: IN_SCOPE, version: 2 });
      } finally {
        await inScope.close();
        await outOfScope.close();
      }
    });

    it('configsChanged delivers only what the token may read', async () => {
      const subscriber = new ConfigSubscriber(base, { authorization: `Bearer ${tokens.reader}` }).subscribe({}, true);
      try {
        // Give the subscription time to be taken: a first change it must see.
        await new Promise((resolve) => setTimeout(resolve, 300));
        await graphql('admin', `mutation { updateConfig(input: { service: "${OUT_OF_SCOPE}", patch: { operational: { ws_probe: 1 } } }) { __typename } }`);
        await graphql('admin', `mutation { updateConfig(input: { service: "${IN_SCOPE}", patch: { operational: { ws_probe: 1 } } }) { __typename } }`);
        const events = await subscriber.waitFor((received) => received.some((event) => event.service === IN_SCOPE));
        expect(events.map((event) => event.service)).toEqual([IN_SCOPE]);
      } finally {
        await subscriber.close();
      }
    });

    it('a bad token closes the socket with 4401; no token gets UNAUTHENTICATED on subscribe', async () => {
      const refused = watchingSocket(base, 'chub_not-a-real-token-at-all-000000000000000');
      try {
        expect(await within(refused.closed, 5_000, 'socket with a bad token')).toEqual({ code: 4401, reason: 'unknown token' });
      } finally {
        await refused.dispose();
      }

      const anonymous = new ConfigSubscriber(base, {}).subscribe({ service: IN_SCOPE });
      try {
        await expect(anonymous.waitFor(() => false, 10_000)).rejects.toThrow(/UNAUTHENTICATED|authentication required/);
      } finally {
        await anonymous.close();
      }
    });
  });

  it('a session lives as long as its token: sockets close with 4401 and SSE streams end when it expires or is revoked', async () => {
    const make = async (name: string, expiresAt: Date | null = null) =>
      (await t.app.tokens.create({ name, role: 'reader', services: ['polygon-*'], expiresAt }, 'access-test')).token;
    const expiring = watchingSocket(base, await make('expires-soon', new Date(Date.now() + 1500)));
    const revokedToken = await make('revoked-while-watching');
    const revoked = watchingSocket(base, revokedToken);
    const sse = await sseSubscription(base, revokedToken);
    const untouched = watchingSocket(base, tokens.reader);
    try {
      await eventually(async () => t.app.webSocketSubscriptionCount(), (count) => count >= 3);
      const revocation = await graphql('admin', 'mutation { revokeToken(input: { name: "revoked-while-watching" }) { __typename } }');
      expect(revocation.data).toEqual({ revokeToken: { __typename: 'ApiToken' } });
      expect(await within(revoked.closed, 5_000, 'revoked socket')).toEqual({ code: 4401, reason: 'token "revoked-while-watching" was revoked' });
      const said = await within(sse.body, 5_000, 'SSE stream of the revoked token');
      expect(said).toContain('"UNAUTHENTICATED"');
      expect(said).toContain('token \\"revoked-while-watching\\" was revoked');
      const expired = await within(expiring.closed, 5_000, 'socket of the expiring token');
      expect(expired.code).toBe(4401);
      expect(expired.reason).toMatch(/^token "expires-soon" expired at /);
      // The other token's socket stays open and keeps its subscription.
      await expect(within(untouched.closed, 300, 'untouched socket')).rejects.toThrow(/nothing within/);
      expect(t.app.webSocketSubscriptionCount()).toBe(1);
    } finally {
      sse.abort();
      for (const socket of [expiring, revoked, untouched]) await socket.dispose();
    }
  });

  it('a token given another secret or other grants in SQL ends its sessions; its other tokens carry on', async () => {
    const make = async (name: string) => (await t.app.tokens.create({ name, role: 'reader', services: ['polygon-*'] }, 'access-test')).token;
    const replaced = watchingSocket(base, await make('rotated-in-sql'));
    const regranted = watchingSocket(base, await make('regranted-in-sql'));
    try {
      await eventually(async () => t.app.webSocketSubscriptionCount(), (count) => count >= 2);
      await t.db.query(`UPDATE api_tokens SET token_hash = sha256('another secret'::bytea) WHERE name = 'rotated-in-sql'`);
      expect(await within(replaced.closed, 5_000, 'socket of the replaced token')).toEqual({ code: 4401, reason: 'token "rotated-in-sql" was replaced' });
      await t.db.query(`UPDATE api_tokens SET services = ARRAY['polygon-live-collector'] WHERE name = 'regranted-in-sql'`);
      expect(await within(regranted.closed, 5_000, 'socket of the regranted token')).toEqual({ code: 4401, reason: 'token "regranted-in-sql" was changed: connect again' });
    } finally {
      for (const socket of [replaced, regranted]) await socket.dispose();
    }
  });

  it('GraphiQL loads without a token; a cross-site simple GET is refused, one with a token answers', async () => {
    const page = await fetch(`${base}/graphql`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    const query = encodeURIComponent('{ viewer { name } }');
    const simple = await fetch(`${base}/graphql?query=${query}`, { headers: { accept: 'application/json' } });
    expect(simple.status).toBe(403);
    const withToken = await fetch(`${base}/graphql?query=${query}`, { headers: { accept: 'application/json', authorization: `Bearer ${tokens.reader}` } });
    expect(await withToken.json()).toEqual({ data: { viewer: { name: 'svc-reader' } } });
  });
});

describe('failed authentication is rate limited per client address', () => {
  let t: TestApp;
  let base: string;

  beforeAll(async () => {
    // Behind a proxy on loopback: its X-Forwarded-For names the client.
    t = await createTestApp('postgres', { authFailureLimit: 3, trustProxy: 'loopback' });
    base = await t.app.start();
  });

  afterAll(async () => {
    await t?.close();
  });

  it('after the limit even a good token from that address gets 429 with Retry-After', async () => {
    const attempt = (token: string, client = '203.0.113.5') =>
      fetch(`${base}/api/v1/config/${IN_SCOPE}`, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': client } });
    for (let i = 0; i < 3; i++) expect((await attempt(`chub_guess-number-${i}-xxxxxxxxxxxxxxxxxxxxxxxx`)).status).toBe(401);
    const limited = await attempt(t.adminToken);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await limited.json()).error.code).toBe('TOO_MANY_FAILED_AUTHENTICATIONS');
    // Another client behind the same proxy is not affected.
    expect((await attempt(t.adminToken, '203.0.113.77')).status).toBe(200);
    const graphql = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t.adminToken}`, 'x-forwarded-for': '203.0.113.5' },
      body: JSON.stringify({ query: '{ viewer { name } }' }),
    });
    expect(graphql.status).toBe(429);
  });

  it('guesses sent all at once cannot outrun the limit', async () => {
    const guesses = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        fetch(`${base}/api/v1/config/${IN_SCOPE}`, {
          headers: { authorization: `Bearer chub_parallel-guess-${i}-xxxxxxxxxxxxxxxxxxxx`, 'x-forwarded-for': '203.0.113.9' },
        }).then((response) => response.status),
      ),
    );
    expect(guesses.filter((status) => status === 401)).toHaveLength(3);
    expect(guesses.filter((status) => status === 429)).toHaveLength(9);
    // A good token from an address with no failures is not held up by the reservation it passes through.
    const good = await fetch(`${base}/api/v1/config/${IN_SCOPE}`, { headers: { authorization: `Bearer ${t.adminToken}`, 'x-forwarded-for': '203.0.113.10' } });
    expect(good.status).toBe(200);
  });
});

describe('a revocation reaches every instance', () => {
  let first: TestApp;
  let second: TestApp;

  beforeAll(async () => {
    first = await createTestApp('postgres');
    second = await createTestApp('postgres', { database: first.db });
  });

  afterAll(async () => {
    await second?.close();
    await first?.close();
  });

  it('a token revoked on one instance is refused by the other, which had accepted it', async () => {
    const { token } = await first.app.tokens.create({ name: 'fleet-reader', role: 'reader' }, 'access-test');
    const asFleet = { authorization: `Bearer ${token}` };
    expect((await second.graphql('{ viewer { name } }', {}, asFleet)).data).toEqual({ viewer: { name: 'fleet-reader' } });
    await first.graphql('mutation { revokeToken(input: { name: "fleet-reader" }) { __typename } }');
    const refused = await eventually(
      () => second.graphql('{ viewer { name } }', {}, asFleet),
      (result) => result.errors !== undefined,
    );
    expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('a revocation made while the LISTEN connection was down still ends the sessions once it is back', async () => {
    const { token } = await first.app.tokens.create({ name: 'revoked-unheard', role: 'reader' }, 'access-test');
    const base = await first.app.start();
    const socket = watchingSocket(base, token);
    try {
      await eventually(async () => first.app.webSocketSubscriptionCount(), (count) => count >= 1);
      const dropped = await first.db.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
      );
      expect(dropped.length).toBeGreaterThan(0);
      await first.db.query(`UPDATE api_tokens SET revoked_at = now() WHERE name = 'revoked-unheard'`);
      expect(await within(socket.closed, 10_000, 'socket of the token revoked unheard')).toEqual({ code: 4401, reason: 'token "revoked-unheard" was revoked' });
    } finally {
      await socket.dispose();
    }
  });

  it("ends the other instance's sockets and SSE streams of the revoked token", async () => {
    const { token } = await first.app.tokens.create({ name: 'fleet-watcher', role: 'reader' }, 'access-test');
    const base = await second.app.start();
    const socket = watchingSocket(base, token);
    const sse = await sseSubscription(base, token);
    try {
      await eventually(async () => second.app.webSocketSubscriptionCount(), (count) => count >= 1);
      await first.graphql('mutation { revokeToken(input: { name: "fleet-watcher" }) { __typename } }');
      expect(await within(socket.closed, 5_000, 'socket on the other instance')).toEqual({ code: 4401, reason: 'token "fleet-watcher" was revoked' });
      expect(await within(sse.body, 5_000, 'SSE stream on the other instance')).toContain('"UNAUTHENTICATED"');
    } finally {
      sse.abort();
      await socket.dispose();
    }
  });
});

describe('the generated admin token', () => {
  it('is made once, when no usable admin exists; kept in the data directory, or only shown without one', async () => {
    const db = await openTestDatabase('pglite');
    const dataDir = mkdtempSync(path.join(tmpdir(), 'confighub-bootstrap-'));
    try {
      const tokens = new TokenStore(db);
      const inMemory = await tokens.bootstrap({ dataDir: '' });
      expect(inMemory).toEqual({ generated: expect.stringMatching(/^chub_[A-Za-z0-9_-]{43}$/), file: null });
      expect((await tokens.authenticate(inMemory!.generated)).name).toBe('admin');
      expect(await tokens.bootstrap({ dataDir })).toBeNull();
      expect(readdirSync(dataDir)).toEqual([]);

      await tokens.revoke('admin', 'test');
      const again = await tokens.bootstrap({ dataDir });
      expect(again?.file).toBe(path.join(dataDir, 'admin-token'));
      expect(readFileSync(again!.file!, 'utf8').trim()).toBe(again!.generated);
      expect(statSync(again!.file!).mode & 0o777).toBe(0o600);
      expect((await tokens.authenticate(again!.generated)).name).toMatch(/^admin-\d+$/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
      await db.close();
    }
  });
});

describe('CONFIGHUB_ADMIN_TOKEN', () => {
  it('is taken by gateways starting at once on one database, each of them, as one "admin" token; a new value replaces it', async () => {
    const db = await openTestDatabase('postgres', { poolSize: 12 });
    try {
      const first = 'chub_admin-token-from-the-environment-0001';
      const stores = Array.from({ length: 6 }, () => new TokenStore(db));
      const started = await Promise.allSettled(stores.map((store) => store.bootstrap({ adminToken: first, dataDir: '' })));
      expect(started.map((outcome) => outcome.status)).toEqual(Array(6).fill('fulfilled'));
      const admins = () => db.query<{ name: string }>(`SELECT name FROM api_tokens WHERE role = 'admin' ORDER BY name`);
      expect(await admins()).toEqual([{ name: 'admin' }]);
      expect((await stores[0]!.authenticate(first)).name).toBe('admin');

      const second = 'chub_admin-token-from-the-environment-0002';
      await Promise.all(stores.map((store) => store.bootstrap({ adminToken: second, dataDir: '' })));
      expect(await admins()).toEqual([{ name: 'admin' }]);
      expect((await stores[1]!.authenticate(second)).name).toBe('admin');
      await expect(stores[2]!.authenticate(first)).rejects.toThrow(/unknown token/);
    } finally {
      await db.close();
    }
  });
});

describe("the console's write check", () => {
  it('matches service globs as the hub does (picomatch), `*` and `?` included (the console bundles the same matcher)', () => {
    const segment = fc.stringMatching(/^[ab.\-_*?]{1,6}$/);
    // Service names as the hub takes them (NAME_PATTERN): a letter or digit first.
    const name = fc.stringMatching(/^[ab][ab.\-_]{0,7}$/);
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 3 }), name, (services, service) => {
        const hub = mayWrite({ id: 't', name: 't', role: 'editor', services, environments: null, expiresAt: null }, { service, environment: 'production' });
        expect(consoleMayWrite({ name: 't', role: 'EDITOR', services, environments: null }, service, 'production')).toBe(hub);
      }),
      { numRuns: 5000 },
    );
  });
});
