// Defects a hostile review of the hub found (issue 15), each reproduced here as it was found. Others live
// beside the code they concern: the bad-input corpus (test/badInput.test.ts: strict parameters, text and
// number refusals, codes), the secret guard's corpus (test/secretGuard.test.ts), the data-directory lock
// (test/dataDirLock.test.ts), schema patterns (test/configSchemas.test.ts), NATS outages
// (test/propagation.test.ts) and the fast paths against stock yoga (test/differential.test.ts).
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminAuth, createTestApp, TEST_ADMIN_TOKEN, type TestApp, useTestApp } from './support/app.ts';

const SERVICE = 'tick-aggregator';

describe('a variable inside a JSON literal, the same document run again and again', () => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await createTestApp('pglite');
    base = await t.app.start();
  });
  afterAll(async () => {
    await t?.close();
  });

  const PATCH = `mutation($size: Int, $dry: Boolean) {
    updateConfig(input: { service: "${SERVICE}", patch: { operational: { batch_size: $size } }, dryRun: $dry }) {
      __typename ... on ConfigWrite { changed dryRun diff { op path value } config { version config } }
    }
  }`;
  const REPLACE = `mutation($bs: Int, $w: Int) {
    updateConfig(input: { service: "scratch-replace", config: { batch_size: $bs, workers: [$w, 1] } }) {
      __typename ... on ConfigWrite { changed config { version config } }
    }
  }`;
  const CREATE = `mutation($service: String!, $owner: String) {
    createConfig(input: { service: $service, config: { owner: $owner, nested: { owner: $owner } } }) {
      __typename ... on ConfigWrite { config { version config } }
    }
  }`;

  /** The transports a document reaches the executor by: the fast POST path, yoga's own handler, yoga in-process, graphql-ws. */
  const transports: Record<string, (query: string, variables: Record<string, unknown>) => Promise<any>> = {
    'HTTP, fast path': async (query, variables) =>
      (await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...adminAuth }, body: JSON.stringify({ query, variables }) })).json(),
    // An Accept the fast path leaves to yoga.
    'HTTP, yoga': async (query, variables) =>
      (
        await fetch(`${base}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json;q=0.9, text/plain;q=0.1', ...adminAuth },
          body: JSON.stringify({ query, variables }),
        })
      ).json(),
    'in-process': (query, variables) => t.graphql(query, variables),
    WebSocket: (query, variables) => {
      const client = createClient({ url: `${base.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: adminAuth, retryAttempts: 0 });
      return new Promise((resolve, reject) => {
        let result: unknown;
        client.subscribe({ query, variables }, { next: (value) => void (result = value), error: reject, complete: () => resolve(result) });
      }).finally(() => client.dispose());
    },
  };

  it.each(Object.keys(transports))('%s: every run uses its own variables', async (transport) => {
    const send = transports[transport]!;
    const size = 400 + Object.keys(transports).indexOf(transport) * 10;
    const dry = await send(PATCH, { size, dry: true });
    expect(dry.data.updateConfig).toMatchObject({ changed: true, dryRun: true, diff: [{ op: expect.any(String), path: '/operational/batch_size', value: size }] });
    const written = await send(PATCH, { size, dry: false });
    expect(written.data.updateConfig).toMatchObject({ changed: true, dryRun: false, config: { config: { operational: { batch_size: size } } } });
    const again = await send(PATCH, { size: size + 1, dry: false });
    expect(again.data.updateConfig).toMatchObject({ changed: true, config: { version: written.data.updateConfig.config.version + 1, config: { operational: { batch_size: size + 1 } } } });

    const created = await send(CREATE, { service: `scratch-${transport.replace(/\W+/g, '-').toLowerCase()}-1`, owner: 'ann' });
    expect(created.data.createConfig.config.config).toEqual({ owner: 'ann', nested: { owner: 'ann' } });
    for (const [run, owner] of ['bob', 'cy'].entries()) {
      const next = await send(CREATE, { service: `scratch-${transport.replace(/\W+/g, '-').toLowerCase()}-${run + 2}`, owner });
      expect(next.data.createConfig.config.config).toEqual({ owner, nested: { owner } });
    }
  });

  it('a replacement with variables inside its literal stores them on every run', async () => {
    await t.graphql(`mutation { createConfig(input: { service: "scratch-replace", config: { batch_size: 1 } }) { __typename } }`);
    for (const [bs, w] of [
      [10, 2],
      [20, 3],
      [30, 4],
    ]) {
      const result = await transports['HTTP, fast path']!(REPLACE, { bs, w });
      expect(result.data.updateConfig.config.config).toEqual({ batch_size: bs, workers: [w, 1] });
    }
    const stored = await t.graphql(`{ config(service: "scratch-replace") { ... on ServiceConfig { version config } } }`);
    expect(stored.data.config).toEqual({ version: 4, config: { batch_size: 30, workers: [4, 1] } });
  });
});

