import { execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './support/app.ts';
import { createConfig, temporaryDir } from './support/client.ts';
import { NatsServer } from './support/nats.ts';

// The package as a service uses it: `npm run build` emits dist/client, `confighub/client` resolves to it
// through package.json "exports", and plain Node.js (no tsx) imports it without loading any server code.
// A child process then runs a client in each live mode against a real hub and NATS, closes them, and must
// exit by itself with no handle left: close() released every socket and timer.

const PROJECT_ROOT = fileURLToPath(new URL('../', import.meta.url));
const run = promisify(execFile);

/** What no client may load: the server's dependencies and code. */
const SERVER_ONLY = /@prisma\/|\/prisma\/|graphql-yoga|@pothos\/|@electric-sql\/|pglite|\/node_modules\/pg\/|\/pino\/|\/src\/(store|server|db|graphql|events)\//;

let hub: TestApp;
let hubUrl: string;
let nats: NatsServer;
const scratch = temporaryDir('confighub-client-build-');

beforeAll(async () => {
  // `npm test` needs no separate build step: this is it.
  await run('npm', ['run', '--silent', 'build'], { cwd: PROJECT_ROOT });
  nats = await NatsServer.start();
  hub = await createTestApp('pglite', { natsUrl: nats.url });
  hubUrl = await hub.app.start();
  await createConfig(hub, 'built-client', { operational: { batch_size: 42 } });
}, 180_000);

afterAll(async () => {
  await hub?.close();
  await nats?.stop();
  scratch.remove();
});

/** Runs an ES module under plain node with a resolve hook logging every module URL; returns its output. */
async function runChild(source: string, env: Record<string, string> = {}) {
  const log = path.join(scratch.dir, `resolved-${Math.random().toString(36).slice(2)}.log`);
  const hooks = path.join(scratch.dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, result.url + '\\n');
  return result;
}`,
  );
  const register = path.join(scratch.dir, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  // Inside the project, so `confighub/client` is the package's self-reference through its exports.
  const script = path.join(PROJECT_ROOT, 'dist', `child-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(script, source);
  try {
    const child = spawn(process.execPath, ['--import', pathToFileURL(register).href, script], {
      cwd: scratch.dir,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    const started = Date.now();
    const code = await new Promise<number | null>((resolve) => {
      // A child that does not exit by itself is a leak: killed after 20 s and reported as such.
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.once('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    const resolved = readFileSync(log, 'utf8').trim().split('\n');
    return { code, stdout, stderr, resolved, ms: Date.now() - started };
  } finally {
    await import('node:fs/promises').then((fs) => fs.rm(script, { force: true }));
  }
}

describe('the built client', () => {
  it('emits JavaScript with type declarations that package.json exports as confighub/client', () => {
    const pkg = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8'));
    expect(pkg.exports['./client']).toEqual({ types: './dist/client/index.d.ts', default: './dist/client/index.js' });
    const declarations = readFileSync(path.join(PROJECT_ROOT, 'dist/client/index.d.ts'), 'utf8');
    expect(declarations).toMatch(/ConfigClient/);
    // Relative imports were rewritten from .ts to .js.
    expect(readFileSync(path.join(PROJECT_ROOT, 'dist/client/index.js'), 'utf8')).toMatch(/from "\.\/configClient\.js"/);
  });

  it('types a TypeScript consumer through the exported declarations', async () => {
    const consumer = path.join(PROJECT_ROOT, 'dist', `consumer-${Math.random().toString(36).slice(2)}.ts`);
    writeFileSync(
      consumer,
      `import { ConfigClient, type ClientStatus } from 'confighub/client';
import { z } from 'zod';
const client = new ConfigClient({ service: 's', hub: { url: 'http://127.0.0.1:1' }, defaults: { operational: { batch_size: 1 } } });
const size: number = client.get('operational.batch_size');
const status: ClientStatus = client.status;
// @ts-expect-error: not a path of the settings
client.get('operational.nope');
// Typed by a zod schema whose optional keys the defaults may leave out.
const Settings = z.object({ a: z.number(), b: z.string().optional() });
const typed = new ConfigClient({ service: 's', hub: { url: 'http://127.0.0.1:1' }, defaults: { a: 1 }, schema: Settings });
const a: number = typed.get('a');
const b: string | undefined = typed.get('b');
export { size, status, a, b };
`,
    );
    try {
      const tsc = path.join(PROJECT_ROOT, 'node_modules/typescript/bin/tsc');
      const args = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2023', '--types', 'node', '--skipLibCheck', consumer];
      const result = await run(process.execPath, [tsc, ...args], { cwd: PROJECT_ROOT }).then(
        () => '',
        (error: { stdout?: string }) => error.stdout ?? String(error),
      );
      expect(result).toBe('');
    } finally {
      await import('node:fs/promises').then((fs) => fs.rm(consumer, { force: true }));
    }
  });

  it('imports under plain Node.js without loading any server code or dependency', async () => {
    const child = await runChild(`
      const client = await import('confighub/client');
      console.log(JSON.stringify(Object.keys(client).sort()));
    `);
    expect(child.stderr).toBe('');
    expect(child.code).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual(expect.arrayContaining(['ConfigClient', 'HubRequestError', 'hubRequest', 'backoffDelay']));
    expect(child.resolved).toContain(pathToFileURL(path.join(PROJECT_ROOT, 'dist/client/index.js')).href);
    expect(child.resolved.filter((url) => SERVER_ONLY.test(url))).toEqual([]);
    expect(child.resolved.filter((url) => url.endsWith('.ts'))).toEqual([]);
  });

  it('follows the hub over graphql-ws and NATS, then close() leaves nothing that keeps the process alive', async () => {
    const child = await runChild(
      `
      import { ConfigClient } from 'confighub/client';
      const defaults = { operational: { batch_size: 1 } };
      const hub = { url: process.env.HUB_URL, token: process.env.HUB_TOKEN };
      const clients = [
        new ConfigClient({ service: 'built-client', hub, defaults, snapshotFile: 'ws.json', live: { via: 'graphql-ws' } }),
        new ConfigClient({ service: 'built-client', hub, defaults, snapshotFile: 'nats.json', live: { via: 'nats', servers: process.env.NATS_URL } }),
      ];
      const before = process.getActiveResourcesInfo().filter((name) => name !== 'TTYWrap');
      for (const client of clients) client.start();
      const statuses = await Promise.all(clients.map((client) => client.ready(15_000)));
      const values = clients.map((client) => client.get('operational.batch_size'));
      await Promise.all(clients.map((client) => client.close()));
      // Closed while still connecting: whatever was under way is released too.
      const hasty = [
        new ConfigClient({ service: 'built-client', hub, defaults, snapshotFile: false, live: { via: 'graphql-ws' } }),
        new ConfigClient({ service: 'built-client', hub, defaults, snapshotFile: false, live: { via: 'nats', servers: process.env.NATS_URL } }),
      ];
      for (const client of hasty) client.start();
      await new Promise((resolve) => setImmediate(resolve));
      await Promise.all(hasty.map((client) => client.close()));
      // Sockets closed by close() leave the loop's books a turn or so later (later still on a busy
      // machine): wait until nothing but what was there before is left, two seconds at most. A socket
      // close() left open would still be there then.
      const active = () => process.getActiveResourcesInfo().filter((name) => name !== 'TTYWrap' && name !== 'FSReqCallback');
      const expected = JSON.stringify(before.filter((name) => name !== 'FSReqCallback'));
      for (let waited = 0; waited < 2_000 && JSON.stringify(active()) !== expected; waited += 10) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const after = active();
      console.log(JSON.stringify({ states: statuses.map((status) => status.state), values, before, after }));
      `,
      { HUB_URL: hubUrl, HUB_TOKEN: hub.adminToken, NATS_URL: nats.url },
    );
    expect(child.stderr).toBe('');
    expect(child.code).toBe(0);
    const report = JSON.parse(child.stdout) as { states: string[]; values: number[]; before: string[]; after: string[] };
    expect(report.states).toEqual(['READY', 'READY']);
    expect(report.values).toEqual([42, 42]);
    expect(report.after.filter((name) => name !== 'FSReqCallback')).toEqual(report.before.filter((name) => name !== 'FSReqCallback'));
    expect(child.resolved.filter((url) => SERVER_ONLY.test(url))).toEqual([]);
  });
});
