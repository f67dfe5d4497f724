import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporaryDir } from './support/client.ts';
import { waitForOutput } from './support/cli.ts';
import { PROJECT_ROOT, run } from './support/packages.ts';
import { freePort } from './support/waiting.ts';

// `npm start` as a user runs it: the compiled gateway (dist/, built at install; built again here so that
// it is this checkout's source) on the embedded default. A first start copies the database image prepared
// at install instead of running initdb; a restart opens what the first one wrote.

const dataDir = temporaryDir('confighub-start-');

beforeAll(async () => {
  await run('npm', ['run', '--silent', 'build'], { cwd: PROJECT_ROOT });
}, 180_000);

afterAll(() => {
  dataDir.remove();
  imageDataDir.remove();
});

const imageDataDir = temporaryDir('confighub-image-start-');

const startScript = (JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start!;

/**
 * `npm start`'s command through a shell, exec'd so that a signal reaches the gateway itself (as under a
 * process manager), on a free port; resolves once it listens, with its output and a way to stop it.
 */
async function npmStart() {
  const port = await freePort();
  const child = spawn('sh', ['-c', `exec ${startScript}`], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', CONFIGHUB_DATA_DIR: dataDir.dir, CONFIGHUB_ADMIN_TOKEN: '', DATABASE_URL: '', NATS_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = await waitForOutput(child, 'stdout', /confighub listening/, 60_000);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    return exited;
  };
  return { url, log, stop };
}

/** The final stage of the Dockerfile: its ENV, CMD and HEALTHCHECK command. */
function dockerfileRuntime() {
  const text = readFileSync(path.join(PROJECT_ROOT, 'Dockerfile'), 'utf8');
  const finalStage = text.slice(text.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const line of finalStage.split('\n').filter((candidate) => candidate.startsWith('ENV '))) {
    for (const [, name, value] of line.slice(4).matchAll(/(\w+)=(\S+)/g)) env[name!] = value!;
  }
  const exec = (instruction: string) => JSON.parse(new RegExp(`^${instruction} (\\[.*\\])$`, 'm').exec(finalStage)![1]!) as string[];
  return { env, cmd: exec('CMD'), healthcheck: exec('HEALTHCHECK(?: --\\S+)* CMD') };
}

describe('npm start', () => {
  it('runs the compiled gateway: a first start from the prepared image, then a restart on what it wrote', async () => {
    expect(startScript).toMatch(/^node .*dist\/main\.js$/);

    const first = await npmStart();
    try {
      expect(first.log).toMatch(/new data directory made from the prepared database image/);
      expect((await fetch(`${first.url}/ready`)).status).toBe(200);
      const token = readFileSync(path.join(dataDir.dir, 'admin-token'), 'utf8').trim();
      const created = await fetch(`${first.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: 'mutation { createConfig(input: { service: "started", config: { a: 1 } }) { __typename } }' }),
      });
      expect(await created.json()).toEqual({ data: { createConfig: { __typename: 'ConfigWrite' } } });
    } finally {
      expect(await first.stop()).toBe(0);
    }
    expect(existsSync(path.join(dataDir.dir, 'pgdata', 'PG_VERSION'))).toBe(true);

    const second = await npmStart();
    try {
      expect(second.log).not.toMatch(/prepared database image/);
      const token = readFileSync(path.join(dataDir.dir, 'admin-token'), 'utf8').trim();
      const read = await fetch(`${second.url}/api/v1/config/started`, { headers: { authorization: `Bearer ${token}` } });
      expect(read.status).toBe(200);
      expect(await read.json()).toMatchObject({ service: 'started', config: { a: 1 } });
    } finally {
      expect(await second.stop()).toBe(0);
    }
  });
});

describe('the container image', () => {
  it("runs its command here as the container would (its ENV, a data volume), and its HEALTHCHECK passes", async () => {
    const { env, cmd, healthcheck } = dockerfileRuntime();
    expect(cmd).toEqual(startScript.split(' ')); // the same command, flags included, as npm start
    const port = await freePort();
    const runtimeEnv = { PATH: process.env.PATH ?? '', ...env, PORT: String(port), CONFIGHUB_DATA_DIR: imageDataDir.dir };
    const child = spawn(cmd[0]!, cmd.slice(1), { cwd: PROJECT_ROOT, env: runtimeEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await waitForOutput(child, 'stdout', /confighub listening/, 60_000);
      expect((await fetch(`http://127.0.0.1:${port}/ready`)).status).toBe(200);
      const check = await run(healthcheck[0]!, healthcheck.slice(1), { env: runtimeEnv }).then(() => 0, (error: { code?: number }) => error.code ?? 1);
      expect(check).toBe(0);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
