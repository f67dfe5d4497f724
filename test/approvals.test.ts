// Approvals for protected environments (store/approvals.ts): a change becomes a change request, applied
// by the approval that completes the count, never by its author's own; a stale base is refused, a clean
// one rebased; admins break glass, audited as such. Through GraphQL, on both databases, and with two
// gateways on one PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.ts';
import { type TestApp, createTestApp } from './support/app.ts';
import { type TestDatabase, backends, createPostgresDatabase } from './support/databases.ts';

const REQUEST_FIELDS = `id state approvals requiredApprovals baseVersion appliedVersion outcome author reason proposed diff { op path value }
  reviews { reviewer verdict comment }`;
const UPDATE = `mutation($input: UpdateConfigInput!) { updateConfig(input: $input) {
  __typename ... on Error { message } ... on ConfigWrite { changed config { version } request { ${REQUEST_FIELDS} } } } }`;
const REVIEW = `mutation($id: String!, $verdict: ReviewVerdict!, $comment: String) { reviewChangeRequest(input: { id: $id, verdict: $verdict, comment: $comment }) {
  __typename ... on Error { message } ... on ChangeRequest { ${REQUEST_FIELDS} } } }`;

type Gateway = Pick<TestApp, 'graphql' | 'app' | 'db'>;

/** Tokens by name (the name is the actor the audit log records). */
async function makeTokens(t: Gateway, tokens: Record<string, { role: string; services?: string[] }>): Promise<Record<string, { authorization: string }>> {
  const made: Record<string, { authorization: string }> = {};
  for (const [name, { role, services }] of Object.entries(tokens)) {
    const { data } = await t.graphql(`mutation($input: CreateTokenInput!) { createToken(input: $input) { ... on CreatedToken { token } ... on Error { message } } }`, {
      input: { name, role, services: services ?? null },
    });
    made[name] = { authorization: `Bearer ${data.createToken.token as string}` };
  }
  return made;
}

