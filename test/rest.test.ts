// The REST face over real HTTP: the gateway listens on an ephemeral port and is called with fetch
// (and node:http where the wire matters: a chunked body without Content-Length).
import { Agent, request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../src/server/body.ts';
import { WORKER_THRESHOLD_CHARS } from '../src/store/documentChecks.ts';
import { diffDocuments } from '../src/store/documents.ts';
import { instanceBucket } from '../src/store/rollouts.ts';
import { adminAuth, createTestApp, type TestApp } from './support/app.ts';
import { backends, tablesDigest } from './support/databases.ts';

const author = { actor: 'rest-test' };
const JSON_TYPE = { 'content-type': 'application/json', ...adminAuth };

/** Every request of this file is the test admin's (test/access.test.ts covers the others). */
const fetch = (url: string, init: RequestInit = {}) =>
  globalThis.fetch(url, { ...init, headers: { ...adminAuth, ...(init.headers as Record<string, string> | undefined) } });
const overLimit = () => JSON.stringify({ padding: 'x'.repeat(MAX_BODY_BYTES) });

/**
 * POSTs a body with Transfer-Encoding: chunked (no Content-Length): `totalBytes` of padding in 64 KiB
 * pieces, or the given text in two pieces. Stops sending once the server has answered.
 */
function postChunked(url: string, body: { totalBytes: number } | { text: string }, agent?: Agent) {
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    const request = httpRequest(url, { method: "POST", headers: JSON_TYPE, agent });
    let answered = false;
    request.on('response', (response) => {
      answered = true;
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) }));
      response.on('error', reject);
    });
    // The server may answer and close while the rest of the body is still on its way.
    request.on('error', (error) => {
      if (!answered) reject(error);
    });
    if ('text' in body) {
      request.write(body.text.slice(0, 3));
      request.end(body.text.slice(3));
      return;
    }
    const piece = Buffer.alloc(64 * 1024, 'x');
    let sent = 0;
    const writeMore = () => {
      while (!answered && sent < body.totalBytes) {
        sent += piece.length;
        if (!request.write(piece)) return void request.once('drain', writeMore);
      }
      request.end();
    };
    writeMore();
  });
}

