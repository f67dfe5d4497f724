// npm run bench:write-ab: two versions of the gateway compared on the write path of bench:write, in
// short alternating bursts, which on a shared machine tells a change of a few per cent from the noise
// that moves a whole bench:write run by a fifth. One PostgreSQL server (fsync on), one database per
// version with the same 100 configs, both gateways running the whole time; then pairs of bursts, one
// per version, in alternating order, each after a VACUUM and CHECKPOINT of its database. Each burst:
// 8 writers, updates/s, CPU per update of the gateway and of PostgreSQL, writes per statement.
// Settings: BENCH_AB (required: `name:/path/to/checkout,name:/path/to/checkout`, each with node_modules
// and src/generated, e.g. `git worktree add` plus a symlink), BENCH_AB_ENV_<name> (`K=V;K=V`, or node
// options starting with `--`, for that version's process), BENCH_PAIRS (10), BENCH_SECONDS (4),
// BENCH_WRITERS (8).
import type pg from 'pg';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { benchAuth } from './support/auth.ts';
import { GRAPHQL_PATH, createBenchConfigs, isWrite, nextUpdateBody, writeCounters } from './support/benchConfigs.ts';
import { type ForkedChild, forkChild, gatewayNodeFlags } from './support/children.ts';
import { onCleanup, runBenchmark } from './support/cleanup.ts';
import { cpuMillisecondsOf, treeCpuMillisecondsOf } from './support/cpu.ts';
import { runClosedLoop } from './support/httpLoad.ts';
import { createDatabase, startPostgres } from './support/postgres.ts';
import { describeMachine, intSetting, median, ratio } from './support/stats.ts';

const settings = {
  pairs: intSetting('BENCH_PAIRS', 10, 1, 100),
  seconds: intSetting('BENCH_SECONDS', 4, 1, 60),
  writers: intSetting('BENCH_WRITERS', 8, 1, 64),
};

interface Version {
  name: string;
  tree: string;
  gateway: ForkedChild;
  db: pg.Client;
}

interface Burst {
  updatesPerSecond: number;
  /** CPU per update, µs. */
  gateway: number;
  postgres: number;
  writesPerStatement: number;
}

function versionsAsked(): { name: string; tree: string }[] {
  const asked = (process.env.BENCH_AB ?? '').split(',').filter(Boolean).map((entry) => {
    const at = entry.indexOf(':');
    return { name: entry.slice(0, at), tree: entry.slice(at + 1) };
  });
  if (asked.length !== 2 || asked.some(({ name, tree }) => !/^[a-z0-9_]+$/i.test(name) || !tree)) {
    throw new Error('set BENCH_AB=name:/path/to/checkout,name:/path/to/checkout (two versions)');
  }
  return asked;
}