describe('a rollback to the content the config has', () => {
  const t = useTestApp('pglite');

  const ROLLBACK = `mutation($input: RollbackConfigInput!) {
    rollbackConfig(input: $input) { __typename ... on ConfigWrite { changed dryRun previousVersion diff { op } config { version } change { version } } }
  }`;
  const auditRows = async () =>
    (await t.db.session((sql) => sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM config_audit_log WHERE service_name = 'rollback-same'`)))[0]!.n;

  it('writes nothing and says so, as an update to the same content does', async () => {
    await t.graphql(`mutation { createConfig(input: { service: "rollback-same", config: { level: 1 } }) { __typename } }`);
    await t.graphql(`mutation { updateConfig(input: { service: "rollback-same", patch: { level: 2 } }) { __typename } }`);
    await t.graphql(`mutation { updateConfig(input: { service: "rollback-same", patch: { level: 1 } }) { __typename } }`);
    const before = await auditRows();
    for (const dryRun of [true, false]) {
      const { data } = await t.graphql(ROLLBACK, { input: { service: 'rollback-same', toVersion: 1, dryRun } });
      expect(data.rollbackConfig).toEqual({ __typename: 'ConfigWrite', changed: false, dryRun, previousVersion: 3, diff: [], config: { version: 3 }, change: null });
    }
    const update = await t.graphql(`mutation { updateConfig(input: { service: "rollback-same", patch: { level: 1 } }) { ... on ConfigWrite { changed config { version } } } }`);
    expect(update.data.updateConfig).toEqual({ changed: false, config: { version: 3 } });
    expect(await auditRows()).toBe(before);
    // A rollback to other content still writes a new version.
    const { data } = await t.graphql(ROLLBACK, { input: { service: 'rollback-same', toVersion: 2 } });
    expect(data.rollbackConfig).toMatchObject({ changed: true, config: { version: 4 }, change: { version: 4 } });
  });
});

describe('HTTP hygiene', () => {
  let t: TestApp;
  let base: string;
  const CONSOLE = 'https://console.example.com';
  beforeAll(async () => {
    t = await createTestApp('pglite', { settings: { CONFIGHUB_CORS_ORIGINS: [CONSOLE] } });
    base = await t.app.start();
  });
  afterAll(async () => {
    await t?.close();
  });

  const graphqlPost = (headers: Record<string, string> = {}) =>
    fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...adminAuth, ...headers }, body: '{"query":"{ __typename }"}' });

  it.each([
    ['GET /health', () => fetch(`${base}/health`)],
    ['GET /ready', () => fetch(`${base}/ready`)],
    ['GET /metrics', () => fetch(`${base}/metrics`)],
    ['POST /graphql (fast path)', () => graphqlPost()],
    ['POST /graphql (yoga)', () => graphqlPost({ accept: 'application/graphql-response+json;q=0.9, text/plain;q=0.1' })],
    ['GET /graphql (yoga)', () => fetch(`${base}/graphql?query=${encodeURIComponent('{ __typename }')}`, { headers: adminAuth })],
    ['GET REST', () => fetch(`${base}/api/v1/config/${SERVICE}`, { headers: adminAuth })],
    ['a refusal', () => fetch(`${base}/api/v1/config/${SERVICE}`)],
    ['no route', () => fetch(`${base}/nowhere`)],
  ])('%s: not sniffed, not framed, not cached', async (_name, send) => {
    const response = await send();
    await response.arrayBuffer();
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-security-policy')).toBe("frame-ancestors 'none'");
    expect(response.headers.get('cache-control')).toBe('no-store');
  });

  it('answers CORS only for the listed origins, never with credentials', async () => {
    const evil = await graphqlPost({ origin: 'https://evil.example' });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    expect(evil.headers.get('access-control-allow-credentials')).toBeNull();
    const listed = await graphqlPost({ origin: CONSOLE });
    expect(listed.status).toBe(200);
    expect(listed.headers.get('access-control-allow-origin')).toBe(CONSOLE);
    expect(listed.headers.get('access-control-allow-credentials')).toBeNull();
    const rest = await fetch(`${base}/api/v1/config/${SERVICE}`, { headers: { ...adminAuth, origin: CONSOLE } });
    expect(rest.headers.get('access-control-allow-origin')).toBe(CONSOLE);
  });

  it.each(['/graphql', `/api/v1/config/${SERVICE}`])('answers preflights of %s (204), allowing only the listed origins', async (path) => {
    const preflight = (origin: string) =>
      fetch(`${base}${path}`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      });
    const listed = await preflight(CONSOLE);
    expect(listed.status).toBe(204);
    expect(listed.headers.get('access-control-allow-origin')).toBe(CONSOLE);
    expect(listed.headers.get('access-control-allow-methods')).toMatch(/POST/);
    expect(listed.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    const other = await preflight('https://evil.example');
    expect(other.status).toBe(204);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers large requests while a slow sender holds a large body half-sent (large requests take turns)', async () => {
    const { connect } = await import('node:net');
    const { port } = new URL(base);
    const slow = connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => slow.once('connect', resolve));
    slow.write(`POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${200 * 1024}\r\n\r\n{"query":"{ __typename }`);
    const large = JSON.stringify({ query: `{ __typename }${' '.repeat(100 * 1024)}` });
    const answers = await Promise.all([1, 2, 3].map(() => fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...adminAuth }, body: large }).then((response) => response.json())));
    expect(answers).toEqual([1, 2, 3].map(() => ({ data: { __typename: 'Query' } })));
    slow.destroy();
  });

  it('with no origins set, answers no cross-origin request (the default)', async () => {
    const plain = await createTestApp('pglite');
    try {
      const url = await plain.app.start();
      const response = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', origin: CONSOLE, ...adminAuth }, body: '{"query":"{ __typename }"}' });
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await plain.close();
    }
  });
});