describe.each(backends)('REST over HTTP on %s', (backend) => {
  let t: TestApp;
  let base: string;

  beforeAll(async () => {
    t = await createTestApp(backend);
    base = await t.app.start();
  });
  afterAll(async () => {
    await t?.close();
  });

  const configUrl = (service: string, query = '') => `${base}/api/v1/config/${service}${query}`;
  const post = (service: string, body: unknown, query = '', headers: Record<string, string> = {}) =>
    fetch(configUrl(service, query), { method: 'POST', headers: { ...JSON_TYPE, ...headers }, body: JSON.stringify(body) });
  const create = (service: string, config: Record<string, unknown>) => t.app.store.createConfig({ service, config }, author);

  it('GET returns the config with an ETag of its version', async () => {
    const response = await fetch(configUrl('polygon-historical-downloader'));
    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).toBe('"1"');
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const body = await response.json();
    expect(body).toMatchObject({
      service: 'polygon-historical-downloader',
      environment: 'production',
      version: 1,
      updatedBy: 'seed',
      config: { operational: { gap_check_interval_hours: 6, batch_size: 5000 } },
    });
  });

  it('POST merge-patches: version 2, the diff, and the untouched keys kept', async () => {
    await create('rest-patch', { operational: { gap_check_interval_hours: 6, batch_size: 5000 }, features: { on: true } });
    const response = await post('rest-patch', { operational: { gap_check_interval_hours: 2 } });
    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).toBe('"2"');
    expect(await response.json()).toMatchObject({
      version: 2,
      previousVersion: 1,
      changed: true,
      dryRun: false,
      updatedBy: 'admin',
      diff: [{ op: 'replace', path: '/operational/gap_check_interval_hours', value: 2 }],
      config: { operational: { gap_check_interval_hours: 2, batch_size: 5000 }, features: { on: true } },
    });
    const current = await (await fetch(configUrl('rest-patch'))).json();
    expect(current).toMatchObject({ version: 2, config: { operational: { gap_check_interval_hours: 2 } } });
  });

  it('application/merge-patch+json is accepted too', async () => {
    await create('rest-merge-type', { a: 1 });
    const response = await post('rest-merge-type', { b: 2 }, '', { 'content-type': 'application/merge-patch+json' });
    expect(response.status).toBe(200);
    expect((await response.json()).config).toEqual({ a: 1, b: 2 });
  });

  it('If-Match and ?expectedVersion= pin the write: 409 with currentVersion, nothing written', async () => {
    await create('rest-conflict', { level: 1 });
    expect((await post('rest-conflict', { level: 2 })).status).toBe(200);
    const before = await tablesDigest(t.db);

    const byHeader = await post('rest-conflict', { level: 3 }, '', { 'if-match': '"1"' });
    expect(byHeader.status).toBe(409);
    expect(await byHeader.json()).toEqual({
      error: expect.objectContaining({ code: 'VERSION_CONFLICT', currentVersion: 2, expectedVersion: 1 }),
    });
    const byQuery = await post('rest-conflict', { level: 3 }, '?expectedVersion=1');
    expect(byQuery.status).toBe(409);
    expect((await byQuery.json()).error).toMatchObject({ code: 'VERSION_CONFLICT', currentVersion: 2 });
    expect(await tablesDigest(t.db)).toBe(before);

    // The ETag of a GET, sent back as If-Match, is the right version.
    const etag = (await fetch(configUrl('rest-conflict'))).headers.get('etag')!;
    const matching = await post('rest-conflict', { level: 3 }, '', { 'if-match': etag });
    expect(matching.status).toBe(200);
    expect(await matching.json()).toMatchObject({ version: 3, config: { level: 3 } });
  });

  it('?dryRun=true returns the would-be version and diff and writes nothing', async () => {
    await create('rest-dry', { retries: 3 });
    const before = await tablesDigest(t.db);
    const response = await post('rest-dry', { retries: 5 }, '?dryRun=true');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      dryRun: true,
      changed: true,
      version: 2,
      previousVersion: 1,
      config: { retries: 5 },
      diff: [{ op: 'replace', path: '/retries', value: 5 }],
    });
    expect(await tablesDigest(t.db)).toBe(before);
    expect((await (await fetch(configUrl('rest-dry'))).json()).version).toBe(1);
  });

  it('?dryRun=true answers the whole diff of a large document, worked out on the worker thread', async () => {
    const settings = (version: number) => Object.fromEntries(Array.from({ length: 4000 }, (_, index) => [`s_${index}`, index % 2 ? `v${version}-${index}` : index]));
    await create('rest-dry-large', settings(1));
    expect(JSON.stringify(settings(1)).length).toBeGreaterThan(WORKER_THRESHOLD_CHARS);
    const response = await post('rest-dry-large', settings(2), '?dryRun=true');
    expect(response.status).toBe(200);
    const { diff, ...rest } = (await response.json()) as { diff: unknown[] };
    expect(diff).toEqual(diffDocuments(settings(1), settings(2)));
    // The written-out diff is put into the answer as it is: the rest of the answer is a small write's.
    expect(rest).toEqual({ ...(await (await fetch(configUrl('rest-dry-large'))).json()), version: 2, config: settings(2), previousVersion: 1, changed: true, dryRun: true });
  });

  it('?expiresIn= makes the change a temporary override the hub reverts; an expiry it cannot keep is a 422', async () => {
    await create('rest-override', { retries: 3 });
    const response = await post('rest-override', { retries: 9 }, '?expiresIn=2s&reason=burst');
    expect(response.status).toBe(200);
    const write = await response.json();
    expect(write).toMatchObject({ version: 2, config: { retries: 9 }, override: { settings: ['/retries'] } });
    expect(Date.parse(write.override.expiresAt) - Date.now()).toBeLessThanOrEqual(2_000);
    const tooLong = await post('rest-override', { retries: 8 }, '?expiresIn=365d');
    expect(tooLong.status).toBe(422);
    for (const deadline = Date.now() + 15_000; (await (await fetch(configUrl('rest-override'))).json()).version < 3; ) {
      if (Date.now() > deadline) throw new Error('not reverted');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await (await fetch(configUrl('rest-override'))).json()).toMatchObject({ version: 3, config: { retries: 3 }, updatedBy: 'override' });
  });

  it('?rollout=&bake= rolls a change out in steps: ?instance= reads what an instance is served; rollouts are listed, promoted and aborted', async () => {
    const service = 'rest-rollout';
    await create(service, { retries: 3 });
    const key = { service, environment: 'production' };
    let inside = '';
    let outside = '';
    for (let n = 0; !inside || !outside; n++) {
      const id = `pod-${n}`;
      if (instanceBucket(key, id) < 5000) inside ||= id;
      else outside ||= id;
    }
    expect((await post(service, { retries: 9 }, '?rollout=50,100')).status).toBe(422);
    expect((await post(service, { retries: 9 }, '?rollout=50;100&bake=1h')).status).toBe(400);
    const response = await post(service, { retries: 9 }, '?rollout=50,100&bake=1h&maxErrors=2&reason=canary');
    expect(response.status).toBe(200);
    const write = await response.json();
    expect(write).toMatchObject({ version: 2, rollout: { state: 'active', stableVersion: 1, candidateVersion: 2, steps: [50, 100], percent: 50, maxErrors: 2 } });
    expect(write.rollout.stableConfig).toBeUndefined();
    const served = async (instance?: string) => (await (await fetch(`${configUrl(service)}${instance ? `?instance=${instance}` : ''}`)).json()).version;
    expect(await served(inside)).toBe(2);
    expect(await served(outside)).toBe(1);
    expect(await served()).toBe(1);
    expect((await post(service, { retries: 1 })).status).toBe(409);

    const promoted = await fetch(`${base}/api/v1/rollouts/${service}/promote?reason=fine`, { method: 'POST' });
    expect(promoted.status).toBe(200);
    expect(await promoted.json()).toMatchObject({ state: 'active', percent: 100, events: [{ kind: 'started' }, { kind: 'promoted', percent: 100, detail: 'fine' }] });
    const aborted = await fetch(`${base}/api/v1/rollouts/${service}/abort?reason=after%20all`, { method: 'POST' });
    expect(await aborted.json()).toMatchObject({ state: 'aborted', rollbackVersion: 3 });
    expect((await fetch(`${base}/api/v1/rollouts/${service}/abort`, { method: 'POST' })).status).toBe(404);
    const listed = await (await fetch(`${base}/api/v1/rollouts/${service}`)).json();
    expect(listed.rollouts.map((rollout: { state: string }) => rollout.state)).toEqual(['aborted']);
    expect(await served(inside)).toBe(3);
  });

  it('history lists changes newest first with reason and patch; ?limit= caps it', async () => {
    await create('rest-history', { batch: 10, mode: 'a' });
    expect((await post('rest-history', { batch: 20 }, '?reason=' + encodeURIComponent('load test: bigger batches'))).status).toBe(200);
    expect((await post('rest-history', { mode: null }, '', { 'x-change-reason': 'mode is obsolete' })).status).toBe(200);

    const response = await fetch(`${base}/api/v1/config/history/rest-history`);
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body).toMatchObject({ service: 'rest-history', environment: 'production' });
    expect(body.changes.map((c: { version: number; action: string }) => [c.version, c.action])).toEqual([
      [3, 'UPDATE'],
      [2, 'UPDATE'],
      [1, 'CREATE'],
    ]);
    const [third, second, first] = body.changes;
    expect(third).toMatchObject({ reason: 'mode is obsolete', changedBy: 'admin', patch: [{ op: 'remove', path: '/mode' }] });
    expect(second).toMatchObject({
      reason: 'load test: bigger batches',
      oldConfig: { batch: 10, mode: 'a' },
      newConfig: { batch: 20, mode: 'a' },
      patch: [{ op: 'replace', path: '/batch', value: 20 }],
    });
    expect(first).toMatchObject({ changedBy: 'rest-test', oldConfig: null, newConfig: { batch: 10, mode: 'a' } });
    expect(third.revision).toBeGreaterThan(second.revision);

    const limited = await (await fetch(`${base}/api/v1/config/history/rest-history?limit=2`)).json();
    expect(limited.changes.map((c: { version: number }) => c.version)).toEqual([3, 2]);
  });

  it('a REST write is what a GraphQL read over HTTP sees: one store', async () => {
    await create('rest-and-graphql', { threshold: 1 });
    const write = await post('rest-and-graphql', { threshold: 7, extra: { on: true } }, '?reason=shared');
    expect(write.status).toBe(200);
    const response = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: JSON_TYPE,
      body: JSON.stringify({
        query: `query ($service: String!) {
          config(service: $service) { ... on ServiceConfig { version config updatedBy } }
          configHistory(service: $service, first: 1) { edges { node { version reason changedBy } } }
        }`,
        variables: { service: 'rest-and-graphql' },
      }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      data: {
        config: { version: 2, config: { threshold: 7, extra: { on: true } }, updatedBy: 'admin' },
        configHistory: { edges: [{ node: { version: 2, reason: 'shared', changedBy: 'admin' } }] },
      },
    });
  });

  describe('bad input: refused with a status and a code, nothing written (invariant 4)', () => {
    async function expectRefused(send: () => Promise<Response>, status: number, code: string) {
      const before = await tablesDigest(t.db);
      const response = await send();
      expect(response.status).toBe(status);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      const body = await response.json();
      expect(body.error).toMatchObject({ code, message: expect.any(String) });
      expect(await tablesDigest(t.db)).toBe(before);
      return body.error;
    }

    it('unknown service: 404 on GET, POST and history', async () => {
      const error = await expectRefused(() => fetch(configUrl('no-such-service')), 404, 'NOT_FOUND');
      expect(error).toMatchObject({ service: 'no-such-service', environment: 'production' });
      await expectRefused(() => post('no-such-service', { a: 1 }), 404, 'NOT_FOUND');
      await expectRefused(() => fetch(`${base}/api/v1/config/history/no-such-service`), 404, 'NOT_FOUND');
      await expectRefused(() => fetch(configUrl('tick-aggregator', '?environment=staging')), 404, 'NOT_FOUND');
    });

    it.each(['Bad%20Name', '..%2F..', 'UPPER', '%2Fetc%2Fpasswd', '%E0%A4%A', '%ZZ'])('invalid service name %s: 422 with a pointer', async (name) => {
      for (const send of [() => fetch(configUrl(name)), () => post(name, { a: 1 }), () => fetch(`${base}/api/v1/config/history/${name}`)]) {
        const error = await expectRefused(send, 422, 'VALIDATION_FAILED');
        expect(error.issues).toEqual([{ pointer: '/service', message: expect.stringContaining('service must match') }]);
      }
    });

    it('invalid environment: 400 naming the parameter', async () => {
      const error = await expectRefused(() => fetch(configUrl('tick-aggregator', '?environment=Prod%20EU')), 400, 'BAD_PARAMETER');
      expect(error.message).toMatch(/^environment must match/);
    });

    it('malformed JSON: 400', async () => {
      const error = await expectRefused(
        () => fetch(configUrl('tick-aggregator'), { method: 'POST', headers: JSON_TYPE, body: '{"operational": {' }),
        400,
        'MALFORMED_JSON',
      );
      expect(error.message).toMatch(/not valid JSON/);
    });

    it.each([
      ['a JSON array', [{ op: 'replace', path: '/a', value: 1 }], 'an array'],
      ['a JSON string', 'gap_check_interval_hours=2', 'a string'],
      ['JSON null', null, 'null'],
      ['a JSON number', 42, 'a number'],
    ])('a body that is %s: 422', async (_kind, body, described) => {
      const error = await expectRefused(() => post('tick-aggregator', body), 422, 'VALIDATION_FAILED');
      // null is "no patch at all" to the store; the others are patches that are not objects.
      expect(error.issues[0].message).toMatch(described === 'null' ? /exactly one of patch/ : new RegExp(`not ${described}`));
    });

    it.each([
      ['text/plain', { 'content-type': 'text/plain' }],
      ['form data', { 'content-type': 'application/x-www-form-urlencoded' }],
      ['no content type', {}],
    ])('wrong content type (%s): 415', async (_kind, headers) => {
      await expectRefused(
        () => fetch(configUrl('tick-aggregator'), { method: 'POST', headers, body: new Blob(['{"a":1}']) }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );
    });

    it('a body over 1 MiB with Content-Length: 413', async () => {
      const body = overLimit();
      expect(Buffer.byteLength(body)).toBeGreaterThan(MAX_BODY_BYTES);
      await expectRefused(() => fetch(configUrl('tick-aggregator'), { method: 'POST', headers: JSON_TYPE, body }), 413, 'PAYLOAD_TOO_LARGE');
    });

    it('a chunked body over 1 MiB without Content-Length: 413, and the connection is not left half-read', async () => {
      // One keep-alive connection, as a script's HTTP client would reuse it.
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const before = await tablesDigest(t.db);
        const refused = await postChunked(configUrl('tick-aggregator'), { totalBytes: 2 * MAX_BODY_BYTES }, agent);
        expect(refused.status).toBe(413);
        expect(refused.body.error.code).toBe('PAYLOAD_TOO_LARGE');
        expect(await tablesDigest(t.db)).toBe(before);

        await create('rest-chunked', { a: 1 });
        const next = await postChunked(configUrl('rest-chunked'), { text: '{"a":2}' }, agent);
        expect(next.status).toBe(200);
        expect(next.body).toMatchObject({ version: 2, config: { a: 2 } });
      } finally {
        agent.destroy();
      }
    });

    it.each([
      ['DELETE', '/api/v1/config/tick-aggregator'],
      ['PUT', '/api/v1/config/tick-aggregator'],
      ['PATCH', '/api/v1/config/tick-aggregator'],
      ['POST', '/api/v1/config/history/tick-aggregator'],
    ])('wrong method %s %s: 405', async (method, path) => {
      const body = method === 'DELETE' ? undefined : '{"a":1}';
      await expectRefused(() => fetch(base + path, { method, headers: JSON_TYPE, body }), 405, 'METHOD_NOT_ALLOWED');
    });

    it.each(['/api/v1/configs', '/api/v1/config/tick-aggregator/extra', '/api/v2/config/tick-aggregator', '/nowhere'])(
      'unknown route %s: 404',
      async (path) => {
        await expectRefused(() => fetch(base + path), 404, 'NO_ROUTE');
      },
    );

    it.each(['0', '501', 'ten', '-1'])('history with ?limit=%s: 400', async (limit) => {
      await expectRefused(() => fetch(`${base}/api/v1/config/history/tick-aggregator?limit=${limit}`), 400, 'BAD_PARAMETER');
    });

    // A parameter that is not exactly one of its documented values is refused, never read as a default:
    // `?dryRun=1` once wrote for real.
    it.each([
      ['?dryRun=1', /^dryRun must be true or false/],
      ['?dryRun=TRUE', /^dryRun must be true or false/],
      ['?dryRun=yes', /^dryRun must be true or false/],
      ['?dryRun=', /^dryRun must be true or false/],
      ['?dryrun=true', /^dryrun: not a parameter of this route/],
      ['?dry_run=true', /^dry_run: not a parameter of this route/],
      ['?dryRun=true&dryRun=false', /^dryRun is given more than once/],
      ['?expectedVersion=0', /^expectedVersion must be a whole number from 1/],
      ['?expectedVersion=1.5', /^expectedVersion must be a whole number/],
      ['?expectedVersion=', /^expectedVersion must be a whole number/],
      ['?environment=', /^environment must match/],
      ['?environment=staging&environment=production', /^environment is given more than once/],
      ['?limit=5', /^limit: not a parameter of this route/],
      ['?expiresIn=soon', /^expiresIn must be a duration/],
      ['?expiresIn=', /^expiresIn must be a duration/],
    ])('POST with %s: 400 naming the parameter, nothing written', async (query, message) => {
      const error = await expectRefused(() => post('tick-aggregator', { operational: { strict_probe: 1 } }, query), 400, 'BAD_PARAMETER');
      expect(error.message).toMatch(message);
    });

    it.each([
      ['/api/v1/config/tick-aggregator?dryRun=true', /^dryRun: not a parameter of this route/],
      ['/api/v1/config/tick-aggregator?version=2', /^version: not a parameter of this route/],
      ['/api/v1/config/history/tick-aggregator?limit=10&limit=20', /^limit is given more than once/],
      ['/api/v1/config/history/tick-aggregator?environment=PROD', /^environment must match/],
    ])('GET %s: 400 naming the parameter', async (path, message) => {
      const error = await expectRefused(() => fetch(base + path), 400, 'BAD_PARAMETER');
      expect(error.message).toMatch(message);
    });

    it.each(['banana', '"v2"', '1,2'])('If-Match %s that is not a version: 400', async (ifMatch) => {
      await expectRefused(() => post('tick-aggregator', { a: 1 }, '', { 'if-match': ifMatch }), 400, 'BAD_PARAMETER');
    });
  });

  describe('the GraphQL endpoint over HTTP refuses a body over 1 MiB', () => {
    const oversizedQuery = () => JSON.stringify({ query: '{ __typename }', variables: { padding: 'x'.repeat(MAX_BODY_BYTES) } });

    it('with Content-Length: 413', async () => {
      const before = await tablesDigest(t.db);
      const response = await fetch(`${base}/graphql`, { method: 'POST', headers: JSON_TYPE, body: oversizedQuery() });
      expect(response.status).toBe(413);
      expect((await response.json()).error.code).toBe('PAYLOAD_TOO_LARGE');
      expect(await tablesDigest(t.db)).toBe(before);
    });

    it('chunked, without Content-Length: 413', async () => {
      const before = await tablesDigest(t.db);
      const response = await postChunked(`${base}/graphql`, { totalBytes: 2 * MAX_BODY_BYTES });
      expect(response.status).toBe(413);
      expect(response.body.error.code).toBe('PAYLOAD_TOO_LARGE');
      expect(await tablesDigest(t.db)).toBe(before);
    });

    it('while a body under the limit is answered', async () => {
      const response = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: JSON_TYPE,
        body: JSON.stringify({ query: '{ __typename }', variables: { padding: 'x'.repeat(MAX_BODY_BYTES / 2) } }),
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ data: { __typename: 'Query' } });
    });
  });
});
