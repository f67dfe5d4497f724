// npm run bench:fanout [-- 100,1000,10000]: how fast one committed change reaches N graphql-ws
// subscribers of one gateway instance, and what each open subscription costs the server in memory,
// against two baselines measured the same way in the same run: stock graphql-yoga + graphql-ws (fed
// by yoga's createPubSub, triggered by an HTTP POST of the gateway's own event) and raw NATS
// (nats-server, publish to receipt). Servers run in their own processes (bench/servers/fanout-*.ts);
// subscribers live in several client processes (bench/fanout-clients.ts), at most
// FANOUT_SOCKETS_PER_PROCESS sockets each, so the clients are not what is measured.
//
// Per N and target: a fresh server; two warm-up triggers with nobody subscribed; RSS after GC; the N
// subscriptions, opened in batches; a warm-up event every subscriber must get (the only proof that
// every subscription is established); RSS after GC again; then FANOUT_EVENTS events, one at a time,
// each sent once the previous one has reached everyone and FANOUT_GAP_MS have passed.
// t0 is taken just before the trigger is sent (the gateway's updateConfig mutation over HTTP).
//
// Settings: N list as the first argument or FANOUT_N (100,1000,10000); FANOUT_EVENTS (15);
// FANOUT_GAP_MS (200); FANOUT_BATCH (200 sockets opened at a time); FANOUT_SOCKETS_PER_PROCESS (2500);
// FANOUT_CLIENT_PROCESSES (fixed count instead); FANOUT_TARGETS (gateway,yoga,nats);
// FANOUT_SETTLE_MS (25000: how long after its start a server's baseline memory is read);
// FANOUT_PROFILE_N (1000: CPU-profile one extra event burst of the gateway and stock yoga at this N;
// 0 = off); FANOUT_PROFILE_DIR (keep the .cpuprofile files there; default: a temp dir, removed).
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { ensureNatsServer } from '../test/support/nats.ts';
import { freePort } from '../test/support/waiting.ts';
import type { ClientCommand, ClientMessage } from './fanout-clients.ts';
import type { ControlReply } from './servers/fanout-control.ts';
import { type ForkedChild, forkChild, gatewayNodeFlags, serverScript } from './support/children.ts';
import { onCleanup, runBenchmark } from './support/cleanup.ts';
import { cpuMillisecondsOf } from './support/cpu.ts';
import { type ProfileSummary, control, summarizeProfile } from './support/profile.ts';
import { describeMachine, intSetting, median, ratio, table } from './support/stats.ts';
import { benchAuth } from './support/auth.ts';

const SERVICE = 'tick-aggregator';
const SUBSCRIPTION = `subscription { configChanged(service: "${SERVICE}") { service version config patch { op path value } changedBy changedAt } }`;
const MUTATION = `mutation FanoutBench($input: UpdateConfigInput!) {
  updateConfig(input: $input) { __typename ... on ConfigWrite { config { version } } ... on Error { message } }
}`;
const NATS_SUBJECT = 'bench.fanout.configChanged';
const TARGETS = { 'last of 1,000 (ms)': 50, 'last of 10,000 (ms)': 250, 'KB per subscription at 10,000': 25 };

const nList = (process.argv[2] ?? process.env.FANOUT_N ?? '100,1000,10000')
  .replace(/^--n=?/, '')
  .split(',')
  .map((part) => Number.parseInt(part.replace(/[_\s]/g, ''), 10));
