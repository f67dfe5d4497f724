import { type ChildProcess, spawn } from 'node:child_process';
import { type Server, type Socket, createConnection, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { TEST_ADMIN_TOKEN } from './app.ts';
import { freePort } from './waiting.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** How much of a gateway's output is kept for error messages. */
const OUTPUT_TAIL_CHARS = 8_000;

export interface GatewayProcessOptions {
  databaseUrl: string;
  natsUrl: string;
  /** How long to wait for /health. @default 60_000 */
  startTimeoutMs?: number;
}

/**
 * The gateway as its own process (`node --import tsx src/main.ts`), as production runs it: its own
 * connection pool, its own NATS connection, a real port. It can be SIGKILLed like a crashed host.
 */
export class GatewayProcess {
  private output = '';
  private readonly exited: Promise<void>;

  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
  }

  /** Starts a gateway on a free loopback port and resolves once /health answers. */
  static async start(options: GatewayProcessOptions): Promise<GatewayProcess> {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: PROJECT_ROOT,
      env: {
        ...process.env,
        DATABASE_URL: options.databaseUrl,
        NATS_URL: options.natsUrl,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        NODE_ENV: 'test',
        CONFIGHUB_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const gateway = new GatewayProcess(`http://127.0.0.1:${port}`, child);
    try {
      await gateway.waitForHealth(options.startTimeoutMs ?? 60_000);
    } catch (error) {
      await gateway.kill();
      throw error;
    }
    return gateway;
  }

  /** True until the process has exited. */
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The tail of what the process printed (for failure messages). */
  get log(): string {
    return this.output;
  }

  private async waitForHealth(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.alive) throw new Error(`gateway exited before it was healthy:\n${this.output}`);
      const healthy = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(2_000) }).then(
        (response) => response.ok,
        () => false,
      );
      if (healthy) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`gateway at ${this.url} was not healthy within ${timeoutMs} ms:\n${this.output}`);
  }

  /** SIGKILL: the process vanishes mid-work, as in a crash. Resolves once it has exited. */
  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (graceful stop), then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * A TCP relay between one client and a server (a gateway's link to NATS) that can be cut and
 * restored on the same port: the client sees its connection drop and its reconnects refused, while
 * everyone connected to the server directly carries on.
 */
export class TcpProxy {
  private listener: Server | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(
    readonly port: number,
    private readonly targetPort: number,
  ) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(await freePort(), targetPort);
    await proxy.restore();
    return proxy;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Listens again and relays new connections. */
  async restore(): Promise<void> {
    if (this.listener) return;
    const listener = createServer((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port: this.targetPort });
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.listener = listener;
  }

  /** Drops every relayed connection and refuses new ones until `restore()`. */
  async cut(): Promise<void> {
    const listener = this.listener;
    this.listener = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (listener) await new Promise<void>((resolve) => listener.close(() => resolve()));
  }
}