function environmentOf(name: string): Record<string, string> {
  const value = process.env[`BENCH_AB_ENV_${name}`];
  if (!value) return {};
  if (value.startsWith('--')) return { NODE_OPTIONS: value };
  return Object.fromEntries(value.split(';').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
}

const load = (gateway: ForkedChild, seconds: number) =>
  runClosedLoop({ url: gateway.url, path: GRAPHQL_PATH, headers: benchAuth, connections: settings.writers, seconds, verifyBody: isWrite, nextBody: nextUpdateBody });

async function writeCountersOf(gateway: ForkedChild): Promise<{ statements: number; rows: number }> {
  const counters = await writeCounters(gateway);
  if (!counters) throw new Error(`${gateway.name} has no group-commit counters on /metrics (a checkout older than 04defd4)`);
  return counters;
}

async function burst(version: Version, postmaster: number): Promise<Burst> {
  await version.db.query('VACUUM (ANALYZE) service_configs, config_audit_log, config_outbox');
  await version.db.query('CHECKPOINT');
  const counters = await writeCountersOf(version.gateway);
  const gatewayCpu = cpuMillisecondsOf(version.gateway.pid) ?? Number.NaN;
  const postgresCpu = treeCpuMillisecondsOf(postmaster) ?? Number.NaN;
  const result = await load(version.gateway, settings.seconds);
  const after = await writeCountersOf(version.gateway);
  if (result.failed > 0) console.warn(`  ${version.name}: ${result.failed} updates failed or were not written`);
  const per = (ms: number) => (ms * 1000) / result.succeeded;
  return {
    updatesPerSecond: result.requestsPerSecond,
    gateway: per((cpuMillisecondsOf(version.gateway.pid) ?? Number.NaN) - gatewayCpu),
    postgres: per((treeCpuMillisecondsOf(postmaster) ?? Number.NaN) - postgresCpu),
    writesPerStatement: (after.rows - counters.rows) / (after.statements - counters.statements),
  };
}

const describe = (burst: Burst) =>
  `${Math.round(burst.updatesPerSecond)}/s, CPU/update gateway ${Math.round(burst.gateway)} µs, PostgreSQL ${Math.round(burst.postgres)} µs, ${burst.writesPerStatement.toFixed(1)} writes/statement`;

async function compare(): Promise<void> {
  console.log(`bench:write-ab  ${describeMachine()}`);
  const server = await startPostgres(['-c', 'max_connections=100', '-c', 'fsync=on']);
  const postmaster = server.pid();
  if (postmaster === undefined) throw new Error('the PostgreSQL server has no process id');
  // Logs into files, as bench:write does: read through a pipe they would cost the load generator CPU.
  const logs = mkdtempSync(path.join(tmpdir(), 'confighub-write-ab-'));
  onCleanup(`gateway logs ${logs}`, () => rmSync(logs, { recursive: true, force: true }));
  const versions: Version[] = [];
  for (const { name, tree } of versionsAsked()) {
    const db = await createDatabase(server, `confighub_ab_${name.toLowerCase()}`);
    const gateway = await forkChild(name, `${tree}/bench/servers/gateway.ts`, {
      env: { BENCH_DATABASE_URL: server.urlOf(`confighub_ab_${name.toLowerCase()}`), ...environmentOf(name) },
      logFile: path.join(logs, `${name}.log`),
      execArgv: gatewayNodeFlags(),
    });
    await createBenchConfigs(gateway);
    await load(gateway, 3); // warm-up
    versions.push({ name, tree, gateway, db });
  }
  console.log(`${settings.pairs} pairs of ${settings.seconds} s bursts, ${settings.writers} writers: ${versions.map((v) => `${v.name} = ${v.tree}`).join(', ')}\n`);
  const bursts = new Map<string, Burst[]>(versions.map((version) => [version.name, []]));
  for (let pair = 0; pair < settings.pairs; pair++) {
    for (const version of pair % 2 === 0 ? versions : [...versions].reverse()) {
      bursts.get(version.name)!.push(await burst(version, postmaster));
      await setTimeout(500);
    }
    console.log(`pair ${String(pair + 1).padStart(2)}: ${versions.map((version) => `${version.name} ${describe(bursts.get(version.name)!.at(-1)!)}`).join(' | ')}`);
  }
  const [a, b] = versions.map((version) => bursts.get(version.name)!) as [Burst[], Burst[]];
  console.log('\nmedians:');
  for (const version of versions) {
    const all = bursts.get(version.name)!;
    const of = (pick: (burst: Burst) => number) => median(all.map(pick));
    console.log(`  ${version.name}: ${describe({ updatesPerSecond: of((x) => x.updatesPerSecond), gateway: of((x) => x.gateway), postgres: of((x) => x.postgres), writesPerStatement: of((x) => x.writesPerStatement) })}`);
  }
  const rates = a.map((burst, i) => b[i]!.updatesPerSecond / burst.updatesPerSecond);
  const cpu = a.map((burst, i) => (b[i]!.gateway + b[i]!.postgres) / (burst.gateway + burst.postgres));
  console.log(`\n${versions[1]!.name} / ${versions[0]!.name}, pair by pair: updates/s ${rates.map((r) => r.toFixed(2)).join(' ')}`);
  console.log(`  CPU per update (gateway + PostgreSQL) ${cpu.map((r) => r.toFixed(2)).join(' ')}`);
  console.log(`  median: updates/s ${ratio(median(rates))}, CPU per update ${ratio(median(cpu))}; faster in ${rates.filter((r) => r > 1).length} of ${rates.length} pairs`);
}

await runBenchmark('bench:write-ab', 120 + settings.pairs * 2 * (settings.seconds + 10) + 120, compare);