if (nList.length === 0 || nList.some((n) => !Number.isInteger(n) || n < 1 || n > 20_000)) {
  throw new Error(`N list must be whole numbers from 1 to 20,000, comma-separated (got ${process.argv[2] ?? process.env.FANOUT_N})`);
}
const settings = {
  events: intSetting('FANOUT_EVENTS', 15, 1, 200),
  gapMs: intSetting('FANOUT_GAP_MS', 200, 0, 10_000),
  batch: intSetting('FANOUT_BATCH', 200, 1, 2_000),
  socketsPerProcess: intSetting('FANOUT_SOCKETS_PER_PROCESS', 2_500, 1, 5_000),
  clientProcesses: intSetting('FANOUT_CLIENT_PROCESSES', 0, 0, 32),
  profileN: intSetting('FANOUT_PROFILE_N', 1_000, 0, 20_000),
  profileDir: process.env.FANOUT_PROFILE_DIR || undefined,
  settleMs: intSetting('FANOUT_SETTLE_MS', 25_000, 0, 120_000),
};
type TargetName = 'gateway' | 'stock yoga' | 'raw NATS';
const targetKeys: Record<string, TargetName> = { gateway: 'gateway', yoga: 'stock yoga', nats: 'raw NATS' };
const targetNames = (process.env.FANOUT_TARGETS || 'gateway,yoga,nats').split(',').map((key) => {
  const name = targetKeys[key.trim()];
  if (!name) throw new Error(`FANOUT_TARGETS: unknown target ${key} (gateway, yoga, nats)`);
  return name;
});

/** An event must reach every subscriber within this, or its missing receipts are counted. */
const eventTimeoutMs = (n: number) => 10_000 + n * 3;
const WARMUP_ATTEMPTS = 5;
const PROFILE_INTERVAL_US = 100;

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects after `ms` unless `promise` settles first. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------------
// Servers

interface Shot {
  version: number;
  /** Just before the trigger was sent. */
  t0: number;
  /** When the trigger's answer (the mutation's response, the POST's, NATS' flush) was in. */
  tResponse: number;
}

interface Target {
  name: TargetName;
  /** Where subscribers connect: ws://… for graphql-ws, nats://… for NATS. */
  subscribeUrl: string;
  /** Whose CPU and memory are measured. */
  pid: number;
  trigger(): Promise<Shot>;
  /** RSS and heap after GC; undefined where the server cannot tell (nats-server). */
  memory(): Promise<ControlReply['memory'] | undefined>;
  hasMemory: boolean;
  /** When the server reported ready (Date.now()). */
  startedAt: number;
  profile?: { start(): Promise<void>; stop(file: string): Promise<void> };
  stop(): Promise<void>;
}

/** The gateway's event as its subscribers get it: the `configChanged` object, used for the baselines. */
let eventTemplate: Record<string, unknown> | undefined;

async function postJson(url: string, body: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...benchAuth }, body, signal: AbortSignal.timeout(30_000) });
  return { status: response.status, text: await response.text() };
}

/**
 * RSS after GC, read until two readings 300 ms apart agree within 1 MiB (at most 8): right after a
 * start or a burst, freed native memory and allocator trims still move RSS by tens of MiB.
 */
async function settledMemory(child: ChildProcess): Promise<ControlReply['memory']> {
  let last = (await control(child, { type: 'memory' })).memory!;
  for (let reading = 0; reading < 8; reading++) {
    await sleep(300);
    const next = (await control(child, { type: 'memory' })).memory!;
    const settled = Math.abs(next.rss - last.rss) < 2 ** 20;
    last = next;
    if (settled) break;
  }
  return last;
}

function serverControls(child: ForkedChild): Pick<Target, 'memory' | 'profile' | 'hasMemory' | 'startedAt'> {
  return {
    hasMemory: true,
    startedAt: Date.now(),
    memory: () => settledMemory(child.process),
    profile: {
      start: async () => void (await control(child.process, { type: 'profile-start', intervalUs: PROFILE_INTERVAL_US })),
      stop: async (file) => void (await control(child.process, { type: 'profile-stop', path: file }, 60_000)),
    },
  };
}

async function startGateway(): Promise<Target> {
  const child = await forkChild('gateway', serverScript('fanout-gateway.ts'), { execArgv: ['--expose-gc', ...gatewayNodeFlags()] });
  const endpoint = `${child.url}/graphql`;
  let sequence = 0;
  return {
    name: 'gateway',
    subscribeUrl: endpoint.replace(/^http/, 'ws'),
    pid: child.pid,
    ...serverControls(child),
    async trigger() {
      sequence++;
      // Same size every time: replaces a six-digit number with another.
      const body = JSON.stringify({
        query: MUTATION,
        variables: { input: { service: SERVICE, patch: { operational: { max_queue_depth: 100_000 + (sequence % 900_000) } } } },
      });
      const t0 = now();
      const { status, text } = await postJson(endpoint, body);
      const tResponse = now();
      const version = (JSON.parse(text) as { data?: { updateConfig?: { config?: { version?: number } } } }).data?.updateConfig?.config?.version;
      if (status !== 200 || typeof version !== 'number') throw new Error(`updateConfig failed (${status}): ${text.slice(0, 400)}`);
      return { version, t0, tResponse };
    },
    stop: () => child.stop(),
  };
}

