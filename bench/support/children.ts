// Servers under test each run in their own Node process (forked with tsx), so the load generator in
// the parent never shares an event loop with them.
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { onCleanup } from './cleanup.ts';

/** What a server script sends its parent once it listens (see `announceReady`). */
export interface ReadyMessage {
  type: 'ready';
  url: string;
}

export interface ChildServer {
  name: string;
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  pid: number;
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 10_000;
/** Warnings and errors a child logs (pino JSON, level >= 40) are echoed, this many at most. */
const MAX_ECHOED_LOG_LINES = 20;

/** Path of a script in bench/servers/. */
export const serverScript = (file: string) => fileURLToPath(new URL(`../servers/${file}`, import.meta.url));

/**
 * The Node flags the gateway runs with as deployed: those of package.json's `start` (test/start.test.ts
 * holds the Dockerfile's CMD to it). BENCH_GATEWAY_NODE_FLAGS replaces them, for an A/B. The gateway's entry
 * sets src/runtimeFlags.ts's flags after them, as src/main.ts does.
 */
export function gatewayNodeFlags(): string[] {
  const override = process.env.BENCH_GATEWAY_NODE_FLAGS;
  if (override !== undefined) return override.split(/\s+/).filter(Boolean);
  const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
  return packageJson.scripts.start.split(/\s+/).filter((word) => word.startsWith('--'));
}

/** Forks `script` with tsx and resolves once it reports the URL it listens on. */
export async function startChildServer(name: string, script: string, env: Record<string, string> = {}, execArgv: string[] = []): Promise<ChildServer> {
  return forkChild(name, script, { env, execArgv });
}

export interface ForkOptions {
  env?: Record<string, string>;
  /** Node flags after `--import tsx`, e.g. `--expose-gc`. */
  execArgv?: string[];
  /**
   * Send the child's stdout (its log lines) to this file instead of a pipe the parent reads line by
   * line: the parent, which generates the load, then spends no CPU on them while it measures. Warnings
   * and errors are echoed when the child has stopped.
   */
  logFile?: string;
}

/** A forked child with its IPC channel, for benchmarks that talk to it (bench/fanout.ts). */
export interface ForkedChild extends ChildServer {
  process: ChildProcess;
}

/** `startChildServer` with extra Node flags, also returning the child so the caller can message it. */
export async function forkChild(name: string, script: string, options: ForkOptions = {}): Promise<ForkedChild> {
  const logFd = options.logFile === undefined ? undefined : openSync(options.logFile, 'a');
  const child = fork(script, [], {
    execArgv: ['--import', 'tsx', ...(options.execArgv ?? [])],
    // Every server as deployed: NODE_ENV=production unless the caller's environment says otherwise.
    env: { NODE_ENV: 'production', ...process.env, ...options.env },
    stdio: ['ignore', logFd ?? 'pipe', 'inherit', 'ipc'],
  });
  if (logFd !== undefined) closeSync(logFd); // the child has its own copy
  const logFile = options.logFile;
  const stopAndEcho = async () => {
    await stopChild(child);
    if (logFile) echoLoggedWarnings(name, readFileSync(logFile, 'utf8').split('\n'));
  };
  const stop = onCleanup(`${name} (pid ${child.pid})`, stopAndEcho, () => child.exitCode === null && child.kill('SIGKILL'));
  if (!logFile) echoWarnings(name, child);
  try {
    const url = await waitForReady(name, child);
    return { name, url, pid: child.pid!, stop, process: child };
  } catch (error) {
    await stop();
    throw error;
  }
}

function waitForReady(name: string, child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${name} did not report ready within ${STARTUP_TIMEOUT_MS / 1000} s`)), STARTUP_TIMEOUT_MS);
    const onMessage = (message: unknown) => {
      const ready = message as ReadyMessage;
      if (ready?.type !== 'ready') return;
      done();
      resolve(ready.url);
    };
    const onExit = (code: number | null, signal: string | null) => fail(new Error(`${name} exited before it was ready (code ${code}, signal ${signal})`));
    const done = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const fail = (error: Error) => {
      done();
      reject(error);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** The gateway logs JSON lines on stdout; show the parent only what is worth a look. */
function echoWarnings(name: string, child: ChildProcess) {
  let echoed = 0;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (echoed >= MAX_ECHOED_LOG_LINES || !/"level":(4|5|6)0/.test(line)) return;
    echoed++;
    console.error(`[${name}] ${line}`);
  });
}

function echoLoggedWarnings(name: string, lines: string[]) {
  let echoed = 0;
  for (const line of lines) {
    if (echoed >= MAX_ECHOED_LOG_LINES) return;
    if (!/"level":(4|5|6)0/.test(line)) continue;
    echoed++;
    console.error(`[${name}] ${line}`);
  }
}

/** SIGTERM, then SIGKILL if it has not exited within the grace period. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}
