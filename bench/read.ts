// npm run bench:read: requests/s of one cached config read through the gateway, against a stock
// graphql-yoga server and raw node:http that return the same bytes. Each server runs in its own
// child process; autocannon loads them from this process, interleaved over several rounds. The gateway
// is measured twice: the read repeated (answered from a kept answer after the first), and the same read
// with a variable of its own per request (executed every time).
// Settings (environment): BENCH_CONNECTIONS (32), BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (3),
// BENCH_FIRST_WARMUP_SECONDS (10), BENCH_ROUNDS (3).
import { type ChildServer, gatewayNodeFlags, serverScript, startChildServer } from './support/children.ts';
import { runBenchmark } from './support/cleanup.ts';
import { withCpuOf } from './support/cpu.ts';
import { type LoadResult, runLoad } from './support/load.ts';
import { describeMachine, intSetting, median, ms, perSecond, ratio, table } from './support/stats.ts';
import { benchAuth } from './support/auth.ts';
import { GRAPHQL_PATH, READ_QUERY } from './support/benchConfigs.ts';

const REQUEST_BODY = JSON.stringify({ query: READ_QUERY });
/** The gateway's read must be at least this fraction of stock yoga's. */
const TARGET_VS_YOGA = 1.5;

const settings = {
  connections: intSetting('BENCH_CONNECTIONS', 32, 1, 512),
  seconds: intSetting('BENCH_SECONDS', 10, 1, 120),
  warmupSeconds: intSetting('BENCH_WARMUP_SECONDS', 3, 0, 60),
  firstWarmupSeconds: intSetting('BENCH_FIRST_WARMUP_SECONDS', 10, 0, 120),
  rounds: intSetting('BENCH_ROUNDS', 3, 1, 9),
};

type TargetName = 'gateway' | 'gateway, executed' | 'stock yoga' | 'raw node:http';

interface Target {
  name: TargetName;
  server: ChildServer;
  endpoint: string;
  /**
   * Each request carries a variable of its own that the operation does not declare: the answer is the
   * same, but no two requests are alike, so none is answered from a kept answer (server/graphql/answers.ts)
   * and each read is executed.
   */
  executed?: boolean;
}

let nonce = 0;
/** The load of a target: the one body, or for an executed read a body of its own per request. */
const loadOf = (target: Target) =>
  target.executed
    ? { requests: [{ method: 'POST' as const, setupRequest: (request: object) => ({ ...request, body: JSON.stringify({ query: READ_QUERY, variables: { nonce: ++nonce } }) }) }] }
    : { body: REQUEST_BODY };

interface Answer {
  body: string;
  contentType: string;
}

/** POSTs the benchmark query once. */
async function askOnce(endpoint: string): Promise<Answer> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...benchAuth },
    body: REQUEST_BODY,
    signal: AbortSignal.timeout(30_000),
  });
  const body = await response.text();
  if (response.status !== 200) throw new Error(`${endpoint} answered ${response.status}: ${body.slice(0, 300)}`);
  return { body, contentType: response.headers.get('content-type') ?? '' };
}

/** The gateway's answer, which also loads the config into its cache: every later read is a cache hit. */
async function referenceAnswer(gateway: Target): Promise<Answer> {
  const answer = await askOnce(gateway.endpoint);
  const parsed = JSON.parse(answer.body) as { data?: { config?: { __typename?: string } } };
  if (parsed.data?.config?.__typename !== 'ServiceConfig') throw new Error(`unexpected gateway answer: ${answer.body.slice(0, 300)}`);
  return answer;
}

async function startTarget(name: TargetName, script: string, env: Record<string, string> = {}): Promise<Target> {
  const server = await startChildServer(name, serverScript(script), env, name === 'gateway' ? gatewayNodeFlags() : []);
  return { name, server, endpoint: `${server.url}${GRAPHQL_PATH}` };
}

/** Starts the three servers; the two baselines answer with the gateway's bytes, checked here. */
async function startTargets(): Promise<{ targets: Target[]; reference: Answer }> {
  const gateway = await startTarget('gateway', 'gateway.ts');
  const reference = await referenceAnswer(gateway);
  const env = { BENCH_RESPONSE_BODY: reference.body, BENCH_RESPONSE_CONTENT_TYPE: reference.contentType };
  const yoga = await startTarget('stock yoga', 'yoga.ts', env);
  const raw = await startTarget('raw node:http', 'raw.ts', env);
  for (const baseline of [yoga, raw]) {
    const answer = await askOnce(baseline.endpoint);
    if (answer.body !== reference.body) {
      throw new Error(`${baseline.name} does not answer the gateway's bytes:\n${answer.body}\nvs\n${reference.body}`);
    }
  }
  const executed: Target = { ...gateway, name: 'gateway, executed', executed: true };
  return { targets: [gateway, executed, yoga, raw], reference };
}

interface Measurement extends LoadResult {
  /** CPU the server process used per successful request, in microseconds (undefined without /proc). */
  serverCpuUsPerRequest: number | undefined;
}

/** Load that also checks every answer byte for byte; not measured. */
async function warmUp(target: Target, reference: Answer, seconds: number): Promise<void> {
  if (seconds <= 0) return;
  // autocannon checks bodies built per request with verifyBody only.
  const check = target.executed ? { verifyBody: (body: string) => body === reference.body } : { expectBody: reference.body };
  const warmup = await runLoad({ url: target.endpoint, connections: settings.connections, ...loadOf(target), seconds, ...check });
  if (warmup.failed > 0) console.warn(`  ${target.name}: ${warmup.failed} failed or unexpected answers during warm-up`);
  if (warmup.succeeded === 0) throw new Error(`${target.name} answered nothing correctly during warm-up`);
}