async function startStockYoga(): Promise<Target> {
  const child = await forkChild('stock yoga', serverScript('fanout-yoga.ts'), { execArgv: ['--expose-gc'] });
  if (!eventTemplate) throw new Error('stock yoga publishes the gateway event: run the gateway first');
  const template = eventTemplate;
  let version = 0;
  return {
    name: 'stock yoga',
    subscribeUrl: `${child.url.replace(/^http/, 'ws')}/graphql`,
    pid: child.pid,
    ...serverControls(child),
    async trigger() {
      const shot = { version: ++version, t0: 0, tResponse: 0 };
      const body = JSON.stringify({ ...template, version: shot.version });
      shot.t0 = now();
      const { status, text } = await postJson(`${child.url}/publish`, body);
      shot.tResponse = now();
      if (status !== 200) throw new Error(`publish failed (${status}): ${text.slice(0, 400)}`);
      return shot;
    },
    stop: () => child.stop(),
  };
}

/** One nats-server for the run, started as test/support/nats.ts does (ephemeral port on 127.0.0.1). */
let natsServer: Promise<{ url: string; pid: number }> | undefined;

function startNatsServer(): Promise<{ url: string; pid: number }> {
  natsServer ??= (async () => {
    const binary = ensureNatsServer();
    const storeDir = mkdtempSync(path.join(tmpdir(), 'confighub-fanout-nats-'));
    onCleanup(`nats store ${storeDir}`, () => rmSync(storeDir, { recursive: true, force: true }));
    const port = await freePort();
    const server = spawn(binary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], { stdio: 'ignore' });
    onCleanup(`nats-server (pid ${server.pid})`, async () => {
      if (server.exitCode !== null || server.signalCode !== null) return;
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGKILL');
      await exited;
    });
    const url = `nats://127.0.0.1:${port}`;
    for (let attempt = 0; ; attempt++) {
      if (server.exitCode !== null) throw new Error(`nats-server exited with ${server.exitCode}`);
      try {
        const probe = await connect({ servers: url, timeout: 1_000, maxReconnectAttempts: 0 });
        await probe.close();
        return { url, pid: server.pid! };
      } catch (error) {
        if (attempt >= 100) throw new Error(`nats-server did not answer on ${url} within ~10 s: ${String(error)}`);
        await sleep(100);
      }
    }
  })();
  return natsServer;
}

async function startRawNats(): Promise<Target> {
  const server = await startNatsServer();
  if (!eventTemplate) throw new Error('raw NATS publishes the gateway event: run the gateway first');
  const template = eventTemplate;
  const publisher: NatsConnection = await connect({ servers: server.url, maxReconnectAttempts: 0, name: 'fanout-publisher' });
  const close = onCleanup('NATS publisher', () => publisher.close());
  const encoder = new TextEncoder();
  let version = 0;
  return {
    name: 'raw NATS',
    subscribeUrl: server.url,
    pid: server.pid,
    memory: async () => undefined,
    hasMemory: false,
    startedAt: Date.now(),
    async trigger() {
      const shot = { version: ++version, t0: 0, tResponse: 0 };
      // The bytes a graphql-ws subscriber of the gateway gets, so the clients do the same work.
      const data = encoder.encode(JSON.stringify({ id: '1', type: 'next', payload: { data: { configChanged: { ...template, version: shot.version } } } }));
      shot.t0 = now();
      publisher.publish(NATS_SUBJECT, data);
      await publisher.flush();
      shot.tResponse = now();
      return shot;
    },
    stop: close,
  };
}

const starters: Record<TargetName, () => Promise<Target>> = { gateway: startGateway, 'stock yoga': startStockYoga, 'raw NATS': startRawNats };

