import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type TestApp, createTestApp } from './app.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LAUNCHER = fileURLToPath(new URL('../../bin/confighub.mjs', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (for `--json`). */
  json<T = any>(): T;
}

export interface CliOptions {
  /** Environment variables on top of a clean base (no CONFIGHUB_* from the outer shell). */
  env?: Record<string, string | undefined>;
  /** Written to the command's stdin, which is then closed. */
  input?: string;
  cwd?: string;
  /** Kill the command after this long (a hung command fails the test, not the run). @default 30_000 */
  timeoutMs?: number;
  /** `args` is a whole command line to run (args[0] the program), not arguments of confighub. */
  raw?: boolean;
}

/** The environment a CLI child gets: the parent's, minus anything that would point it at another hub. */
export function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const name of Object.keys(env)) if (name.startsWith('CONFIGHUB_')) delete env[name];
  // No contexts of the user's: a file that does not exist, unless a test names one.
  env.CONFIGHUB_CONFIG = path.join(os.tmpdir(), 'confighub-tests-no-contexts.json');
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** Starts `confighub <args>` as its own process (bin/confighub.mjs, as `npx confighub` runs it). */
export function spawnCli(args: string[], options: CliOptions = {}): ChildProcess {
  const [program, ...rest] = options.raw ? args : [process.execPath, LAUNCHER, ...args];
  return spawn(program!, rest, {
    cwd: options.cwd ?? PROJECT_ROOT,
    env: cliEnv(options.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Runs `confighub <args>` to completion and returns its exit code and output. */
export async function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const child = spawnCli(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // A command that reads no input may exit before its input is written: the pipe is then closed (EPIPE), which is not the test's failure.
  child.stdin!.on('error', () => {});
  child.stdin!.end(options.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  const code = await new Promise<number | null>((resolve) => child.once('close', (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  return {
    code,
    stdout,
    stderr,
    json() {
      try {
        return JSON.parse(stdout);
      } catch {
        throw new Error(`stdout is not JSON (exit ${code}):\n${stdout}\nstderr:\n${stderr}`);
      }
    },
  };
}

/** Resolves with the first stderr text that matches (a process announcing it is ready). */
export function waitForOutput(child: ChildProcess, stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => done(new Error(`no ${pattern} on ${stream} within ${timeoutMs} ms; got:\n${seen}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) done();
    };
    const onExit = () => done(new Error(`process exited before ${pattern} appeared on ${stream}; got:\n${seen}`));
    function done(error?: Error) {
      clearTimeout(timer);
      child[stream]!.off('data', onData);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(seen);
    }
    child[stream]!.on('data', onData);
    child.once('exit', onExit);
  });
}

/** A gateway (PGlite) listening on a port for CLI tests, and an empty directory for the commands' files. */
export interface CliHub {
  hub: TestApp;
  url: string;
  workDir: string;
  /** `confighub ...` as the admin against this hub; CONFIGHUB_DATA_DIR is the work directory. */
  cli(args: string[], options?: CliOptions): Promise<CliResult>;
  close(): Promise<void>;
}

export async function startCliHub(name: string): Promise<CliHub> {
  const hub = await createTestApp('pglite');
  const url = await hub.app.start();
  const workDir = mkdtempSync(path.join(os.tmpdir(), `confighub-${name}-`));
  return {
    hub,
    url,
    workDir,
    cli: (args, options = {}) =>
      runCli(args, { ...options, env: { CONFIGHUB_URL: url, CONFIGHUB_TOKEN: hub.adminToken, CONFIGHUB_DATA_DIR: workDir, ...options.env } }),
    async close() {
      await hub.close();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}
