// The write benchmark's baseline: the audited update as plain SQL on the same server, with no gateway.
// One transaction: the author as transaction-local settings (what the audit trigger reads), then an
// UPDATE of one config that fires the version and audit triggers. pgbench when installed, else `pg`.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { onCleanup } from './cleanup.ts';
import type { PostgresServer } from './postgres.ts';

export interface RawSqlResult {
  transactionsPerSecond: number;
  transactions: number;
  failed: number;
  averageLatencyMs: number;
  seconds: number;
}

export interface RawSqlRunner {
  /** What runs the transactions, for the report. */
  tool: string;
  run(seconds: number): Promise<RawSqlResult>;
}

export interface RawSqlTarget {
  server: PostgresServer;
  database: string;
  clients: number;
  /** Configs bench-svc-1 .. bench-svc-N (production) exist. */
  configCount: number;
  servicePrefix: string;
  reason: string;
}

/** The actor pgbench and the pg loop record in the audit log. */
const RAW_ACTOR = 'raw-sql';
/** No pgbench run outlives its duration by more than this; no pg query waits longer. */
const OVERRUN_MS = 30_000;
/** A bound on the pg loop: no more transactions per client than this. */
const MAX_TRANSACTIONS_PER_CLIENT = 10_000_000;

export function findPgbench(): string | undefined {
  const candidates = ['/usr/bin/pgbench'];
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort().reverse() : [];
  for (const version of versions) candidates.push(`/usr/lib/postgresql/${version}/bin/pgbench`);
  return candidates.find((candidate) => existsSync(candidate));
}

export function rawSqlRunner(target: RawSqlTarget): RawSqlRunner {
  const pgbench = findPgbench();
  return pgbench ? pgbenchRunner(pgbench, target) : pgLoopRunner(target);
}

/** The pgbench script: one audited update of a random config, in one transaction. */
export function pgbenchScript(target: RawSqlTarget): string {
  return `\\set id random(1, ${target.configCount})
\\set counter random(1, 1000000000)
BEGIN;
SELECT set_config('confighub.actor', '${RAW_ACTOR}', true), set_config('confighub.reason', '${target.reason}', true), set_config('confighub.action', 'UPDATE', true);
UPDATE service_configs SET config = config || jsonb_build_object('counter', :counter) WHERE service_name = '${target.servicePrefix}' || :id AND environment = 'production';
END;
`;
}

function pgbenchRunner(binary: string, target: RawSqlTarget): RawSqlRunner {
  const scriptFile = path.join(target.server.workDir, 'audited-update.pgbench');
  writeFileSync(scriptFile, pgbenchScript(target));
  return {
    tool: `pgbench (${binary}, ${target.clients} clients, 2 threads, simple protocol, script ${path.basename(scriptFile)})`,
    async run(seconds) {
      const args = ['-n', '-c', String(target.clients), '-j', '2', '-T', String(seconds), '-f', scriptFile];
      args.push('-h', target.server.host, '-p', String(target.server.port), '-U', target.server.user, target.database);
      const output = await runToCompletion(binary, args, { PGPASSWORD: target.server.password }, seconds * 1000 + OVERRUN_MS);
      return parsePgbenchOutput(output);
    },
  };
}

export function parsePgbenchOutput(output: string): RawSqlResult {
  const number = (pattern: RegExp) => {
    const match = pattern.exec(output);
    return match ? Number(match[1]) : Number.NaN;
  };
  const result = {
    transactionsPerSecond: number(/tps = ([\d.]+) \(without initial connection time\)/),
    transactions: number(/number of transactions actually processed: (\d+)/),
    failed: number(/number of failed transactions: (\d+)/) || 0,
    averageLatencyMs: number(/latency average = ([\d.]+) ms/),
    seconds: number(/duration: (\d+) s/),
  };
  if (Number.isNaN(result.transactionsPerSecond)) throw new Error(`could not read pgbench's output:\n${output}`);
  return result;
}

/** Runs a command to its end within `timeoutMs` (then kills it); resolves with stdout, rejects on failure. */
function runToCompletion(command: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const kill = () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    };
    const forget = onCleanup(`${path.basename(command)} (pid ${child.pid})`, kill, kill);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      void forget();
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      void forget();
      if (code === 0) resolve(`${stdout}\n${stderr}`);
      else reject(new Error(`${command} ${args.join(' ')} ended with ${code ?? signal}:\n${stderr}${stdout}`));
    });
  });
}

/** Without pgbench: the same transaction from `clients` node-postgres connections, each in its own loop. */
function pgLoopRunner(target: RawSqlTarget): RawSqlRunner {
  return {
    tool: `node pg loop (pgbench not found; ${target.clients} clients, one connection each, parameterized statements)`,
    async run(seconds) {
      const clients = await Promise.all(
        Array.from({ length: target.clients }, async () => {
          const client = new pg.Client({ connectionString: target.server.urlOf(target.database), query_timeout: OVERRUN_MS });
          client.on('error', () => {}); // the loop sees the failed query
          await client.connect();
          return client;
        }),
      );
      try {
        const started = performance.now();
        const deadline = started + seconds * 1000;
        const counts = await Promise.all(clients.map((client) => auditedUpdateLoop(client, target, deadline)));
        const elapsedSeconds = (performance.now() - started) / 1000;
        const transactions = counts.reduce((sum, count) => sum + count.done, 0);
        return {
          transactionsPerSecond: transactions / elapsedSeconds,
          transactions,
          failed: counts.reduce((sum, count) => sum + count.failed, 0),
          averageLatencyMs: (elapsedSeconds * 1000 * target.clients) / Math.max(1, transactions),
          seconds: elapsedSeconds,
        };
      } finally {
        await Promise.all(clients.map((client) => client.end().catch(() => {})));
      }
    },
  };
}

async function auditedUpdateLoop(client: pg.Client, target: RawSqlTarget, deadline: number) {
  let done = 0;
  let failed = 0;
  while (performance.now() < deadline && done + failed < MAX_TRANSACTIONS_PER_CLIENT) {
    const id = 1 + Math.floor(Math.random() * target.configCount);
    const counter = 1 + Math.floor(Math.random() * 1_000_000_000);
    try {
      await client.query('BEGIN');
      await client.query(
        `SELECT set_config('confighub.actor', $1, true), set_config('confighub.reason', $2, true), set_config('confighub.action', 'UPDATE', true)`,
        [RAW_ACTOR, target.reason],
      );
      await client.query(
        `UPDATE service_configs SET config = config || jsonb_build_object('counter', $1::int) WHERE service_name = $2 AND environment = 'production'`,
        [counter, `${target.servicePrefix}${id}`],
      );
      await client.query('COMMIT');
      done++;
    } catch {
      failed++;
      await client.query('ROLLBACK').catch(() => {});
    }
  }
  return { done, failed };
}