// ---------------------------------------------------------------------------------------------------
// Subscriber processes

interface Receipts {
  times: number[];
  duplicates: number;
  closed: number;
  errors: string[];
  sample?: string;
}

class ClientFleet {
  private readonly completes = new Map<number, number>();
  private readonly waiters = new Set<() => void>();
  private readonly failures: string[] = [];

  private constructor(private readonly children: ForkedChild[]) {
    for (const [index, child] of children.entries()) {
      child.process.on('message', (raw: unknown) => {
        const message = raw as ClientMessage;
        if (message.type === 'complete') this.completes.set(message.version, (this.completes.get(message.version) ?? 0) + 1);
        else if (message.type === 'failed') this.failures.push(`client ${index + 1}: ${message.error}`);
        else return;
        this.wake();
      });
      child.process.once('exit', (code, signal) => {
        this.failures.push(`client ${index + 1} exited (code ${code}, signal ${signal})`);
        this.wake();
      });
    }
  }

  static async start(processes: number): Promise<ClientFleet> {
    const script = fileURLToPath(new URL('./fanout-clients.ts', import.meta.url));
    const children = await Promise.all(Array.from({ length: processes }, (_, i) => forkChild(`clients ${i + 1}/${processes}`, script)));
    return new ClientFleet(children);
  }

  get size(): number {
    return this.children.length;
  }

  private wake() {
    for (const waiter of this.waiters) waiter();
  }

  private throwIfFailed() {
    if (this.failures.length > 0) throw new Error(`subscriber process failed: ${this.failures.join('; ')}`);
  }

  /** Sends each child its command and waits for every `type` answer. */
  private async ask<T extends ClientMessage['type']>(
    commands: ClientCommand[],
    type: T,
    timeoutMs: number,
    accept: (message: Extract<ClientMessage, { type: T }>) => boolean = () => true,
  ): Promise<Extract<ClientMessage, { type: T }>[]> {
    this.throwIfFailed();
    const answers = this.children.map(
      (child) =>
        new Promise<Extract<ClientMessage, { type: T }>>((resolve, reject) => {
          const onMessage = (raw: unknown) => {
            const message = raw as ClientMessage;
            if (message.type === 'failed') {
              child.process.off('message', onMessage);
              reject(new Error(`${child.name}: ${message.error}`));
            }
            if (message.type !== type || !accept(message as Extract<ClientMessage, { type: T }>)) return;
            child.process.off('message', onMessage);
            resolve(message as Extract<ClientMessage, { type: T }>);
          };
          child.process.on('message', onMessage);
        }),
    );
    this.children.forEach((child, index) => child.process.send(commands[index]!));
    return within(timeoutMs, `subscribers' ${type}`, Promise.all(answers));
  }

  /** Spreads `n` subscriptions over the children; resolves with how many are subscribed. */
  async open(n: number, command: (count: number) => ClientCommand): Promise<{ subscribed: number; failed: number; ms: number; firstError?: string }> {
    const counts = this.children.map((_, index) => Math.floor(n / this.size) + (index < n % this.size ? 1 : 0));
    // A generous bound: on this machine a socket takes well under 5 ms to open and subscribe.
    const answers = await this.ask(
      counts.map(command),
      'opened',
      60_000 + n * 20,
    );
    return {
      subscribed: answers.reduce((sum, answer) => sum + answer.subscribed, 0),
      failed: answers.reduce((sum, answer) => sum + answer.failed, 0),
      ms: Math.max(...answers.map((answer) => answer.ms)),
      firstError: answers.find((answer) => answer.firstError)?.firstError,
    };
  }