describe.each(backends)('approvals on %s', (backend) => {
  let t: TestApp;
  let as: Record<string, { authorization: string }>;
  const update = async (who: string, input: Record<string, unknown>) => (await t.graphql(UPDATE, { input }, as[who])).data!.updateConfig;
  const review = async (who: string, id: string, verdict: string, comment?: string) => (await t.graphql(REVIEW, { id, verdict, comment }, as[who])).data!.reviewChangeRequest;
  const version = async (service: string, environment = 'production') => (await t.app.store.getConfig(service, environment)).version;
  const auditRows = async (service: string) =>
    t.db.query<{ version: number; changedBy: string; reason: string | null }>(
      `SELECT version, changed_by AS "changedBy", reason FROM config_audit_log WHERE service_name = $1 AND environment = 'production' ORDER BY revision`,
      [service],
    );

  beforeAll(async () => {
    t = await createTestApp(backend);
    as = await makeTokens(t, { alice: { role: 'EDITOR' }, bob: { role: 'EDITOR' }, carol: { role: 'EDITOR' }, rita: { role: 'READER' }, ada: { role: 'ADMIN' } });
    for (const service of ['appr-a', 'appr-b', 'appr-c', 'appr-d', 'appr-e']) {
      await t.app.store.createConfig({ service, config: { batch_size: 100, workers: 4 } }, { actor: 'seed' });
      await t.app.store.createConfig({ service, environment: 'staging', config: { batch_size: 100 } }, { actor: 'seed' });
    }
    const { data } = await t.graphql(`mutation { protectEnvironment(input: { environment: "production", requiredApprovals: 2, reason: "trading hours" }) {
      __typename ... on ProtectedEnvironment { environment requiredApprovals protectedBy } } }`);
    expect(data.protectEnvironment).toMatchObject({ __typename: 'ProtectedEnvironment', environment: 'production', requiredApprovals: 2 });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('holds a change as a request, refuses its author\'s approval, and applies it at the approval that completes the count', async () => {
    const before = await version('appr-a');
    const asked = await update('alice', { service: 'appr-a', patch: { batch_size: 500 }, reason: 'more throughput' });
    expect(asked).toMatchObject({ __typename: 'ConfigWrite', changed: false, config: { version: before } });
    const request = asked.request;
    expect(request).toMatchObject({ state: 'OPEN', approvals: 0, requiredApprovals: 2, baseVersion: before, author: 'alice', reason: 'more throughput' });
    expect(request.diff).toEqual([{ op: 'replace', path: '/batch_size', value: 500 }]);
    expect(await version('appr-a')).toBe(before);

    expect(await review('alice', request.id, 'APPROVE')).toMatchObject({ __typename: 'ChangeRequestError', message: expect.stringContaining('author') });
    expect(await review('rita', request.id, 'APPROVE')).toMatchObject({ __typename: 'ForbiddenError' });
    expect(await review('rita', request.id, 'COMMENT', 'looks fine to me')).toMatchObject({ state: 'OPEN', reviews: [{ reviewer: 'rita', verdict: 'COMMENT', comment: 'looks fine to me' }] });
    expect(await review('bob', request.id, 'APPROVE')).toMatchObject({ state: 'OPEN', approvals: 1 });
    expect(await review('bob', request.id, 'APPROVE')).toMatchObject({ __typename: 'ChangeRequestError', message: expect.stringContaining('already approved') });
    expect(await version('appr-a')).toBe(before);

    const applied = await review('carol', request.id, 'APPROVE');
    expect(applied).toMatchObject({ state: 'APPLIED', approvals: 2, appliedVersion: before + 1 });
    expect((await t.app.store.getConfig('appr-a')).config).toEqual({ batch_size: 500, workers: 4 });
    expect((await auditRows('appr-a')).at(-1)).toEqual({ version: before + 1, changedBy: 'alice', reason: `more throughput (change request ${request.id}, approved by bob, carol)` });
    // Closed: nothing more to approve.
    expect(await review('ada', request.id, 'APPROVE')).toMatchObject({ __typename: 'ChangeRequestError', message: expect.stringContaining('applied') });
  });

  it('refuses a request whose base moved under a setting it changes, and rebases one whose settings did not move', async () => {
    const base = await version('appr-b');
    const overlapping = (await update('alice', { service: 'appr-b', patch: { batch_size: 200 }, reason: 'a' })).request;
    const clean = (await update('bob', { service: 'appr-b', patch: { workers: 8 }, reason: 'b' })).request;
    const whole = (await update('carol', { service: 'appr-b', config: { batch_size: 1 }, reason: 'c' })).request;
    // Meanwhile an admin breaks glass on batch_size.
    const glass = await update('ada', { service: 'appr-b', patch: { batch_size: 300 }, breakGlass: true, reason: 'incident 42' });
    expect(glass).toMatchObject({ changed: true, config: { version: base + 1 }, request: null });
    expect((await auditRows('appr-b')).at(-1)).toMatchObject({ changedBy: 'ada', reason: 'break glass: incident 42' });

    // What an approver sees before approving: whether it would apply, rebased, or close as stale.
    const REBASE = `query($id: String!) { changeRequest(id: $id) { ... on ChangeRequest { rebase { currentVersion clean detail } } } }`;
    expect((await t.graphql(REBASE, { id: overlapping.id }, as.bob)).data.changeRequest.rebase).toEqual({
      currentVersion: base + 1,
      clean: false,
      detail: `the config moved from version ${base} to ${base + 1}: settings it changes moved since: /batch_size`,
    });
    expect((await t.graphql(REBASE, { id: clean.id }, as.bob)).data.changeRequest.rebase).toMatchObject({ currentVersion: base + 1, clean: true });
    await review('bob', overlapping.id, 'APPROVE');
    expect(await review('carol', overlapping.id, 'APPROVE')).toMatchObject({
      state: 'STALE',
      appliedVersion: null,
      outcome: `the config moved from version ${base} to ${base + 1}: settings it changes moved since: /batch_size`,
    });
    await review('alice', whole.id, 'APPROVE');
    expect(await review('bob', whole.id, 'APPROVE')).toMatchObject({ state: 'STALE', outcome: expect.stringContaining('a whole-document request cannot be rebased') });
    expect(await version('appr-b')).toBe(base + 1);

    await review('alice', clean.id, 'APPROVE');
    expect(await review('carol', clean.id, 'APPROVE')).toMatchObject({ state: 'APPLIED', appliedVersion: base + 2, baseVersion: base + 1, outcome: `rebased from version ${base} onto ${base + 1}` });
    expect((await t.app.store.getConfig('appr-b')).config).toEqual({ batch_size: 300, workers: 8 });
  });

  it('closes requests that are rejected, withdrawn or expired, and none of them is applied', async () => {
    const base = await version('appr-c');
    const rejected = (await update('alice', { service: 'appr-c', patch: { workers: 1 }, reason: 'r' })).request;
    expect(await review('bob', rejected.id, 'REJECT', 'too few')).toMatchObject({ state: 'REJECTED', outcome: 'rejected by bob' });
    expect(await review('carol', rejected.id, 'APPROVE')).toMatchObject({ __typename: 'ChangeRequestError' });

    const withdrawn = (await update('alice', { service: 'appr-c', patch: { workers: 2 }, reason: 'w' })).request;
    const byOther = await t.graphql(`mutation($id: String!) { withdrawChangeRequest(input: { id: $id }) { __typename } }`, { id: withdrawn.id }, as.bob);
    expect(byOther.data.withdrawChangeRequest.__typename).toBe('ForbiddenError');
    const byAuthor = await t.graphql(`mutation($id: String!) { withdrawChangeRequest(input: { id: $id }) { __typename ... on ChangeRequest { state } } }`, { id: withdrawn.id }, as.alice);
    expect(byAuthor.data.withdrawChangeRequest).toEqual({ __typename: 'ChangeRequest', state: 'WITHDRAWN' });

    const expiring = (await update('alice', { service: 'appr-c', patch: { workers: 3 }, reason: 'e', requestExpiresIn: '1h' })).request;
    await t.db.query(`UPDATE change_requests SET expires_at = now() - interval '1 second' WHERE id = $1::bigint`, [expiring.id]);
    await review('bob', expiring.id, 'COMMENT', 'late');
    expect(await review('carol', expiring.id, 'APPROVE')).toMatchObject({ __typename: 'ChangeRequestError', message: expect.stringContaining('expired') });
    expect(await version('appr-c')).toBe(base);

    const listed = await t.graphql(`{ changeRequests(service: "appr-c", states: [REJECTED, WITHDRAWN, EXPIRED]) { state } }`, {}, as.rita);
    expect(listed.data.changeRequests).toEqual([{ state: 'EXPIRED' }, { state: 'WITHDRAWN' }, { state: 'REJECTED' }]);
  });

  it('lets only an admin break glass, with a reason, and keeps create, delete and restore to breaking glass', async () => {
    expect(await update('alice', { service: 'appr-d', patch: { workers: 9 }, breakGlass: true, reason: 'now' })).toMatchObject({ __typename: 'ChangeRequestError', message: expect.stringContaining('only an admin') });
    expect(await update('ada', { service: 'appr-d', patch: { workers: 9 }, breakGlass: true })).toMatchObject({ __typename: 'ValidationError' });
    expect(await update('alice', { service: 'appr-d', patch: { workers: 9 }, reason: 'no reason given?' })).toMatchObject({ changed: false, request: { state: 'OPEN' } });
    expect(await update('alice', { service: 'appr-d', patch: { workers: 9 } })).toMatchObject({ __typename: 'ValidationError', message: expect.stringContaining('reason') });
    expect(await update('alice', { service: 'appr-d', patch: { workers: 9 }, reason: 'temp', expiresIn: '1h' })).toMatchObject({ __typename: 'ValidationError' });
    // A dry run and a change that changes nothing open no request.
    expect(await update('alice', { service: 'appr-d', patch: { workers: 4 }, reason: 'same' })).toMatchObject({ changed: false, request: null });

    const deleted = await t.graphql(`mutation { deleteConfig(input: { service: "appr-d" }) { __typename ... on Error { message } } }`, {}, as.alice);
    expect(deleted.data.deleteConfig).toMatchObject({ __typename: 'ChangeRequestError', message: expect.stringContaining('break') });
    const created = await t.graphql(`mutation { createConfig(input: { service: "appr-new", config: {}, breakGlass: true, reason: "new service" }) { __typename } }`, {}, as.ada);
    expect(created.data.createConfig.__typename).toBe('ConfigWrite');
    // Another environment is not protected.
    const staging = await update('alice', { service: 'appr-d', environment: 'staging', patch: { batch_size: 7 } });
    expect(staging).toMatchObject({ changed: true, request: null });
  });

  it('settles an apply a gateway left half done: open again when nothing was written, applied when its write landed', async () => {
    const nothingWritten = (await update('alice', { service: 'appr-c', patch: { workers: 11 }, reason: 'left' })).request;
    const written = (await update('bob', { service: 'appr-d', patch: { workers: 12 }, reason: 'landed' })).request;
    // A gateway claimed both and died: one before its write, one after it.
    await t.db.query(`UPDATE change_requests SET state = 'applying', claimed_at = now() - interval '2 minutes' WHERE id IN ($1::bigint, $2::bigint)`, [nothingWritten.id, written.id]);
    await t.app.store.updateConfig({ service: 'appr-d', config: written.proposed, expectedVersion: written.baseVersion, breakGlass: true }, { actor: 'bob', reason: 'landed', mayBreakGlass: true });
    const listed = await t.graphql(`{ changeRequests(states: [OPEN, APPLIED, APPLYING]) { id state appliedVersion } }`);
    const stateOf = (id: string) => listed.data.changeRequests.find((request: { id: string }) => request.id === id);
    expect(stateOf(nothingWritten.id)).toMatchObject({ state: 'OPEN' });
    expect(stateOf(written.id)).toMatchObject({ state: 'APPLIED', appliedVersion: written.baseVersion + 1 });
    await t.graphql(`mutation($id: String!) { withdrawChangeRequest(input: { id: $id }) { __typename } }`, { id: nothingWritten.id }, as.alice);
  });

  it('bounds what callers pile up: open requests per config, reviews per request', async () => {
    await t.db.query(
      `INSERT INTO change_requests (service_name, environment, base_version, patch, proposed, reason, author, required_approvals, expires_at)
       SELECT 'appr-a', 'production', 1, '{"n": 1}', '{"n": 1}', 'filler', 'alice', 2, now() + interval '1 day' FROM generate_series(1, 50)`,
    );
    expect(await update('bob', { service: 'appr-a', patch: { workers: 6 }, reason: 'one more' })).toMatchObject({
      __typename: 'ChangeRequestError',
      message: expect.stringContaining('50 change requests'),
    });
    const [filler] = await t.db.query<{ id: string }>(`SELECT id::text AS id FROM change_requests WHERE reason = 'filler' LIMIT 1`);
    await t.db.query(`INSERT INTO change_request_reviews (request_id, reviewer, verdict, comment) SELECT $1::bigint, 'someone', 'comment', 'x' FROM generate_series(1, 200)`, [filler!.id]);
    expect(await review('bob', filler!.id, 'COMMENT', 'the 201st')).toMatchObject({ __typename: 'ChangeRequestError', message: expect.stringContaining('200 reviews') });
    await t.db.query(`UPDATE change_requests SET state = 'withdrawn' WHERE reason = 'filler'`);
  });

  it('refuses a page of diffs in each request of a listing, and answers the rest, however long each request takes to diff', async () => {
    // The newest request, listed first, is of a large document (diffed on the worker thread); the one before is small.
    const large = Object.fromEntries(Array.from({ length: 3000 }, (_, index) => [`s_${index}`, `v-${index}`]));
    const seed = { actor: 'seed', reason: 'test setup', mayBreakGlass: true };
    await t.app.store.createConfig({ service: 'appr-small', config: { batch_size: 1 }, breakGlass: true }, seed);
    await t.app.store.createConfig({ service: 'appr-large', config: large, breakGlass: true }, seed);
    expect(await update('alice', { service: 'appr-small', patch: { batch_size: 2 }, reason: 'order' })).toMatchObject({ request: { state: 'OPEN' } });
    expect(await update('alice', { service: 'appr-large', config: { ...large, s_0: 'changed' }, reason: 'order' })).toMatchObject({ request: { state: 'OPEN' } });
    // A page that is read beside one that is refused, in the same request: the refusal stays in its item.
    const listing = await t.graphql(`{ changeRequests(states: [OPEN]) { service changes: diff(limit: 5) { op path } diff(limit: 0) { op } } }`, {}, as.ada);
    const requests = listing.data.changeRequests as { service: string; changes: unknown[]; diff: unknown }[];
    expect(requests.find((request) => request.service === 'appr-large')).toEqual({ service: 'appr-large', changes: [{ op: 'replace', path: '/s_0' }], diff: null });
    expect(requests.find((request) => request.service === 'appr-small')).toEqual({ service: 'appr-small', changes: [{ op: 'replace', path: '/batch_size' }], diff: null });
    expect(requests.every((request) => request.diff === null)).toBe(true);
    const refused = [...(listing.errors as unknown as { path: [string, number, string] }[])].sort((a, b) => a.path[1] - b.path[1]);
    expect(refused).toEqual(requests.map((_, index) => expect.objectContaining({ path: ['changeRequests', index, 'diff'], extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) })));
  });

  it('spends an answer\'s patch operations on a listing\'s diffs in list order, however long each request takes to diff', async () => {
    const seed = { actor: 'seed', reason: 'test setup' };
    const small = Object.fromEntries(Array.from({ length: 600 }, (_, index) => [`k_${index}`, 0]));
    const large = Object.fromEntries(Array.from({ length: 3000 }, (_, index) => [`s_${index}`, `v-${index}`]));
    await t.app.store.createConfig({ service: 'appr-budget-small', environment: 'budget', config: small }, seed);
    await t.app.store.createConfig({ service: 'appr-budget-large', environment: 'budget', config: large }, seed);
    const { data } = await t.graphql(`mutation { protectEnvironment(input: { environment: "budget", requiredApprovals: 2, reason: "budget" }) { __typename } }`);
    expect(data.protectEnvironment.__typename).toBe('ProtectedEnvironment');
    // 600 operations each; the newest request, listed first, is the large document's (diffed on the worker thread: the slower read).
    const changed = (document: Record<string, unknown>, value: (index: number) => unknown) =>
      Object.fromEntries(Object.entries(document).map(([key, old], index) => [key, index < 600 ? value(index) : old]));
    expect(await update('alice', { service: 'appr-budget-small', environment: 'budget', config: changed(small, () => 1), reason: 'budget' })).toMatchObject({ request: { state: 'OPEN' } });
    expect(await update('alice', { service: 'appr-budget-large', environment: 'budget', config: changed(large, (index) => `w-${index}`), reason: 'budget' })).toMatchObject({ request: { state: 'OPEN' } });

    const listing = await t.graphql(`{ changeRequests(environment: "budget", states: [OPEN]) { service diff { op } } }`, {}, as.ada);
    expect(listing.data.changeRequests.map((request: { service: string; diff: unknown[] | null }) => [request.service, request.diff?.length ?? null])).toEqual([
      ['appr-budget-large', 600],
      ['appr-budget-small', null],
    ]);
    expect(listing.errors).toEqual([expect.objectContaining({ path: ['changeRequests', 1, 'diff'], extensions: expect.objectContaining({ code: 'ANSWER_TOO_LARGE' }) })]);
  });

  it('lifts the protection: changes are written again, while open requests stay', async () => {
    const open = (await update('alice', { service: 'appr-e', patch: { workers: 5 }, reason: 'p' })).request;
    // REST: the requests, one, and its reviews, with the same rules.
    const restCall = async (method: string, pathAndQuery: string, who: string) => {
      const response = await t.app.fetch(new Request(`http://confighub.test/api/v1/${pathAndQuery}`, { method, headers: as[who] }));
      return { status: response.status, body: (await response.json()) as any };
    };
    expect((await restCall('GET', 'requests?service=appr-e', 'rita')).body.requests).toMatchObject([{ id: open.id, state: 'open', approvals: 0 }]);
    expect(await restCall('GET', `requests/${open.id}`, 'rita')).toMatchObject({ status: 200, body: { id: open.id, author: 'alice' } });
    expect(await restCall('GET', 'requests/999999', 'rita')).toMatchObject({ status: 404 });
    expect(await restCall('POST', `requests/${open.id}/approve`, 'alice')).toMatchObject({ status: 409, body: { error: { code: 'CHANGE_REQUEST' } } });
    expect(await restCall('POST', `requests/${open.id}/approve`, 'rita')).toMatchObject({ status: 403 });
    expect(await restCall('POST', `requests/${open.id}/comment?comment=from%20curl`, 'rita')).toMatchObject({ status: 200, body: { reviews: [{ reviewer: 'rita', comment: 'from curl' }] } });
    expect(await restCall('POST', `requests/${open.id}/approve?comment=ok`, 'bob')).toMatchObject({ status: 200, body: { state: 'open', approvals: 1 } });
    expect(await restCall('GET', `requests/${open.id}/approve`, 'bob')).toMatchObject({ status: 405 });
    // REST: 202, nothing written, the request that holds the change.
    const rest = await t.app.fetch(
      new Request('http://confighub.test/api/v1/config/appr-e?reason=from%20a%20script', { method: 'POST', headers: { 'content-type': 'application/json', ...as.alice }, body: '{"workers": 6}' }),
    );
    expect(rest.status).toBe(202);
    expect(await rest.json()).toMatchObject({ changed: false, request: { state: 'open', requiredApprovals: 2 } });
    const lifted = await t.graphql(`mutation { unprotectEnvironment(input: { environment: "production" }) { __typename ... on UnprotectedEnvironment { wasProtected } } }`);
    expect(lifted.data.unprotectEnvironment).toEqual({ __typename: 'UnprotectedEnvironment', wasProtected: true });
    expect(await update('alice', { service: 'appr-e', patch: { batch_size: 1 } })).toMatchObject({ changed: true, request: null });
    expect((await t.graphql(`{ changeRequest(id: "${open.id}") { ... on ChangeRequest { state } } }`)).data.changeRequest).toEqual({ state: 'OPEN' });
    const again = await t.graphql(`mutation { protectEnvironment(input: { environment: "production", requiredApprovals: 2 }) { __typename } }`, {}, as.alice);
    expect(again.data.protectEnvironment.__typename).toBe('ForbiddenError');
    await t.graphql(`mutation { protectEnvironment(input: { environment: "production", requiredApprovals: 2 }) { __typename } }`);
  });
});

describe('approvals with two gateways on one PostgreSQL', () => {
  const gateways: { test: TestApp; database: TestDatabase }[] = [];

  beforeAll(async () => {
    const url = await createPostgresDatabase();
    for (let index = 0; index < 2; index++) {
      const database: TestDatabase = Object.assign(await openDatabase({ url }), { url });
      gateways.push({ test: await createTestApp('postgres', { database }), database });
    }
  });
  afterAll(async () => {
    for (const { test, database } of gateways) {
      await test.close();
      await database.close();
    }
  });

  it('protects on every gateway, and applies a request once when its last approvals come on both at the same time', async () => {
    const [first, second] = gateways.map(({ test }) => test) as [TestApp, TestApp];
    const as = await makeTokens(first, { alice: { role: 'EDITOR' }, bob: { role: 'EDITOR' }, carol: { role: 'EDITOR' } });
    await first.app.store.createConfig({ service: 'appr-pair', config: { n: 0 } }, { actor: 'seed' });
    await first.graphql(`mutation { protectEnvironment(input: { environment: "production", requiredApprovals: 2 }) { __typename } }`);
    // The second gateway learns of it from PostgreSQL.
    await expect.poll(() => second.app.store.protection.approvalsFor('production'), { timeout: 10_000 }).toBe(2);
    for (let round = 1; round <= 5; round++) {
      const asked = await second.graphql(UPDATE, { input: { service: 'appr-pair', patch: { n: round }, reason: `round ${round}` } }, as.alice);
      const id = asked.data.updateConfig.request.id as string;
      const [byBob, byCarol] = await Promise.all([
        first.graphql(REVIEW, { id, verdict: 'APPROVE' }, as.bob),
        second.graphql(REVIEW, { id, verdict: 'APPROVE' }, as.carol),
      ]);
      const states = [byBob, byCarol].map((answer) => answer.data.reviewChangeRequest.state);
      expect(states).toContain('APPLIED');
      const writes = await first.db.query<{ count: number }>(
        `SELECT count(*)::int AS count FROM config_audit_log WHERE service_name = 'appr-pair' AND reason LIKE $1`,
        [`round ${round} (change request ${id},%`],
      );
      expect(writes[0]!.count).toBe(1);
      expect((await first.app.store.requests.find(id))?.state).toBe('applied');
    }
  });

  it("bases a request on the database's current version, however far behind the gateway's cache is", async () => {
    const [first, second] = gateways.map(({ test }) => test) as [TestApp, TestApp];
    const as = await makeTokens(second, { dana: { role: 'EDITOR' } });
    await first.graphql(`mutation { protectEnvironment(input: { environment: "production", requiredApprovals: 2 }) { __typename } }`);
    await first.app.store.createConfig({ service: 'appr-behind', config: { n: 0, m: 0 }, breakGlass: true }, { actor: 'seed', reason: 'a config to ask for', mayBreakGlass: true });
    await expect.poll(() => second.app.store.protection.approvalsFor('production'), { timeout: 10_000 }).toBe(2);
    for (let round = 1; round <= 5; round++) {
      await expect.poll(async () => (await second.app.store.getConfig('appr-behind')).version, { timeout: 10_000 }).toBe(round);
      // Moved by psql: the second gateway hears of it only when PostgreSQL's notice comes.
      const [moved] = await first.db.query<{ version: number }>(
        `UPDATE service_configs SET config = jsonb_set(config, '{m}', to_jsonb($1::int)) WHERE service_name = 'appr-behind' AND environment = 'production' RETURNING version`,
        [round],
      );
      const asked = await second.graphql(UPDATE, { input: { service: 'appr-behind', patch: { m: -round }, reason: `round ${round}` } }, as.dana);
      expect(asked.data.updateConfig, JSON.stringify(asked)).toHaveProperty('request');
      expect(asked.data.updateConfig.request).toMatchObject({ baseVersion: moved!.version, diff: [{ op: 'replace', path: '/m', value: -round }] });
      await second.graphql(`mutation($id: String!) { withdrawChangeRequest(input: { id: $id }) { __typename } }`, { id: asked.data.updateConfig.request.id }, as.dana);
    }
  });
});