/** A short warm-up (the other targets ran meanwhile), then the measured run (no body checks). */
async function measureTarget(target: Target, reference: Answer): Promise<Measurement> {
  const load = { url: target.endpoint, connections: settings.connections, ...loadOf(target) };
  await warmUp(target, reference, settings.warmupSeconds);
  const { result, cpuMs } = await withCpuOf(target.server.pid, () => runLoad({ ...load, seconds: settings.seconds }));
  const serverCpuUsPerRequest = cpuMs === undefined || result.succeeded === 0 ? undefined : (cpuMs * 1000) / result.succeeded;
  return { ...result, serverCpuUsPerRequest };
}

const microseconds = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? 'n/a' : `${Math.round(value)} µs`);

/** Round r starts with target r (mod the number of targets), so no target always runs first or last. */
function orderOfRound(targets: Target[], round: number): Target[] {
  const shift = round % targets.length;
  return [...targets.slice(shift), ...targets.slice(0, shift)];
}

interface Summary {
  name: TargetName;
  runs: Measurement[];
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuUsPerRequest: number | undefined;
}

function summarize(name: TargetName, runs: Measurement[]): Summary {
  const cpu = runs.map((run) => run.serverCpuUsPerRequest).filter((value) => value !== undefined);
  return {
    name,
    runs,
    requestsPerSecond: median(runs.map((run) => run.requestsPerSecond)),
    p50Ms: median(runs.map((run) => run.p50Ms)),
    p99Ms: median(runs.map((run) => run.p99Ms)),
    serverCpuUsPerRequest: cpu.length > 0 ? median(cpu) : undefined,
  };
}

function report(summaries: Summary[]): void {
  const byName = (name: TargetName) => summaries.find((summary) => summary.name === name)!;
  const gateway = byName('gateway');
  const vsYoga = gateway.requestsPerSecond / byName('stock yoga').requestsPerSecond;
  const vsRaw = gateway.requestsPerSecond / byName('raw node:http').requestsPerSecond;
  console.log(`\nmedians of ${settings.rounds} rounds (${settings.seconds} s each, ${settings.connections} connections):\n`);
  console.log(
    table(
      ['target', 'req/s', 'p50', 'p99', 'server CPU/req', 'req/s of each round', 'failed'],
      summaries.map((summary) => [
        summary.name,
        perSecond(summary.requestsPerSecond),
        ms(summary.p50Ms),
        ms(summary.p99Ms),
        microseconds(summary.serverCpuUsPerRequest),
        summary.runs.map((run) => perSecond(run.requestsPerSecond)).join(' / '),
        String(summary.runs.reduce((sum, run) => sum + run.failed, 0)),
      ]),
    ),
  );
  console.log(`\ngateway / stock yoga: ${ratio(vsYoga)}`);
  console.log(`gateway executing each read (no kept answer) / stock yoga: ${ratio(byName('gateway, executed').requestsPerSecond / byName('stock yoga').requestsPerSecond)}`);
  console.log(`gateway / raw node:http: ${ratio(vsRaw)}`);
  const gatewayCpu = gateway.serverCpuUsPerRequest;
  const yogaCpu = byName('stock yoga').serverCpuUsPerRequest;
  if (gatewayCpu !== undefined && yogaCpu !== undefined) {
    console.log(`server CPU per request, stock yoga / gateway: ${ratio(yogaCpu / gatewayCpu)} (above 1 means the gateway is cheaper; steadier than req/s on a busy machine)`);
  }
  const met = vsYoga >= TARGET_VS_YOGA;
  console.log(`target (gateway >= ${TARGET_VS_YOGA.toFixed(1)}x stock yoga): ${met ? 'MET' : 'NOT MET'} (${ratio(vsYoga)})`);
}

async function benchmarkReads(): Promise<void> {
  console.log(`bench:read  ${describeMachine()}`);
  const { targets, reference } = await startTargets();
  console.log(`query answer: ${reference.body.length} bytes (${reference.contentType}), identical from all three servers`);
  for (const target of targets) console.log(`  ${target.name}: pid ${target.server.pid}, ${target.endpoint}`);

  // A fresh process needs more than a few seconds of load before its code is optimized (JIT).
  console.log(`\nfirst warm-up: ${settings.firstWarmupSeconds} s per target`);
  for (const target of targets) await warmUp(target, reference, settings.firstWarmupSeconds);
  const runs = new Map<TargetName, Measurement[]>(targets.map((target) => [target.name, []]));
  for (let round = 0; round < settings.rounds; round++) {
    console.log(`\nround ${round + 1}/${settings.rounds}`);
    for (const target of orderOfRound(targets, round)) {
      const result = await measureTarget(target, reference);
      runs.get(target.name)!.push(result);
      console.log(
        `  ${target.name.padEnd(14)} ${perSecond(result.requestsPerSecond).padStart(7)} req/s  p50 ${ms(result.p50Ms)}  p99 ${ms(result.p99Ms)}  server CPU ${microseconds(result.serverCpuUsPerRequest)}/req` +
          (result.failed > 0 ? `  (${result.failed} failed)` : ''),
      );
    }
  }
  report(targets.map((target) => summarize(target.name, runs.get(target.name)!)));
  console.log(`\nload average after: ${describeMachine().split('load average ')[1]}`);
}

const maxSeconds = 120 + 4 * settings.firstWarmupSeconds + settings.rounds * 4 * (settings.seconds + settings.warmupSeconds + 5);
await runBenchmark('bench:read', maxSeconds, benchmarkReads);