  /** Resolves true once every child has `version` at all its subscriptions, false after `timeoutMs`. */
  waitComplete(version: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.failures.length > 0) return finish(() => reject(new Error(this.failures.join('; '))));
        if ((this.completes.get(version) ?? 0) >= this.size) finish(() => resolve(true));
      };
      const timer = setTimeout(() => finish(() => resolve(false)), timeoutMs);
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        this.completes.delete(version);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Every child's receipts of `version` (they forget them). */
  async collect(version: number): Promise<Receipts> {
    const answers = await this.ask(
      this.children.map(() => ({ type: 'report', version })),
      'receipts',
      30_000,
      (message) => message.version === version,
    );
    return {
      times: answers.flatMap((answer) => answer.times),
      duplicates: answers.reduce((sum, answer) => sum + answer.duplicates, 0),
      closed: answers.reduce((sum, answer) => sum + answer.closed, 0),
      errors: answers.flatMap((answer) => answer.errors),
      sample: answers.find((answer) => answer.sample)?.sample,
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.children.map((child) => child.stop()));
  }
}

function clientProcessesFor(n: number): number {
  if (settings.clientProcesses > 0) return Math.min(settings.clientProcesses, n);
  return Math.max(n >= 1_000 ? 2 : 1, Math.ceil(n / settings.socketsPerProcess));
}

// ---------------------------------------------------------------------------------------------------
// Measuring

interface EventResult {
  version: number;
  /** Receipt - t0, ms, one per subscriber that got it. */
  latencies: number[];
  /** Receipt - the trigger's response, ms (negative: before the response was in). */
  afterResponse: number[];
  missing: number;
  /** Server CPU from the trigger to the last receipt, ms (clock-tick resolution). */
  serverCpuMs: number | undefined;
}

interface Measurement {
  target: TargetName;
  n: number;
  subscribed: number;
  clientProcesses: number;
  openMs: number;
  payloadBytes: number;
  rssBefore?: number;
  rssAfter?: number;
  heapBefore?: number;
  heapAfter?: number;
  events: EventResult[];
  duplicates: number;
  warnings: string[];
  /** With the profiled event's last receipt, ms after t0. */
  profile?: ProfileSummary & { lastMs: number };
  /** 1-minute load average at the end: on a shared 2-core machine, read the times with it. */
  loadAverage: number;
}

/** Sends one event and gathers its receipts. */
async function shoot(target: Target, fleet: ClientFleet, expected: number, timeoutMs: number): Promise<EventResult & { receipts: Receipts }> {
  const cpuBefore = cpuMillisecondsOf(target.pid);
  const shot = await target.trigger();
  await fleet.waitComplete(shot.version, timeoutMs);
  const cpuAfter = cpuMillisecondsOf(target.pid);
  const receipts = await fleet.collect(shot.version);
  return {
    version: shot.version,
    latencies: receipts.times.map((time) => time - shot.t0),
    afterResponse: receipts.times.map((time) => time - shot.tResponse),
    missing: Math.max(0, expected - receipts.times.length),
    serverCpuMs: cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore,
    receipts,
  };
}

