// The fast paths against the stock path. Two gateways on two databases in the same state: one with
// CONFIGHUB_FAST_PATHS=on (the direct POST path, server/graphql/post.ts, and the subscription
// broadcaster, server/graphql/broadcast.ts), one with it off (every operation through stock yoga and
// graphql-ws). Generated operations over the whole schema (test/support/operationArbitrary.ts), each
// run with several variable sets and a caller, must get the same answer from both: status, media type,
// `data` and `errors` over HTTP; the same messages over graphql-ws. `npm run fuzz` runs it for longer.
import { createHash } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { type DefinitionNode, Kind, buildASTSchema, buildSchema, parse } from 'graphql';
import { PURE_FIELDS } from '../src/server/graphql/answers.ts';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GeneratedOperation, defaultDomainValues, operationArbitrary } from './support/operationArbitrary.ts';
import { TEST_ADMIN_TOKEN, createTestApp, type TestApp } from './support/app.ts';
import { openTestDatabase } from './support/databases.ts';

const schema = buildSchema(readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8'));
/** `npm run fuzz` sets a time budget; `npm test` runs a fixed number of operations. */
const FUZZ_SECONDS = Number(process.env.CONFIGHUB_FUZZ_SECONDS ?? 0);
const RUNS = FUZZ_SECONDS > 0 ? Number.MAX_SAFE_INTEGER : Number(process.env.CONFIGHUB_DIFFERENTIAL_RUNS ?? 200);
const SEED = process.env.CONFIGHUB_DIFFERENTIAL_SEED ? Number(process.env.CONFIGHUB_DIFFERENTIAL_SEED) : undefined;

/**
 * The schema cut down to the reads whose answers the fast gateway keeps (server/graphql/answers.ts):
 * operations over it are the ones answered from kept answers when asked again.
 */
function keptAnswerSchema() {
  const document = parse(readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8'));
  const definitions = document.definitions.flatMap((definition): DefinitionNode[] => {
    if (definition.kind !== Kind.OBJECT_TYPE_DEFINITION) return [definition];
    if (definition.name.value === 'Mutation' || definition.name.value === 'Subscription') return [];
    const pure = PURE_FIELDS[definition.name.value];
    return [pure ? { ...definition, fields: definition.fields?.filter((field) => pure.has(field.name.value)) } : definition];
  });
  return buildASTSchema({ ...document, definitions });
}

/** Services whose configs are changed in SQL now and then (the pilot configs). */
const SQL_CHANGED_SERVICES = ['polygon-historical-downloader', 'polygon-live-collector', 'tick-aggregator'];

/** How many of the latest reads answered from a kept answer are asked again after each change. */
const KEPT_READS_ASKED_AGAIN = 12;

/** Callers, with fixed secrets so that both databases know the same tokens. */
const CALLERS = {
  admin: TEST_ADMIN_TOKEN,
  reader: 'chub_differential-reader-of-polygon-services-xxxxxxxx',
  editor: 'chub_differential-editor-of-every-service-xxxxxxxxxxxx',
  unknown: 'chub_differential-token-no-database-knows-xxxxxxxxxxxx',
  none: null,
} as const;
type Caller = keyof typeof CALLERS;

/** Accept headers a client sends: the fast path answers some and hands the rest to yoga. */
const ACCEPTS = [undefined, '*/*', 'application/json', 'application/graphql-response+json', 'application/graphql-response+json, application/json;q=0.9'];

/** Makes the reader and the editor in a database, as the hub would, with the secrets above. */
async function addCallers(t: TestApp): Promise<void> {
  await t.db.session(async (sql) => {
    for (const [name, role, services] of [
      ['diff-caller-reader', 'reader', ['polygon-*']],
      ['diff-caller-editor', 'editor', null],
    ] as const) {
      const token = CALLERS[name === 'diff-caller-reader' ? 'reader' : 'editor'];
      await sql.query(`INSERT INTO api_tokens (name, prefix, token_hash, role, services, created_by) VALUES ($1, $2, $3, $4, $5, 'differential')`, [
        name,
        token.slice(0, 12),
        createHash('sha256').update(token).digest(),
        role,
        services,
      ]);
    }
  });
}

const ISO_TIME = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g;
/** A token made by createToken, and the visible prefix of one: random. */
const NEW_TOKEN = /^chub_([A-Za-z0-9_-]{43}|[A-Za-z0-9_-]{7})$/;
/** Fields (or their aliases, `name_2`) whose value depends on the clock, not on the path that answered. */
const VOLATILE_KEYS = new Set(['lastUsedAt']);

/**
 * An answer with what the clock and chance decide taken out. That includes the order of `errors`: the
 * GraphQL spec gives it none, and the executor lists them as they happen (items of a list in the order
 * their reads end).
 */
function normalize(value: unknown, key?: string): unknown {
  if (key !== undefined && VOLATILE_KEYS.has(key.replace(/_\d+$/, ''))) return '<volatile>';
  if (typeof value === 'string') return NEW_TOKEN.test(value) ? '<random>' : value.replace(ISO_TIME, '<time>');
  if (key === 'errors' && Array.isArray(value)) {
    return value.map((item) => normalize(item)).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  }
  if (Array.isArray(value)) return value.map((item) => normalize(item));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v, k)]));
  return value;
}

