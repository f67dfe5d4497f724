// npm run bench:start: how long the embedded default takes to answer /ready and how much memory it then
// holds. A first start (a new data directory) and restarts (the same one), each several times, for the
// gateway as `npm start` runs it (compiled JavaScript) and, in the same run, for the same sources through
// tsx (as `npm run dev`, and as `npm start` did before it ran compiled code) and a bare Node.js HTTP
// server (the floor: what any Node.js service pays to start). Goals (issue 17): first start <= 2 s,
// restart <= 1 s, idle resident memory <= 250 MiB.
// Then the `confighub` command as an outside project installs it (@confighub/cli packed and installed
// offline into a temporary project), against the same command through tsx in this checkout and a bare
// `node -e ''` (goal: under 300 ms a call).
// Settings (environment): BENCH_RUNS (3 of each), BENCH_IDLE_SECONDS (3: idle time before memory is read).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { installOffline, pack } from '../test/support/packages.ts';
import { gatewayNodeFlags } from './support/children.ts';
import { runBenchmark } from './support/cleanup.ts';
import { describeMachine, intSetting, median, ratio, table } from './support/stats.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RUNS = intSetting('BENCH_RUNS', 3, 1, 20);
const IDLE_SECONDS = intSetting('BENCH_IDLE_SECONDS', 3, 0, 60);
const PORT = 4790;

interface Variant {
  name: string;
  args: string[];
  /** Has a data directory (the gateway); the floor has none. */
  gateway: boolean;
}

const FLOOR_SERVER = `require('node:http').createServer((q, s) => s.end('ok')).listen(${PORT}, '127.0.0.1')`;
const variants: Variant[] = [
  { name: 'gateway, compiled (npm start)', args: [...gatewayNodeFlags(), 'dist/main.js'], gateway: true },
  { name: 'gateway, through tsx (npm run dev)', args: [...gatewayNodeFlags(), '--import', 'tsx', 'src/main.ts'], gateway: true },
  { name: 'bare Node.js HTTP server (floor)', args: ['-e', FLOOR_SERVER], gateway: false },
];

interface Start {
  readyMs: number;
  rssMiB: number;
  peakMiB: number;
  /** The gateway's own account of its start (the `startMs` of its `confighub listening` log line). */
  phases?: Record<string, number>;
  /** The gateway's JavaScript heap and memory outside it (PGlite's WebAssembly memory, buffers), from /metrics, in MiB. */
  heapMiB?: number;
  externalMiB?: number;
}