async function measure(name: TargetName, n: number, profileDir: string): Promise<Measurement> {
  const target = await starters[name]();
  const warnings: string[] = [];
  let fleet: ClientFleet | undefined;
  try {
    // The trigger path warm (JIT, connections, the first write) before the baseline memory.
    for (let i = 0; i < 2; i++) await target.trigger();
    // Subscriber processes start meanwhile: they do not touch the server until told to open.
    const processes = clientProcessesFor(n);
    const starting = ClientFleet.start(processes);
    starting.catch(() => {});
    // A fresh server gives back tens of MiB of startup memory over its first ~20-30 s, by timer (not
    // heap: apparently V8's pooled pages): let that happen before the baseline, or it is credited to the sockets.
    if (target.hasMemory) await sleep(Math.max(0, target.startedAt + settings.settleMs - Date.now()));
    const before = await target.memory();
    fleet = await starting;
    const opened = await fleet.open(n, (count) =>
      name === 'raw NATS'
        ? { type: 'open-nats', url: target.subscribeUrl, count, subject: NATS_SUBJECT }
        : { type: 'open-ws', url: target.subscribeUrl, count, batch: Math.max(1, Math.round(settings.batch / processes)), query: SUBSCRIPTION },
    );
    // Fewer subscribers than N is not a measurement of N.
    if (opened.failed > 0) throw new Error(`${name}: ${opened.failed} of ${n} subscriptions failed to open (first: ${opened.firstError})`);

    // Warm-up: the server cannot say when a subscription is in place; an event everyone got can.
    let warm: Awaited<ReturnType<typeof shoot>> | undefined;
    for (let attempt = 1; attempt <= WARMUP_ATTEMPTS; attempt++) {
      warm = await shoot(target, fleet, opened.subscribed, Math.min(eventTimeoutMs(n), 5_000 * attempt));
      if (warm.missing === 0) break;
      if (attempt === WARMUP_ATTEMPTS) warnings.push(`warm-up: ${warm.missing} of ${opened.subscribed} subscriptions never got an event`);
      await sleep(500);
    }
    if (name === 'gateway' && warm?.receipts.sample) {
      eventTemplate ??= (JSON.parse(warm.receipts.sample) as { payload: { data: { configChanged: Record<string, unknown> } } }).payload.data.configChanged;
    }
    const payloadBytes = Buffer.byteLength(warm?.receipts.sample ?? '');
    await sleep(settings.gapMs);
    const after = await target.memory();

    const events: EventResult[] = [];
    let duplicates = 0;
    for (let i = 0; i < settings.events; i++) {
      await sleep(settings.gapMs);
      const result = await shoot(target, fleet, opened.subscribed, eventTimeoutMs(n));
      duplicates += result.receipts.duplicates;
      if (result.receipts.errors.length > 0) warnings.push(...result.receipts.errors.slice(0, 3));
      if (result.missing > 0) warnings.push(`event v${result.version}: ${result.missing} subscribers never got it`);
      events.push(result);
    }

    let profile: (ProfileSummary & { lastMs: number }) | undefined;
    if (n === settings.profileN && target.profile) {
      await sleep(settings.gapMs);
      const file = path.join(profileDir, `fanout-${name.replace(/\s+/g, '-')}-${n}.cpuprofile`);
      await target.profile.start();
      await sleep(50);
      const result = await shoot(target, fleet, opened.subscribed, eventTimeoutMs(n));
      await target.profile.stop(file);
      profile = { ...summarizeProfile(file, 15, 10), lastMs: Math.max(...result.latencies) };
      if (settings.profileDir) {
        mkdirSync(settings.profileDir, { recursive: true });
        copyFileSync(file, path.join(settings.profileDir, path.basename(file)));
      }
    }

    return {
      target: name,
      n,
      subscribed: opened.subscribed,
      clientProcesses: processes,
      openMs: opened.ms,
      payloadBytes,
      rssBefore: before?.rss,
      rssAfter: after?.rss,
      heapBefore: before?.heapUsed,
      heapAfter: after?.heapUsed,
      events,
      duplicates,
      warnings,
      profile,
      loadAverage: loadavg()[0]!,
    };
  } finally {
    await fleet?.stop();
    await target.stop();
  }
}

// ---------------------------------------------------------------------------------------------------
// Reporting

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const ms = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? 'n/a' : value >= 100 ? `${value.toFixed(0)} ms` : `${value.toFixed(1)} ms`);
const kb = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? 'n/a' : `${value.toFixed(1)} KB`);
const count = (value: number) => value.toLocaleString('en-US');

interface Row {
  m: Measurement;
  p50: number;
  p99: number;
  max: number;
  firstMedian: number;
  lastMedian: number;
  lastWorst: number;
  p50AfterResponse: number;
  lastAfterResponse: number;
  cpuPerEvent: number | undefined;
  kbPerSubRss: number | undefined;
  kbPerSubHeap: number | undefined;
  missing: number;
}