describe('WebSocket limits', () => {
  let t: TestApp;
  let base: string;
  const open: WebSocket[] = [];
  beforeAll(async () => {
    t = await createTestApp('pglite', { settings: { CONFIGHUB_MAX_SOCKETS_PER_ADDRESS: 4 }, anonymousSocketIdleMs: 500 });
    base = await t.app.start();
  });
  afterAll(async () => {
    for (const socket of open) socket.terminate();
    await t?.close();
  });

  /** A graphql-ws socket after its handshake, with what it received and how it closed. */
  async function connect(connectionParams: Record<string, unknown> = adminAuth) {
    const socket = new WebSocket(`${base.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    open.push(socket);
    const messages: { type: string; id?: string; payload?: any }[] = [];
    const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
    socket.on('message', (data) => messages.push(JSON.parse(String(data))));
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: connectionParams })));
      socket.once('error', reject);
      socket.on('message', () => messages.some((message) => message.type === 'connection_ack') && resolve());
    });
    return { socket, messages, closed };
  }

  it('closes a socket that sends a message over 1 MiB (1009), as HTTP refuses such a body', async () => {
    const { socket, closed } = await connect();
    socket.send(JSON.stringify({ type: 'ping', payload: { padding: 'x'.repeat(1024 * 1024 + 1) } }));
    expect((await closed).code).toBe(1009);
  });

  it('keeps a socket\'s messages in order when a large one waits for its turn', async () => {
    const { socket, messages, closed } = await connect();
    const padding = ' '.repeat(70 * 1024);
    socket.send(JSON.stringify({ id: 'large', type: 'subscribe', payload: { query: `{ __typename }${padding}` } }));
    socket.send(JSON.stringify({ id: 'small', type: 'subscribe', payload: { query: '{ __typename }' } }));
    await expect.poll(() => messages.filter((message) => message.type === 'complete').length, { timeout: 5_000 }).toBe(2);
    expect(messages.filter((message) => message.type === 'next').map((message) => message.id)).toEqual(['large', 'small']);
    socket.close();
    await closed;
  });

  it('goes on with a socket\'s messages, and with other large ones, while a large subscription stays open', async () => {
    const first = await connect();
    const padding = ' '.repeat(70 * 1024);
    first.socket.send(JSON.stringify({ id: 'live', type: 'subscribe', payload: { query: `subscription { configChanged(service: "tick-aggregator") { version } }${padding}` } }));
    first.socket.send(JSON.stringify({ id: 'after', type: 'subscribe', payload: { query: '{ __typename }' } }));
    await expect.poll(() => first.messages.some((message) => message.id === 'after' && message.type === 'complete'), { timeout: 5_000 }).toBe(true);
    // Large messages take turns one at a time: the open subscription holds the turn for a while at most.
    const second = await connect();
    second.socket.send(JSON.stringify({ id: 'large', type: 'subscribe', payload: { query: `{ __typename }${padding}` } }));
    await expect.poll(() => second.messages.some((message) => message.id === 'large' && message.type === 'complete'), { timeout: 5_000 }).toBe(true);
    first.socket.send(JSON.stringify({ id: 'live', type: 'complete' }));
    first.socket.send(JSON.stringify({ id: 'last', type: 'subscribe', payload: { query: '{ __typename }' } }));
    await expect.poll(() => first.messages.some((message) => message.id === 'last' && message.type === 'complete'), { timeout: 5_000 }).toBe(true);
    expect(first.messages.filter((message) => message.type === 'error')).toEqual([]);
    for (const { socket, closed } of [first, second]) {
      socket.close();
      await closed;
    }
  });

  it('closes a socket that sends more than 100 messages a second (past a burst of 200) with 1008', async () => {
    const { socket, messages, closed } = await connect();
    const sentAt = performance.now();
    for (let index = 0; index < 300; index++) socket.send(JSON.stringify({ type: 'ping' }));
    expect(await closed).toMatchObject({ code: 1008, reason: expect.stringMatching(/too many messages/) });
    // The burst, and what the rate gives back while the gateway takes the messages one a turn.
    const refilled = Math.ceil(((performance.now() - sentAt) / 1000) * 100);
    expect(messages.filter((message) => message.type === 'pong').length).toBeLessThanOrEqual(200 + refilled);
  });

  it('refuses sockets past the per-address limit at the upgrade (429), and takes them again once one closes', async () => {
    // A socket the gateway closed counts until the gateway has read what its client sent before the close
    // (one message a turn): the sockets of the tests before are let go first.
    const openSockets = async () => Number(/^confighub_websockets_open (\d+)$/m.exec(await (await fetch(`${base}/metrics`, { headers: adminAuth })).text())?.[1]);
    await expect.poll(openSockets, { timeout: 5_000 }).toBe(0);
    const sockets = [];
    for (let index = 0; index < 4; index++) sockets.push(await connect());
    const refused = await new Promise<number>((resolve) => {
      const extra = new WebSocket(`${base.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
      extra.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
      extra.once('open', () => resolve(101));
      extra.once('error', () => {});
    });
    expect(refused).toBe(429);
    sockets[0]!.socket.close();
    await sockets[0]!.closed;
    await expect.poll(async () => (await connect().then((next) => (next.socket.close(), true), () => false)), { timeout: 5_000 }).toBe(true);
    for (const { socket } of sockets) socket.close();
    await Promise.all(sockets.map(({ closed }) => closed));
  });

  it('closes an anonymous socket that stays silent, and keeps one with a token', async () => {
    const anonymous = await connect({});
    const signedIn = await connect();
    expect(await anonymous.closed).toMatchObject({ code: 1000, reason: 'idle anonymous connection' });
    expect(signedIn.socket.readyState).toBe(WebSocket.OPEN);
    signedIn.socket.close();
    await signedIn.closed;
  });

  it('answers an operation past the per-socket limit with an error, and the socket lives on', async () => {
    const { socket, messages, closed } = await connect();
    const subscribe = (id: string) =>
      socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query: `subscription { configChanged(service: "${SERVICE}") { version } }` } }));
    for (let index = 1; index <= 101; index++) subscribe(String(index));
    await expect.poll(() => messages.find((message) => message.id === '101' && message.type === 'error'), { timeout: 10_000 }).toBeTruthy();
    const refusal = messages.find((message) => message.id === '101')!;
    expect(refusal.payload[0]).toMatchObject({ message: expect.stringMatching(/at most 100 operations/), extensions: { code: 'TOO_MANY_OPERATIONS' } });
    expect(messages.filter((message) => message.type === 'error')).toHaveLength(1);
    // A completed operation frees its place.
    socket.send(JSON.stringify({ id: '1', type: 'complete' }));
    subscribe('102');
    socket.send(JSON.stringify({ id: '2', type: 'complete' }));
    socket.send(JSON.stringify({ id: 'q', type: 'subscribe', payload: { query: '{ __typename }' } }));
    await expect.poll(() => messages.find((message) => message.id === 'q' && message.type === 'next'), { timeout: 10_000 }).toBeTruthy();
    expect(messages.find((message) => message.id === '102' && message.type === 'error')).toBeUndefined();
    socket.close();
    await closed;
  });
});

