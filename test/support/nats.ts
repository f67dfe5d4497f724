import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';
import { aptInstall } from './debian.ts';
import { freePort } from './waiting.ts';

const CANDIDATES = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];

function findNatsServer(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return CANDIDATES.find((candidate) => existsSync(candidate));
  }
}

/**
 * The path of nats-server, installing Debian's package when it is missing and we can (root with
 * apt-get); otherwise an error that says what to install.
 */
export function ensureNatsServer(): string {
  const found = findNatsServer();
  if (found) return found;
  if (aptInstall(['nats-server'])) {
    const installed = findNatsServer();
    if (installed) return installed;
  }
  throw new Error(
    'The event tests need nats-server. Install it with `sudo apt-get install nats-server` (Debian/Ubuntu) or put a nats-server binary on PATH.',
  );
}

export async function waitForPort(port: number, deadlineMs: number): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' }, () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nats-server did not listen on ${port} within ${deadlineMs} ms`);
}

/** A real nats-server (JetStream on) on an ephemeral loopback port; can be killed and started again on the same port. */
export class NatsServer {
  private process: ChildProcess | undefined;
  private readonly storeDir = mkdtempSync(path.join(tmpdir(), 'confighub-nats-'));

  private constructor(
    readonly port: number,
    private readonly binary: string,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<NatsServer> {
    const server = new NatsServer(await freePort(), ensureNatsServer());
    await server.startProcess();
    return server;
  }

  async startProcess(): Promise<void> {
    this.process = spawn(this.binary, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir], { stdio: 'ignore' });
    await waitForPort(this.port, 10_000);
  }

  /** SIGKILL: the server vanishes without a goodbye, as in a crash. */
  async kill(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    this.process = undefined;
  }

  /** `kill`, and the server is started again when the running test ends, however it ends (unless the test did). */
  async killForThisTest(): Promise<void> {
    await this.kill();
    onTestFinished(async () => {
      if (!this.process) await this.startProcess();
    });
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}