function rowOf(m: Measurement): Row {
  const all = m.events.flatMap((event) => event.latencies).sort((a, b) => a - b);
  const afterResponse = m.events.flatMap((event) => event.afterResponse).sort((a, b) => a - b);
  const lasts = m.events.map((event) => Math.max(...event.latencies));
  const lastsAfterResponse = m.events.map((event) => Math.max(...event.afterResponse));
  const cpu = m.events.map((event) => event.serverCpuMs);
  const perSub = (before?: number, after?: number) => (before === undefined || after === undefined ? undefined : (after - before) / 1024 / m.subscribed);
  return {
    m,
    p50: percentile(all, 0.5),
    p99: percentile(all, 0.99),
    max: all.at(-1) ?? Number.NaN,
    firstMedian: median(m.events.map((event) => Math.min(...event.latencies))),
    lastMedian: median(lasts),
    lastWorst: Math.max(...lasts),
    p50AfterResponse: percentile(afterResponse, 0.5),
    lastAfterResponse: median(lastsAfterResponse),
    cpuPerEvent: cpu.every((value) => value !== undefined) ? cpu.reduce((sum, value) => sum! + value!, 0)! / cpu.length : undefined,
    kbPerSubRss: perSub(m.rssBefore, m.rssAfter),
    kbPerSubHeap: perSub(m.heapBefore, m.heapAfter),
    missing: m.events.reduce((sum, event) => sum + event.missing, 0),
  };
}

function printN(n: number, rows: Row[]): void {
  const first = rows[0]!.m;
  console.log(
    `\nN = ${count(n)} subscribers: ${first.clientProcesses} client process(es), ${settings.events} events, ${settings.gapMs} ms idle between them; ` +
      `times from just before the trigger (t0) to receipt, over all ${count(first.subscribed * settings.events)} receipts per target\n`,
  );
  console.log(
    table(
      ['target', 'first (median)', 'p50', 'p99', 'max', 'last (median)', 'last (worst)', 'p50 after resp', 'last after resp', 'server CPU/event', 'KB/sub RSS', 'KB/sub heap', 'missing'],
      rows.map((row) => [
        row.m.target,
        ms(row.firstMedian),
        ms(row.p50),
        ms(row.p99),
        ms(row.max),
        ms(row.lastMedian),
        ms(row.lastWorst),
        ms(row.p50AfterResponse),
        ms(row.lastAfterResponse),
        ms(row.cpuPerEvent),
        kb(row.kbPerSubRss),
        kb(row.kbPerSubHeap),
        String(row.missing),
      ]),
    ),
  );
  for (const row of rows) {
    const extra = [`subscriptions opened in ${ms(row.m.openMs)}`, `payload ${row.m.payloadBytes} bytes`];
    if (row.m.rssBefore !== undefined) extra.push(`RSS ${(row.m.rssBefore / 2 ** 20).toFixed(1)} -> ${(row.m.rssAfter! / 2 ** 20).toFixed(1)} MiB`);
    if (row.m.duplicates > 0) extra.push(`${row.m.duplicates} duplicate receipts`);
    extra.push(`load average ${row.m.loadAverage.toFixed(1)}`);
    console.log(`  ${row.m.target}: ${extra.join(', ')}`);
    console.log(`    last subscriber per event: ${row.m.events.map((event) => Math.max(...event.latencies).toFixed(0)).join(' ')} ms`);
    for (const warning of new Set(row.m.warnings)) console.log(`    warning: ${warning}`);
  }
  const gateway = rows.find((row) => row.m.target === 'gateway');
  const yoga = rows.find((row) => row.m.target === 'stock yoga');
  if (gateway && yoga) {
    const r = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? 'n/a' : ratio(a / b));
    console.log(
      `  gateway / stock yoga: p50 ${r(gateway.p50, yoga.p50)}, p99 ${r(gateway.p99, yoga.p99)}, last ${r(gateway.lastMedian, yoga.lastMedian)}, ` +
        `server CPU/event ${r(gateway.cpuPerEvent, yoga.cpuPerEvent)}, KB/sub RSS ${r(gateway.kbPerSubRss, yoga.kbPerSubRss)} (below 1: the gateway is better)`,
    );
  }
  for (const row of rows) if (row.m.profile) printProfile(row.m.target, n, row.m.profile);
}

function printProfile(target: TargetName, n: number, profile: ProfileSummary & { lastMs: number }): void {
  console.log(
    `\n  CPU profile of one ${count(n)}-subscriber event, ${target} (last receipt ${ms(profile.lastMs)} after t0; ${ms(profile.activeMs)} sampled busy):`,
  );
  const share = (value: number) => `${((100 * value) / profile.activeMs).toFixed(1)}%`;
  console.log('    self time by package:');
  for (const entry of profile.packages) console.log(`      ${ms(entry.ms).padStart(9)} ${share(entry.ms).padStart(6)}  ${entry.name}`);
  console.log('    top self-time functions:');
  for (const entry of profile.functions) console.log(`      ${ms(entry.ms).padStart(9)} ${share(entry.ms).padStart(6)}  ${entry.name}`);
}