describe('/ready', () => {
  it('says "database unavailable" without the cause (that goes to the log); NATS away is degraded, still ready', async () => {
    const { createPostgresDatabase } = await import('./support/databases.ts');
    const { TcpProxy } = await import('./support/gateway.ts');
    const { openDatabase } = await import('../src/db/database.ts');
    const { migrate } = await import('../src/db/migrate.ts');
    const url = new URL(await createPostgresDatabase());
    const proxy = await TcpProxy.start(Number(url.port));
    url.port = String(proxy.port);
    const database = await openDatabase({ url: url.toString() });
    await migrate(database);
    // NATS_URL names a port nothing listens on: the hub keeps trying in the background.
    const t = await createTestApp('postgres', { database: Object.assign(database, { url: url.toString() }), natsUrl: 'nats://127.0.0.1:1' });
    try {
      const base = await t.app.start();
      const ready = await fetch(`${base}/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', events: { kind: 'nats', connected: false }, degraded: expect.stringMatching(/NATS is not connected/) });

      await proxy.cut();
      const anonymous = await fetch(`${base}/ready`);
      expect(anonymous.status).toBe(503);
      const text = await anonymous.text();
      expect(JSON.parse(text)).toMatchObject({ status: 'unavailable', reason: 'database unavailable' });
      expect(text).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|:\d{4,5}\b/);
      await proxy.restore();
      await expect.poll(async () => (await fetch(`${base}/ready`)).status, { timeout: 10_000 }).toBe(200);
    } finally {
      await t.close();
      await database.close();
      await proxy.cut();
    }
  });
});

describe('the gateway process', () => {
  it('writes nothing but JSON log lines, faults of sockets and libraries included', async () => {
    const { spawn } = await import('node:child_process');
    const { createPostgresDatabase } = await import('./support/databases.ts');
    const { freePort } = await import('./support/waiting.ts');
    const port = await freePort();
    const child = spawn(process.execPath, ['--no-warnings', '--import', 'tsx', 'src/main.ts'], {
      cwd: new URL('..', import.meta.url).pathname,
      env: { ...process.env, DATABASE_URL: await createPostgresDatabase(), PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'debug', CONFIGHUB_ADMIN_TOKEN: TEST_ADMIN_TOKEN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const base = `http://127.0.0.1:${port}`;
      await expect.poll(() => fetch(`${base}/health`).then((response) => response.ok, () => false), { timeout: 60_000, interval: 200 }).toBe(true);
      // A socket that breaks the protocol, one that sends too much, a subscription refused, a 404, a warning.
      for (const message of ['not json', JSON.stringify({ type: 'ping', payload: 'x'.repeat(1024 * 1024 + 1) })]) {
        const socket = new WebSocket(`${base.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
        socket.on('error', () => {});
        await new Promise((resolve) => socket.once('open', resolve));
        socket.send(message);
        await new Promise((resolve) => socket.once('close', resolve));
      }
      await fetch(`${base}/nowhere`);
      await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": "{ nope }"}' });
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    const lines = output.split('\n').filter((line) => line.trim() !== '');
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
  });
});

describe('reads of the audit log carry at most 1 MiB of documents at a time', () => {
  let t: TestApp;
  let base: string;
  const service = 'large-history';
  beforeAll(async () => {
    t = await createTestApp('pglite');
    base = await t.app.start();
    // Seven versions of a ~150 KiB document: ~300 KiB of documents a change.
    const symbols = (round: number) => Array.from({ length: 16_000 }, (_, index) => `S${round}${index.toString(36).toUpperCase()}`);
    await t.graphql(`mutation($config: JSON!) { createConfig(input: { service: "${service}", config: $config }) { __typename } }`, { config: { symbols: symbols(0) } });
    for (let round = 1; round < 7; round++) {
      const { data } = await t.graphql(`mutation($config: JSON!) { updateConfig(input: { service: "${service}", config: $config }) { __typename } }`, { config: { symbols: symbols(round) } });
      expect(data.updateConfig.__typename).toBe('ConfigWrite');
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses a history page that would carry more, saying how many fit; a smaller page and one without documents answer', async () => {
    const HISTORY = `query($first: Int!) { configHistory(service: "${service}", first: $first) { edges { node { version newConfig } } } }`;
    const refused = await t.graphql(HISTORY, { first: 7 });
    expect(refused.data.configHistory).toBeNull();
    expect(refused.errors![0]).toMatchObject({ message: expect.stringMatching(/the limit is 1048576 \(1 MiB\): ask for at most \d changes at a time/), extensions: { code: 'PAGE_TOO_LARGE' } });
    const small = await t.graphql(HISTORY, { first: 2 });
    expect(small.data.configHistory.edges.map((edge: any) => edge.node.version)).toEqual([7, 6]);
    const withoutDocuments = await t.graphql(`{ configHistory(service: "${service}", first: 50) { edges { node { version changedBy } } } }`);
    expect(withoutDocuments.data.configHistory.edges).toHaveLength(7);
  });

  it('refuses the same over REST (400), and answers a smaller ?limit=', async () => {
    const refused = await fetch(`${base}/api/v1/config/history/${service}?limit=50`, { headers: adminAuth });
    expect(refused.status).toBe(400);
    expect((await refused.json()).error).toMatchObject({ code: 'PAGE_TOO_LARGE', fits: expect.any(Number) });
    const small = await fetch(`${base}/api/v1/config/history/${service}?limit=2`, { headers: adminAuth });
    expect(small.status).toBe(200);
    expect((await small.json()).changes).toHaveLength(2);
  });

  it('answers at most 1 MiB of JSON in one answer: aliases past it are errors (ANSWER_TOO_LARGE), the rest answered', async () => {
    const aliases = Array.from({ length: 20 }, (_, index) => `a${index}: config(service: "${service}") { ... on ServiceConfig { config } }`).join(' ');
    const { data, errors } = await t.graphql(`{ ${aliases} }`);
    const answered = Object.values(data).filter((value) => value !== null);
    // Some 130 KiB a document: 8 fit in 1 MiB.
    expect(answered.length).toBeGreaterThanOrEqual(5);
    expect(answered.length).toBeLessThan(10);
    expect(errors).toHaveLength(20 - answered.length);
    expect(errors![0]).toMatchObject({ message: expect.stringMatching(/more than 1048576 bytes \(1 MiB\) of JSON/), extensions: { code: 'ANSWER_TOO_LARGE' } });
    const one = await t.graphql(`{ config(service: "${service}") { ... on ServiceConfig { version config } } }`);
    expect(one.errors).toBeUndefined();
  });

  it('answers at most 1,000 patch operations in one answer: a longer diff is refused with its length, and read whole in pages', async () => {
    // Every one of the 16,000 symbols changed from version 1 to 2.
    const DIFF = `query($offset: Int, $limit: Int) { configDiff(service: "${service}", fromVersion: 1, toVersion: 2) {
      ... on ConfigDiff { operationCount operations(offset: $offset, limit: $limit) { op path value } } } }`;
    const refused = await t.graphql(DIFF, {});
    expect(refused.data.configDiff).toBeNull();
    expect(refused.errors![0]).toMatchObject({ message: expect.stringMatching(/16000 patch operations, more than 1000: ask for them in pages/), extensions: { code: 'ANSWER_TOO_LARGE' } });
    const tooLong = await t.graphql(DIFF, { limit: 1001 });
    expect(tooLong.errors![0]).toMatchObject({ message: 'limit must be from 1 to 1000, not 1001', extensions: { code: 'BAD_USER_INPUT' } });
    const negative = await t.graphql(DIFF, { offset: -1, limit: 10 });
    expect(negative.errors![0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });

    const pages: any[] = [];
    for (let offset = 0; ; offset += 1000) {
      const { data, errors } = await t.graphql(DIFF, { offset, limit: 1000 });
      expect(errors).toBeUndefined();
      expect(data.configDiff.operationCount).toBe(16_000);
      if (data.configDiff.operations.length === 0) break;
      pages.push(...data.configDiff.operations);
    }
    expect(pages).toHaveLength(16_000);
    // (fast-json-patch lists an array's operations from its end.)
    expect(pages[0]).toEqual({ op: 'replace', path: '/symbols/15999', value: `S1${(15_999).toString(36).toUpperCase()}` });
    expect(pages.at(-1)).toEqual({ op: 'replace', path: '/symbols/0', value: 'S10' });
    expect(new Set(pages.map((operation) => operation.path)).size).toBe(16_000);
  });

  it('counts the patch operations of every field and alias of an answer together: a history page, a write, an event', async () => {
    const history = await t.graphql(`{ configHistory(service: "${service}", first: 2) { edges { node { version patchOperationCount patch(limit: 600) { op } } } } }`);
    expect(history.errors![0]).toMatchObject({ message: expect.stringMatching(/1200 patch operations, more than 1000/), extensions: { code: 'ANSWER_TOO_LARGE' } });
    // The refusal stays in the change it came to: the page before it is answered.
    expect(history.data.configHistory.edges.map((edge: any) => edge.node.patch?.length ?? null)).toEqual([600, null]);
    const fitting = await t.graphql(`{ configHistory(service: "${service}", first: 2) { edges { node { version patchOperationCount patch(limit: 500) { op } } } } }`);
    expect(fitting.errors).toBeUndefined();
    expect(fitting.data.configHistory.edges.map((edge: any) => [edge.node.version, edge.node.patchOperationCount, edge.node.patch.length])).toEqual([
      [7, 16_000, 500],
      [6, 16_000, 500],
    ]);
    const aliases = await t.graphql(`{ configDiff(service: "${service}", fromVersion: 1, toVersion: 3) { ... on ConfigDiff { a: operations(limit: 600) { op } b: operations(offset: 600, limit: 600) { op } } } }`);
    expect(aliases.errors![0]).toMatchObject({ extensions: { code: 'ANSWER_TOO_LARGE' } });
    // A dry run that would replace every symbol: its diff is paged as well.
    const symbols = Array.from({ length: 16_000 }, (_, index) => `D${index}`);
    const write = await t.graphql(`mutation($config: JSON!) { updateConfig(input: { service: "${service}", config: $config, dryRun: true }) {
      ... on ConfigWrite { dryRun diffOperationCount diff(limit: 2) { op path value } } } }`, { config: { symbols } });
    expect(write.errors).toBeUndefined();
    expect(write.data.updateConfig).toEqual({ dryRun: true, diffOperationCount: 16_000, diff: [{ op: 'replace', path: '/symbols/15999', value: 'D15999' }, { op: 'replace', path: '/symbols/15998', value: 'D15998' }] });
  });

  it('refuses an event of a long patch to a subscriber asking for all of it, and sends a page of it to one asking for a page', async () => {
    const client = createClient({ url: `${base.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: adminAuth, retryAttempts: 0 });
    const collect = (query: string) =>
      new Promise<any>((resolve, reject) => {
        const unsubscribe = client.subscribe({ query }, {
          next: (result) => {
            unsubscribe();
            resolve(result);
          },
          error: reject,
          complete: () => undefined,
        });
      });
    try {
      const whole = await collect(`subscription { configChanged(service: "${service}", afterVersion: 1) { version patch { op } } }`);
      expect(whole.errors![0]).toMatchObject({ message: expect.stringMatching(/16000 patch operations, more than 1000/), extensions: { code: 'ANSWER_TOO_LARGE' } });
      const page = await collect(`subscription { configChanged(service: "${service}", afterVersion: 1) { version patchOperationCount patch(offset: 15999, limit: 5) { op path } } }`);
      expect(page.errors).toBeUndefined();
      expect(page.data.configChanged).toEqual({ version: 2, patchOperationCount: 16_000, patch: [{ op: 'replace', path: '/symbols/0' }] });
    } finally {
      await client.dispose();
    }
  });

  it('replays every version to a subscriber resuming from the start, reading a part at a time', async () => {
    const { ConfigSubscriber } = await import('./support/subscriber.ts');
    const subscriber = new ConfigSubscriber(base).subscribe({ service, afterVersion: 0 });
    try {
      const events = await subscriber.waitFor((received) => received.length >= 7);
      expect(events.map((event) => event.version)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    } finally {
      await subscriber.close();
    }
  });
});

describe('a replay of large versions whose revisions gain a digit', () => {
  const t = useTestApp('pglite');

  it('sends every version in order (revisions were once ordered as text: "100" before "97")', async () => {
    const base = await t.app.start();
    // Some 190 KiB a version: a read of the audit log takes two changes at a time.
    const document = (version: number) => ({ settings: Object.fromEntries(Array.from({ length: 8000 }, (_, index) => [`setting_${index}`, `value-${version}-${index}`])) });
    const service = 'replay-across-revisions';
    // Small changes of another config first, so that this config's revisions pass a power of ten.
    const filler = async (value: number) => {
      await t.graphql(`mutation { ${value === 0 ? 'createConfig' : 'updateConfig'}(input: { service: "replay-filler", ${value === 0 ? 'config' : 'patch'}: { n: ${value} } }) { __typename } }`);
      return (await t.graphql(`{ configHistory(service: "replay-filler", first: 1) { edges { node { revision } } } }`)).data.configHistory.edges[0].node.revision as number;
    };
    let revision = await filler(0);
    const boundary = 10 ** String(revision + 4).length;
    for (let value = 1; revision < boundary - 4; value++) revision = await filler(value);
    const created = await t.graphql(`mutation($c: JSON!) { createConfig(input: { service: "${service}", config: $c }) { __typename } }`, { c: document(1) });
    expect(created.data.createConfig.__typename).toBe('ConfigWrite');
    for (let version = 2; version <= 8; version++) {
      const updated = await t.graphql(`mutation($c: JSON) { updateConfig(input: { service: "${service}", config: $c }) { __typename } }`, { c: document(version) });
      expect(updated.data.updateConfig.__typename).toBe('ConfigWrite');
    }
    const { revisions } = (await t.graphql(`{ configHistory(service: "${service}", first: 8) { edges { node { revision } } } }`)).data.configHistory.edges.reduce(
      (found: { revisions: number[] }, edge: any) => ({ revisions: [...found.revisions, edge.node.revision] }),
      { revisions: [] },
    );
    expect(Math.min(...revisions)).toBeLessThan(boundary);
    expect(Math.max(...revisions)).toBeGreaterThanOrEqual(boundary);
    const { ConfigSubscriber } = await import('./support/subscriber.ts');
    const subscriber = new ConfigSubscriber(base).subscribe({ service, afterVersion: 0 });
    try {
      const events = await subscriber.waitFor((received) => received.length >= 8);
      expect(events.map((event) => event.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(events[7]!.config).toEqual(document(8));
    } finally {
      await subscriber.close();
    }
  });
});
