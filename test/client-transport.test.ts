import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TypedDocumentString } from '../src/cli/generated/graphql.ts';
import { GetConfig } from '../src/cli/operations.ts';
import { HubRequestError, graphqlEndpoint, hubRequest } from '../src/client/transport.ts';
import { createTestApp, type TestApp } from './support/app.ts';
import { freePort } from './support/waiting.ts';

// The GraphQL-over-HTTP transport against a real gateway on a real port, and against small HTTP
// servers that answer the way a proxy or a hub with access control would.

let testApp: TestApp;
let hubUrl: string;
const servers: Server[] = [];

/** An HTTP server answering every request with `respond`; closed in afterAll. */
async function answering(respond: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(respond);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function failure(promise: Promise<unknown>): Promise<HubRequestError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(HubRequestError);
  return error as HubRequestError;
}

beforeAll(async () => {
  testApp = await createTestApp('pglite');
  hubUrl = await testApp.app.start();
});

afterAll(async () => {
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  await testApp?.close();
});

describe('hubRequest', () => {
  it('returns the typed data of a query', async () => {
    const data = await hubRequest({ url: hubUrl, token: testApp.adminToken }, GetConfig, { service: 'tick-aggregator' });
    expect(data.config!.__typename).toBe('ServiceConfig');
    if (data.config!.__typename === 'ServiceConfig') expect(data.config!.version).toBeGreaterThanOrEqual(1);
  });

  it('accepts a base URL with a trailing slash or one naming /graphql', async () => {
    expect(graphqlEndpoint('http://h:1/')).toBe('http://h:1/graphql');
    expect(graphqlEndpoint('http://h:1/graphql')).toBe('http://h:1/graphql');
    const data = await hubRequest({ url: `${hubUrl}/`, token: testApp.adminToken }, GetConfig, { service: 'tick-aggregator' });
    expect(data.config!.__typename).toBe('ServiceConfig');
  });

  it('sends the token as a bearer header', async () => {
    let seen: string | undefined;
    const url = await answering((request, response) => {
      seen = request.headers.authorization;
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ data: { ok: true } }));
    });
    await hubRequest({ url, token: 'chub_abc' }, new TypedDocumentString<{ ok: boolean }, object>('{ ok }'), {});
    expect(seen).toBe('Bearer chub_abc');
  });

  it('maps GraphQL errors to GRAPHQL with the messages', async () => {
    const error = await failure(hubRequest({ url: hubUrl, token: testApp.adminToken }, new TypedDocumentString<unknown, object>('{ noSuchField }'), {}));
    expect(error.code).toBe('GRAPHQL');
    expect(error.message).toMatch(/noSuchField/);
    expect(error.errors.length).toBeGreaterThan(0);
    expect(error.retryable).toBe(false);
  });

  it('maps 401, 403 and auth error codes to UNAUTHENTICATED and FORBIDDEN', async () => {
    const statusUrl = await answering((request, response) => {
      response.statusCode = request.headers.authorization ? 403 : 401;
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ errors: [{ message: response.statusCode === 401 ? 'who are you' : 'not yours' }] }));
    });
    const unauthenticated = await failure(hubRequest({ url: statusUrl }, GetConfig, { service: 'x' }));
    expect([unauthenticated.code, unauthenticated.status, unauthenticated.message]).toEqual(['UNAUTHENTICATED', 401, 'who are you']);
    const forbidden = await failure(hubRequest({ url: statusUrl, token: 't' }, GetConfig, { service: 'x' }));
    expect([forbidden.code, forbidden.status]).toEqual(['FORBIDDEN', 403]);

    const codedUrl = await answering((_request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ data: null, errors: [{ message: 'reader tokens cannot write', extensions: { code: 'FORBIDDEN' } }] }));
    });
    const coded = await failure(hubRequest({ url: codedUrl }, GetConfig, { service: 'x' }));
    expect([coded.code, coded.status]).toEqual(['FORBIDDEN', 200]);
  });

  it('maps a non-GraphQL answer to HTTP', async () => {
    const url = await answering((_request, response) => {
      response.statusCode = 502;
      response.end('<html>bad gateway</html>');
    });
    const error = await failure(hubRequest({ url }, GetConfig, { service: 'x' }));
    expect([error.code, error.status, error.retryable]).toEqual(['HTTP', 502, true]);
  });

  it('maps an unreachable hub to NETWORK and a silent one to TIMEOUT', async () => {
    const network = await failure(hubRequest({ url: `http://127.0.0.1:${await freePort()}` }, GetConfig, { service: 'x' }));
    expect([network.code, network.retryable]).toEqual(['NETWORK', true]);

    const silentUrl = await answering(() => {});
    const started = Date.now();
    const timeout = await failure(hubRequest({ url: silentUrl, timeoutMs: 150 }, GetConfig, { service: 'x' }));
    expect(timeout.code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("rejects with the caller's abort reason", async () => {
    const silentUrl = await answering(() => {});
    const controller = new AbortController();
    const pending = hubRequest({ url: silentUrl }, GetConfig, { service: 'x' }, controller.signal);
    const reason = new Error('shutting down');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });
});