interface HttpAnswer {
  status: number;
  contentType: string | null;
  body: unknown;
}

async function postOperation(base: string, operation: GeneratedOperation, variables: Record<string, unknown>, caller: Caller, accept: string | undefined): Promise<HttpAnswer> {
  const token = CALLERS[caller];
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(accept === undefined ? {} : { accept }),
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify({ query: operation.query, variables, operationName: operation.operationName }),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // compared as text
  }
  return { status: response.status, contentType: response.headers.get('content-type'), body: normalize(body) };
}

/** One graphql-ws socket that subscribes and records every message about its operation. */
class Subscription {
  readonly messages: unknown[] = [];
  private readonly socket: WebSocket;
  readonly ready: Promise<void>;

  constructor(base: string, operation: GeneratedOperation, variables: Record<string, unknown>, caller: Caller) {
    const token = CALLERS[caller];
    this.socket = new WebSocket(`${base.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    this.ready = new Promise((resolve) => {
      this.socket.on('open', () => this.socket.send(JSON.stringify({ type: 'connection_init', payload: token === null ? {} : { authorization: `Bearer ${token}` } })));
      this.socket.on('message', (data) => {
        const message = JSON.parse(String(data)) as { type: string; payload?: unknown };
        if (message.type === 'connection_ack') {
          this.socket.send(JSON.stringify({ id: 'op', type: 'subscribe', payload: { query: operation.query, variables, operationName: operation.operationName } }));
          resolve();
        } else if (message.type !== 'ping' && message.type !== 'pong') {
          this.messages.push(normalize(message));
        }
      });
      this.socket.on('error', () => {});
      this.socket.on('close', (code) => {
        this.messages.push({ closed: code });
        resolve();
      });
    });
  }

  /** Whether the operation ended (refused, completed) or the socket closed. */
  finished(): boolean {
    return this.messages.some((message) => {
      const { type, closed } = message as { type?: string; closed?: number };
      return type === 'error' || type === 'complete' || closed !== undefined;
    });
  }

  close(): void {
    this.socket.close();
  }
}

/** Resolves once `probe` has given the same answer for 200 ms (3 s at most). */
async function settled(probe: () => string): Promise<void> {
  const deadline = Date.now() + 3_000;
  let last = probe();
  let since = Date.now();
  while (Date.now() < deadline && Date.now() - since < 200) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const now = probe();
    if (now !== last) {
      last = now;
      since = Date.now();
    }
  }
}

describe('the fast paths answer as stock yoga and graphql-ws do', () => {
  let fast: TestApp;
  let stock: TestApp;
  let fastUrl: string;
  let stockUrl: string;
  /** The change made to every pilot config to set subscriptions going. */
  let tick = 0;

  beforeAll(async () => {
    const settings = { CONFIGHUB_MAX_SOCKETS_PER_ADDRESS: 10_000 };
    // Two databases copied from one template: the same rows, ids and sequences.
    fast = await createTestApp('postgres', { database: await openTestDatabase('postgres'), settings: { ...settings, CONFIGHUB_FAST_PATHS: 'on' }, authFailureLimit: 1_000_000 });
    stock = await createTestApp('postgres', { database: await openTestDatabase('postgres'), settings: { ...settings, CONFIGHUB_FAST_PATHS: 'off' }, authFailureLimit: 1_000_000 });
    for (const t of [fast, stock]) await addCallers(t);
    [fastUrl, stockUrl] = await Promise.all([fast.app.start(), stock.app.start()]);
  });
  afterAll(async () => {
    for (const t of [fast, stock]) {
      await t?.close();
      await t?.db.close();
    }
  });

  /**
   * Every variable set of a query or mutation over HTTP, on both gateways in turn (the same order of
   * writes). A query is asked of the fast gateway twice: the second answer may be one it kept
   * (server/graphql/answers.ts), and must still be stock yoga's.
   */
  async function compareOverHttp(operation: GeneratedOperation, caller: Caller, accept: string | undefined): Promise<void> {
    for (const [index, variables] of operation.variableSets.entries()) {
      const fromFast = await postOperation(fastUrl, operation, variables, caller, accept);
      const fromStock = await postOperation(stockUrl, operation, variables, caller, accept);
      expect(fromFast, `variable set ${index}: ${JSON.stringify(variables)}`).toEqual(fromStock);
      if (operation.kind === 'query') {
        const served = fast.app.keptAnswerCount();
        const again = await postOperation(fastUrl, operation, variables, caller, accept);
        expect(again, `variable set ${index}, asked again: ${JSON.stringify(variables)}`).toEqual(fromStock);
        if (fast.app.keptAnswerCount() > served) keptReads = [{ operation, variables, caller, accept }, ...keptReads.slice(0, KEPT_READS_ASKED_AGAIN - 1)];
      }
    }
    if (operation.kind === 'mutation') await askKeptReadsAgain();
  }

  /** The latest reads the fast gateway answered from a kept answer: asked again after every change. */
  let keptReads: { operation: GeneratedOperation; variables: Record<string, unknown>; caller: Caller; accept: string | undefined }[] = [];

  /** After a change: each read whose answer the fast gateway kept still gets stock yoga's answer. */
  async function askKeptReadsAgain(): Promise<void> {
    for (const { operation, variables, caller, accept } of keptReads) {
      const fromFast = await postOperation(fastUrl, operation, variables, caller, accept);
      const fromStock = await postOperation(stockUrl, operation, variables, caller, accept);
      expect(fromFast, `a kept read after a change, ${JSON.stringify(variables)}:\n${operation.query}`).toEqual(fromStock);
    }
  }

  /**
   * Every variable set of a subscription, subscribed on both gateways (twice on the fast one, whose
   * broadcaster serves identical subscriptions as one), then one change of every pilot config on both:
   * each socket must have received the same messages.
   */
  async function compareSubscriptions(operation: GeneratedOperation, caller: Caller): Promise<void> {
    // What earlier operations changed has reached both feeds: none of it may arrive after the sockets subscribe.
    await expect.poll(async () => (await fast.app.relay.backlog()).count + (await stock.app.relay.backlog()).count, { timeout: 10_000, interval: 20 }).toBe(0);
    await settled(() => `${fast.app.feed.deliveredCount}/${stock.app.feed.deliveredCount}`);
    const opened = operation.variableSets.map((variables) => ({
      fast: [new Subscription(fastUrl, operation, variables, caller), new Subscription(fastUrl, operation, variables, caller)],
      stock: new Subscription(stockUrl, operation, variables, caller),
    }));
    const all = opened.flatMap((set) => [...set.fast, set.stock]);
    try {
      await Promise.all(all.map((subscription) => subscription.ready));
      // Every subscription is listening (or was refused) on both before anything changes: each gateway has
      // as many as were not refused (on the fast one, members of the broadcaster's groups; a socket that
      // joins a group does not add to the feed's count), and the counts have held still for a while.
      const active = (subscriptions: Subscription[]) => subscriptions.filter((subscription) => !subscription.finished()).length;
      await expect
        .poll(
          () =>
            fast.app.webSocketSubscriptionCount() === active(opened.flatMap((set) => set.fast)) &&
            // Each group's one subscription to the feed is in place (a group counts from its first member on).
            fast.app.feed.openSubscriptions === fast.app.subscriptionGroupCount() &&
            stock.app.feed.openSubscriptions === active(opened.map((set) => set.stock)),
          { timeout: 10_000, interval: 20 },
        )
        .toBe(true);
      await settled(() => `${fast.app.webSocketSubscriptionCount()}/${fast.app.feed.openSubscriptions}/${stock.app.feed.openSubscriptions}`);
      tick++;
      // What each feed must deliver: the changes made (a generated schema may refuse them).
      const expected = [fast, stock].map((t) => t.app.feed.deliveredCount);
      for (const [index, t] of [fast, stock].entries()) {
        for (const service of ['polygon-historical-downloader', 'polygon-live-collector', 'tick-aggregator']) {
          const { data } = await t.graphql(
            `mutation($service: String!, $tick: Int!) { updateConfig(input: { service: $service, patch: { differential_tick: $tick } }) { ... on ConfigWrite { changed } } }`,
            { service, tick },
          );
          if (data?.updateConfig?.changed) expected[index]!++;
        }
      }
      // Both feeds have their changes, and what the sockets received has held still: on a busy machine one
      // gateway can be seconds behind the other, and a comparison made then would compare the machine.
      await expect.poll(() => [fast, stock].every((t, index) => t.app.feed.deliveredCount >= expected[index]!), { timeout: 10_000, interval: 20 }).toBe(true);
      await settled(() => all.map((subscription) => subscription.messages.length).join(','));
      for (const [index, set] of opened.entries()) {
        for (const one of set.fast) expect(one.messages, `variable set ${index}: ${JSON.stringify(operation.variableSets[index])}`).toEqual(set.stock.messages);
      }
    } finally {
      for (const subscription of all) subscription.close();
    }
  }

  /**
   * A change of a service's production config made in SQL on both databases, as psql would; returns once
   * neither gateway's cache serves an older version (each learns of it from PostgreSQL, not from a write
   * of its own).
   */
  async function changeInSql(service: string): Promise<void> {
    tick++;
    for (const t of [fast, stock]) {
      const [row] = await t.db.session((sql) =>
        sql.query<{ version: number }>(
          `UPDATE service_configs SET config = config || jsonb_build_object('differential_sql', $2::int) WHERE service_name = $1 AND environment = 'production' RETURNING version`,
          [service, tick],
        ),
      );
      if (!row) continue;
      const key = { service, environment: 'production' };
      await expect.poll(() => (t.app.store.cache.get(key)?.version ?? row.version) >= row.version, { timeout: 10_000, interval: 10 }).toBe(true);
    }
    await askKeptReadsAgain();
  }

  it(
    FUZZ_SECONDS > 0 ? `for ${FUZZ_SECONDS} s of generated operations` : `for ${RUNS} generated operations`,
    async () => {
      const values = defaultDomainValues;
      const property = fc.asyncProperty(
        fc.oneof(
          { weight: 19, arbitrary: operationArbitrary(schema, values, { kinds: ['query', 'mutation'] }) },
          { weight: 1, arbitrary: operationArbitrary(schema, values, { kinds: ['subscription'] }) },
          // Reads whose answers the fast gateway keeps, and changes made behind both gateways' backs.
          { weight: 6, arbitrary: operationArbitrary(keptAnswerSchema(), values, { kinds: ['query'] }) },
          { weight: 2, arbitrary: fc.constantFrom(...SQL_CHANGED_SERVICES) },
        ),
        fc.constantFrom<Caller>('admin', 'admin', 'admin', 'admin', 'admin', 'editor', 'reader', 'none', 'unknown'),
        fc.constantFrom(...ACCEPTS),
        async (operation, caller, accept) => {
          if (process.env.CONFIGHUB_DIFFERENTIAL_TRACE) appendFileSync(process.env.CONFIGHUB_DIFFERENTIAL_TRACE, `${JSON.stringify({ operation, caller, accept })}\n`);
          if (typeof operation === 'string') await changeInSql(operation);
          else if (operation.kind === 'subscription') await compareSubscriptions(operation, caller);
          else await compareOverHttp(operation, caller, accept);
        },
      );
      await fc.assert(property, {
        numRuns: RUNS,
        seed: SEED,
        ...(FUZZ_SECONDS > 0 ? { interruptAfterTimeLimit: FUZZ_SECONDS * 1000, markInterruptAsFailure: false } : {}),
        // No shrinking: a case replayed runs on a database the earlier cases changed, so a smaller one
        // says little; the case as it failed, with its variable sets, is reported.
        endOnFailure: true,
        verbose: 1,
      });
      // The kept answers were really served, not only offered.
      expect(fast.app.keptAnswerCount()).toBeGreaterThan(0);
    },
    FUZZ_SECONDS > 0 ? FUZZ_SECONDS * 1000 + 120_000 : 600_000,
  );
});
