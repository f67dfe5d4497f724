// npm run bench:reload: how soon a change reaches a service, from the update's commit to the change
// callback, for the Python client (thread and asyncio) and, in the same run as the baseline, the
// TypeScript ConfigClient: one gateway (compiled, on PGlite), one service, BENCH_CHANGES updates one
// after another. Times are wall-clock (the same machine's clock in every process): "after the answer"
// counts from the update's answer (the commit is before it), "after the request" from when it was sent.
// Goal (issue 18): the Python client's median under 100 ms after the commit on a quiet machine.
// Settings (environment): BENCH_CHANGES (50), BENCH_PAUSE_MS (100, between updates).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ConfigClient } from '../src/client/index.ts';
import { installPythonClient } from '../test/support/python.ts';
import { freePort } from '../test/support/waiting.ts';
import { gatewayNodeFlags } from './support/children.ts';
import { onCleanup, runBenchmark } from './support/cleanup.ts';
import { describeMachine, intSetting, median, ms, table } from './support/stats.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CHANGES = intSetting('BENCH_CHANGES', 50, 5, 1000);
const PAUSE_MS = intSetting('BENCH_PAUSE_MS', 100, 0, 10_000);
const SERVICE = 'reload-bench';
const now = () => performance.timeOrigin + performance.now();

async function startGateway(): Promise<{ url: string; token: string }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'confighub-reload-'));
  const port = await freePort();
  const child = spawn(process.execPath, [...gatewayNodeFlags(), 'dist/main.js'], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', CONFIGHUB_DATA_DIR: dataDir, LOG_LEVEL: 'warn', DATABASE_URL: '', NATS_URL: '' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  onCleanup('gateway', () => stopChild(child).then(() => rmSync(dataDir, { recursive: true, force: true })));
  const url = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(100)) {
    const ready = await fetch(`${url}/ready`).then((response) => response.ok, () => false);
    if (ready) return { url, token: readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim() };
  }
  throw new Error('the gateway did not become ready within 60 s');
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function graphql(hub: { url: string; token: string }, query: string, variables: object): Promise<void> {
  const response = await fetch(`${hub.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${hub.token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { errors?: unknown[] };
  if (body.errors?.length) throw new Error(JSON.stringify(body.errors));
}

await runBenchmark('bench:reload', 600, async () => {
  console.log(`bench:reload, ${describeMachine()}; ${CHANGES} changes, ${PAUSE_MS} ms apart`);
  const python = installPythonClient();
  const hub = await startGateway();
  await graphql(hub, 'mutation($input: CreateConfigInput!) { createConfig(input: $input) { __typename } }', {
    input: { service: SERVICE, config: { operational: { batch_size: 0 } } },
  });

  // Version -> client -> when it applied it.
  const applied = new Map<number, Map<string, number>>();
  const record = (client: string, version: number, at: number) => {
    if (!applied.has(version)) applied.set(version, new Map());
    applied.get(version)!.set(client, at);
  };

  const typescript = new ConfigClient({
    service: SERVICE,
    hub: { url: hub.url, token: hub.token },
    defaults: { operational: { batch_size: 1 } },
    snapshotFile: false,
    report: false,
  });
  typescript.onChange(() => record('typescript', typescript.status.version!, now()));
  typescript.start();
  onCleanup('typescript client', () => typescript.close());

  const listener = spawn(python.python, [path.join(ROOT, 'bench', 'support', 'reloadListener.py'), hub.url, hub.token, SERVICE], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  onCleanup('python clients', async () => {
    listener.stdin!.end();
    await stopChild(listener);
  });
  let pythonReady!: () => void;
  let pythonFailed!: (error: Error) => void;
  const pythonIsReady = new Promise<void>((resolve, reject) => ((pythonReady = resolve), (pythonFailed = reject)));
  listener.once('exit', (code) => pythonFailed(new Error(`the Python clients exited (${code})`)));
  createInterface({ input: listener.stdout! }).on('line', (line) => {
    try {
      const message = JSON.parse(line) as { ready?: true; client?: string; version?: number; at?: number };
      if (message.ready) pythonReady();
      else record(message.client!, message.version!, message.at!);
    } catch {
      console.error(`bench:reload: not a line of the Python clients: ${line}`);
    }
  });
  await Promise.all([typescript.ready(30_000), pythonIsReady]);

  const clients = ['typescript', 'python thread', 'python asyncio'];
  const sent = new Map<number, { request: number; answer: number }>();
  for (let change = 1; change <= CHANGES; change++) {
    const version = change + 1;
    const request = now();
    await graphql(hub, 'mutation($input: UpdateConfigInput!) { updateConfig(input: $input) { __typename } }', {
      input: { service: SERVICE, patch: { operational: { batch_size: change } } },
    });
    sent.set(version, { request, answer: now() });
    for (const deadline = Date.now() + 10_000; (applied.get(version)?.size ?? 0) < clients.length; await sleep(1)) {
      if (Date.now() > deadline) throw new Error(`version ${version} did not reach every client within 10 s: ${[...(applied.get(version)?.keys() ?? [])]}`);
    }
    await sleep(PAUSE_MS);
  }

  const rows = clients.map((client) => {
    const afterAnswer = [...sent].map(([version, times]) => applied.get(version)!.get(client)! - times.answer);
    const afterRequest = [...sent].map(([version, times]) => applied.get(version)!.get(client)! - times.request);
    const sorted = [...afterRequest].sort((a, b) => a - b);
    return [client, ms(median(afterAnswer)), ms(median(afterRequest)), ms(sorted[Math.floor(sorted.length * 0.95)]!), ms(sorted.at(-1)!)];
  });
  console.log(table(['client', 'median after the answer', 'median after the request', 'p95 after the request', 'worst after the request'], rows));
  const pythonMedians = clients.slice(1).map((client) => median([...sent].map(([version, times]) => applied.get(version)!.get(client)! - times.request)));
  console.log(`goal (Python client, median after the commit <= 100 ms): ${pythonMedians.every((value) => value <= 100) ? 'met' : 'NOT met'}`);
});