function printTargets(rows: Row[]): void {
  const gatewayAt = (n: number) => rows.find((row) => row.m.target === 'gateway' && row.m.n === n);
  const verdict = (value: number | undefined, limit: number) => (value === undefined || Number.isNaN(value) ? 'not measured' : value <= limit ? 'MET' : 'NOT MET');
  const g1k = gatewayAt(1_000);
  const g10k = gatewayAt(10_000);
  console.log('\ntargets (gateway; "last" = median over events of the time until the last subscriber had it):');
  console.log(
    `  last of 1,000 within ${TARGETS['last of 1,000 (ms)']} ms: ${verdict(g1k?.lastMedian, TARGETS['last of 1,000 (ms)'])}` +
      (g1k ? ` (${ms(g1k.lastMedian)}; worst ${ms(g1k.lastWorst)})` : ''),
  );
  console.log(
    `  last of 10,000 within ${TARGETS['last of 10,000 (ms)']} ms: ${verdict(g10k?.lastMedian, TARGETS['last of 10,000 (ms)'])}` +
      (g10k ? ` (${ms(g10k.lastMedian)}; worst ${ms(g10k.lastWorst)})` : ''),
  );
  console.log(
    `  under ${TARGETS['KB per subscription at 10,000']} KB per subscription at 10,000: ${verdict(g10k?.kbPerSubRss, TARGETS['KB per subscription at 10,000'])}` +
      (g10k ? ` (${kb(g10k.kbPerSubRss)} RSS, ${kb(g10k.kbPerSubHeap)} heap)` : ''),
  );
}

async function benchmarkFanout(): Promise<void> {
  console.log(`bench:fanout  ${describeMachine()}`);
  console.log(`N = ${nList.map(count).join(', ')}; targets: ${targetNames.join(', ')}; subscription: ${SUBSCRIPTION}`);
  console.log(
    'columns: first / last = when the first / last subscriber had an event (median over events; worst = slowest event); p50 / p99 / max over all receipts; ' +
      '"after resp" = from when the trigger\'s answer was in (the mutation\'s HTTP response, the publish POST\'s, NATS\' flush) instead of t0; ' +
      'server CPU from the trigger to the last receipt; KB/sub = (RSS or heap after GC with N subscribed - before) / N',
  );
  if (!targetNames.includes('gateway')) throw new Error('the baselines publish the gateway event: FANOUT_TARGETS must include gateway');
  const profileDir = mkdtempSync(path.join(tmpdir(), 'confighub-fanout-profiles-'));
  onCleanup(`profiles ${profileDir}`, () => rmSync(profileDir, { recursive: true, force: true }));

  const rows: Row[] = [];
  for (const n of nList) {
    const rowsOfN: Row[] = [];
    for (const name of targetNames) {
      console.log(`  measuring ${name} with ${count(n)} subscribers…`);
      const row = rowOf(await measure(name, n, profileDir));
      console.log(`    p50 ${ms(row.p50)}, last ${ms(row.lastMedian)}, KB/sub ${kb(row.kbPerSubRss)}`);
      rowsOfN.push(row);
    }
    printN(n, rowsOfN);
    rows.push(...rowsOfN);
  }
  printTargets(rows);
  console.log(
    '\nreference measured before on this machine: stock yoga + graphql-ws ~180-270 ms to reach 1,000 and ~1.1 s for 10,000; 18-40 KB per subscription',
  );
  console.log(`load average after: ${describeMachine().split('load average ')[1]}`);
}

const maxSeconds = nList.reduce((sum, n) => sum + targetNames.length * (90 + settings.settleMs / 1000 + n / 50 + (settings.events + 8) * (2 + settings.gapMs / 1000 + n / 2_000)), 120);
await runBenchmark('bench:fanout', Math.ceil(maxSeconds), benchmarkFanout);