/** Memory figures of a running process, in MiB (VmRSS now, VmHWM its peak). */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Starts the variant; resolves once /ready (the floor: any answer) says 200, with the time that took. */
async function startOnce(variant: Variant, dataDir: string | undefined): Promise<Start> {
  const started = performance.now();
  const child = spawn(process.execPath, variant.args, {
    cwd: ROOT,
    env: { ...process.env, PORT: String(PORT), HOST: '127.0.0.1', LOG_LEVEL: 'info', ...(dataDir ? { CONFIGHUB_DATA_DIR: dataDir } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  try {
    const url = `http://127.0.0.1:${PORT}${variant.gateway ? '/ready' : '/'}`;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${variant.name} exited with ${child.exitCode}: ${stderr}`);
      const ok = await fetch(url).then((response) => response.ok, () => false);
      if (ok) break;
      await sleep(5);
    }
    const readyMs = performance.now() - started;
    await sleep(IDLE_SECONDS * 1000);
    const memory = memoryOf(child.pid!);
    const start: Start = { readyMs, rssMiB: memory.rss, peakMiB: memory.peak };
    if (!variant.gateway) return start;
    const listening = stdout.split('\n').find((line) => line.includes('"confighub listening"'));
    start.phases = listening ? (JSON.parse(listening) as { startMs?: Record<string, number> }).startMs : undefined;
    const metrics = await (await fetch(`http://127.0.0.1:${PORT}/metrics`)).text();
    const metric = (name: string) => Number(new RegExp(`^confighub_process_${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN) / 2 ** 20;
    start.heapMiB = metric('nodejs_heap_size_total_bytes');
    start.externalMiB = metric('nodejs_external_memory_bytes');
    return start;
  } finally {
    await stop(child);
  }
}

async function measure(variant: Variant): Promise<{ first: Start[]; restart: Start[] }> {
  const first: Start[] = [];
  const restart: Start[] = [];
  for (let run = 0; run < RUNS; run++) {
    const dataDir = variant.gateway ? mkdtempSync(path.join(tmpdir(), 'confighub-bench-start-')) : undefined;
    try {
      first.push(await startOnce(variant, dataDir));
      restart.push(await startOnce(variant, dataDir));
    } finally {
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    }
  }
  return { first, restart };
}

const row = (name: string, starts: Start[]) => [
  name,
  `${Math.round(median(starts.map((start) => start.readyMs)))} ms`,
  `${Math.round(Math.min(...starts.map((start) => start.readyMs)))}-${Math.round(Math.max(...starts.map((start) => start.readyMs)))} ms`,
  `${Math.round(median(starts.map((start) => start.rssMiB)))} MiB`,
  `${Math.round(median(starts.map((start) => start.peakMiB)))} MiB`,
];

/** Wall time of one run of a command, in milliseconds. */
function timeCommand(command: string[], cwd: string): number {
  const started = performance.now();
  execFileSync(command[0]!, command.slice(1), { cwd, stdio: 'ignore' });
  return performance.now() - started;
}

/** The installed CLI against the checkout's and a bare Node.js, `--version` and `help get`, 5 runs each after one. */
async function measureCli(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'confighub-bench-cli-'));
  try {
    const packs = path.join(work, 'packs');
    const project = path.join(work, 'project');
    execFileSync('mkdir', ['-p', packs, project]);
    await installOffline(project, [await pack('client', packs), await pack('cli', packs)]);
    const installed = path.join(project, 'node_modules', '.bin', 'confighub');
    const commands: [string, string[]][] = [
      ['installed confighub --version', [installed, '--version']],
      ['installed confighub help get', [installed, 'help', 'get']],
      ['checkout (tsx) confighub --version', [process.execPath, path.join(ROOT, 'bin', 'confighub.mjs'), '--version']],
      ["bare node -e '' (floor)", [process.execPath, '-e', '']],
    ];
    const rows = commands.map(([name, command]) => {
      timeCommand(command, project);
      const times = Array.from({ length: 5 }, () => timeCommand(command, project));
      return [name, `${Math.round(median(times))} ms`, `${Math.round(Math.min(...times))}-${Math.round(Math.max(...times))} ms`];
    });
    console.log(`\n${table(['command', 'wall (median of 5)', 'range'], rows)}`);
    const installedMs = Number.parseInt(rows[0]![1]!, 10);
    console.log(`goal CLI call: ${installedMs} ms (goal < 300 ms) ${installedMs < 300 ? 'met' : 'NOT met'}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The compiled gateway's own account of its starts (median of each phase) and of its idle memory. */
function printWhereItGoes(compiled: { first: Start[]; restart: Start[] }, floor: { restart: Start[] }): void {
  const phaseNames = [...new Set([...compiled.first, ...compiled.restart].flatMap((start) => Object.keys(start.phases ?? {})))];
  const phaseOf = (starts: Start[], name: string) => `${Math.round(median(starts.map((start) => start.phases?.[name] ?? NaN)))} ms`;
  const rows = phaseNames.map((name) => [name, phaseOf(compiled.first, name), phaseOf(compiled.restart, name)]);
  console.log(`\nwhere the compiled gateway's start goes (its own clock; the rest to /ready is the probe's polling and the answer)`);
  console.log(table(['phase', 'first start', 'restart'], rows));
  console.log('  process: Node.js starting and the gateway\'s modules loading; database: opening PGlite (WebAssembly, its files, catalog');
  console.log('  reads); migrations: checking (a first start: a prepared image seeds the files); graphql: schema, yoga, transports');
  const memory = (pick: (start: Start) => number | undefined) => `${Math.round(median(compiled.restart.map((start) => pick(start) ?? NaN)))} MiB`;
  console.log(
    `idle memory after a restart: ${memory((start) => start.rssMiB)} resident, of which a bare Node.js HTTP server holds ` +
      `${Math.round(median(floor.restart.map((start) => start.rssMiB)))} MiB; JavaScript heap ${memory((start) => start.heapMiB)}, ` +
      `outside it ${memory((start) => start.externalMiB)} (mostly PGlite's WebAssembly memory, reserved more than touched)`,
  );
}

await runBenchmark('bench:start', 600, async () => {
  console.log(describeMachine());
  console.log(`${RUNS} first starts and ${RUNS} restarts of each, memory read after ${IDLE_SECONDS} s idle\n`);
  const results = new Map<string, { first: Start[]; restart: Start[] }>();
  for (const variant of variants) results.set(variant.name, await measure(variant));
  const rows: string[][] = [];
  for (const [name, { first, restart }] of results) {
    rows.push(row(`${name}: first start`, first));
    rows.push(row(`${name}: restart`, restart));
  }
  console.log(table(['start', 'ready (median)', 'range', 'idle RSS', 'peak RSS'], rows));
  const compiled = results.get(variants[0]!.name)!;
  const tsx = results.get(variants[1]!.name)!;
  const floor = results.get(variants[2]!.name)!;
  const readyOf = (starts: Start[]) => median(starts.map((start) => start.readyMs));
  console.log(`\ncompiled against tsx: first start ${ratio(readyOf(tsx.first) / readyOf(compiled.first))} faster, restart ${ratio(readyOf(tsx.restart) / readyOf(compiled.restart))} faster`);
  console.log(`compiled restart over the floor: ${Math.round(readyOf(compiled.restart) - readyOf(floor.restart))} ms`);
  const goal = (label: string, value: number, limit: number, unit: string) => console.log(`goal ${label}: ${Math.round(value)} ${unit} (goal <= ${limit} ${unit}) ${value <= limit ? 'met' : 'NOT met'}`);
  goal('first start', readyOf(compiled.first), 2000, 'ms');
  goal('restart', readyOf(compiled.restart), 1000, 'ms');
  goal('idle RSS', median(compiled.restart.map((start) => start.rssMiB)), 250, 'MiB');
  printWhereItGoes(compiled, floor);
  await measureCli();
});
