import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './support/app.ts';
import { runCli, waitForOutput } from './support/cli.ts';
import { temporaryDir } from './support/client.ts';
import { NatsServer } from './support/nats.ts';
import { type PackedPackage, bytesUnder, installOffline, installedClosure, pack, packedFiles, run } from './support/packages.ts';

// The packages as an outside service gets them: @confighub/client and @confighub/cli packed with `npm pack`,
// installed offline into a fresh project outside this checkout, and used there as the README says: the CLI
// scaffolds the service (`confighub init`), the service is type-checked without skipLibCheck against the
// installed declarations and the generated settings, then runs against a real hub and reloads a change.

const SERVICE = 'packaged-service';
const SCHEMA = {
  type: 'object',
  required: ['operational'],
  additionalProperties: false,
  properties: {
    operational: {
      type: 'object',
      required: ['batch_size', 'interval_s'],
      additionalProperties: false,
      properties: {
        batch_size: { type: 'integer', minimum: 1, maximum: 1000, default: 100, description: 'Bars fetched per batch' },
        interval_s: { type: 'number', exclusiveMinimum: 0, default: 30 },
      },
    },
    features: { type: 'object', properties: { fast_path: { type: 'boolean', default: false } } },
  },
};

let hub: TestApp;
let hubUrl: string;
let nats: NatsServer;
let client: PackedPackage;
let cli: PackedPackage;
const packs = temporaryDir('confighub-packs-');
const project = temporaryDir('confighub-outside-service-');
const bin = (name: string) => path.join(project.dir, 'node_modules', '.bin', name);

/** `confighub <args>` as installed in the project, as the admin unless `token` says otherwise. */
function confighub(args: string[], token = hub.adminToken) {
  return runCli([bin('confighub'), ...args], { raw: true, cwd: project.dir, env: { CONFIGHUB_URL: hubUrl, CONFIGHUB_TOKEN: token } });
}

beforeAll(async () => {
  // `npm test` needs no separate build step: packing builds both packages (their prepack).
  client = await pack('client', packs.dir);
  cli = await pack('cli', packs.dir);
  // The service's own tools come from the same lockfile; NATS, Ajv and RE2JS are the client's optional peers.
  await installOffline(project.dir, [client, cli], ['typescript', '@types/node', '@nats-io/transport-node', 'ajv', 'ajv-formats', 're2js', '@openfeature/server-sdk']);
  nats = await NatsServer.start();
  hub = await createTestApp('pglite', { natsUrl: nats.url });
  hubUrl = await hub.app.start();
}, 240_000);

afterAll(async () => {
  await hub?.close();
  await nats?.stop();
  packs.remove();
  project.remove();
});

describe('the packed packages', () => {
  it('install without install scripts, carry only built files, and the client brings no server', async () => {
    for (const { manifest } of [client, cli]) {
      expect(Object.keys(manifest.scripts ?? {}).filter((name) => /install|prepare/.test(name))).toEqual([]);
    }
    for (const file of [...(await packedFiles(client.tarball)), ...(await packedFiles(cli.tarball))]) {
      expect(file).toMatch(/^(package\.json|README\.md|bin\/confighub\.js|dist\/.+\.(js|d\.ts))$/);
    }
    expect(Object.keys(client.manifest.dependencies ?? {}).sort()).toEqual(['graphql-ws', 'ws']);
    expect(Object.keys(client.manifest.peerDependenciesMeta ?? {}).sort()).toEqual(['@nats-io/transport-node', '@openfeature/server-sdk', 'ajv', 'ajv-formats', 're2js']);
    expect(cli.manifest.dependencies?.['@confighub/client']).toBe(client.manifest.version);
    // What installing the client alone brings (no NATS): under the 5 MB goal.
    const installed = installedClosure(project.dir, '@confighub/client');
    expect(installed.sort()).toEqual(['node_modules/@confighub/client', 'node_modules/graphql', 'node_modules/graphql-ws', 'node_modules/ws']);
    const bytes = installed.reduce((sum, at) => sum + bytesUnder(path.join(project.dir, at)), 0);
    console.log(`@confighub/client installs ${(bytes / 1e6).toFixed(2)} MB with its dependencies (${installed.join(', ')})`);
    expect(bytes).toBeLessThan(5e6);
  });

  it('runs the installed confighub command', async () => {
    const version = await confighub(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(cli.manifest.version);
    const help = await confighub(['help', 'init']);
    expect(help.stdout).toMatch(/^Usage: confighub init <service> --schema FILE/);
    // This package has no gateway: serve says so instead of failing obscurely.
    const serve = await confighub(['serve']);
    expect(serve.code).toBe(1);
    expect(serve.stderr).toMatch(/no gateway to start/);
  });

  it('init -> typed settings -> a service that type-checks without skipLibCheck, runs and reloads a change', async () => {
    writeFileSync(path.join(project.dir, 'schema.json'), JSON.stringify(SCHEMA));
    mkdirSync(path.join(project.dir, 'src'), { recursive: true });
    const init = await confighub(['init', SERVICE, '--schema', 'schema.json', '--out', `src/${SERVICE}.settings.ts`, '--json']);
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    const scaffold = init.json<{ schemaVersion: number; configVersion: number; token: string; settingsFile: string; code: string }>();
    expect(scaffold).toMatchObject({ schemaVersion: 1, configVersion: 1, settingsFile: `src/${SERVICE}.settings.ts` });
    // The config starts as the schema's defaults.
    const stored = await confighub(['get', SERVICE, '--json']);
    expect(stored.json().config).toEqual({ operational: { batch_size: 100, interval_s: 30 }, features: { fast_path: false } });

    // The service: the code init printed, pasted, then what the service does with its settings.
    const settingsModule = `./${SERVICE}.settings.js`;
    writeFileSync(
      path.join(project.dir, 'src', 'main.ts'),
      `${scaffold.code}
import { jsonSchemaSettings } from '@confighub/client/json-schema';
import { schema } from '${settingsModule}';

const batch: number = config.get('operational.batch_size');
const fast: boolean | undefined = config.get('features.fast_path');
// @ts-expect-error: not a setting of the schema
config.get('operational.batchsize');
console.log(JSON.stringify({ state: config.status.state, batch, fast }));
config.onChange((next) => console.log(JSON.stringify({ changed: next.operational.batch_size })));
// The hub's own validator, on the service's side.
const checked = jsonSchemaSettings<Settings>(schema).safeParse({ operational: { batch_size: 5000, interval_s: 1 } });
console.log(JSON.stringify({ refused: checked.success ? null : checked.error.issues }));
process.on('SIGTERM', () => void config.close().then(() => process.exit(0)));
`,
    );
    writeFileSync(
      path.join(project.dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2023', skipLibCheck: false, types: ['node'], rootDir: 'src', outDir: 'dist' },
        include: ['src'],
      }),
    );
    const tsc = await run(bin('tsc'), ['-p', '.'], { cwd: project.dir }).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    expect(tsc).toBe('');

    const service = spawn(process.execPath, ['dist/main.js'], {
      cwd: project.dir,
      env: { PATH: process.env.PATH ?? '', CONFIGHUB_URL: hubUrl, CONFIGHUB_TOKEN: scaffold.token },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const started = await waitForOutput(service, 'stdout', /"refused"/);
      const lines = started.trim().split('\n').map((line) => JSON.parse(line));
      expect(lines[0]).toEqual({ state: 'READY', batch: 100, fast: false });
      // The client refuses with the hub's own words.
      expect(lines[1].refused).toEqual([{ path: ['operational', 'batch_size'], message: 'must be <= 1000' }]);
      const hubRefusal = await confighub(['set', SERVICE, 'operational.batch_size=5000', '--json']);
      expect(hubRefusal.code).toBe(3);
      expect(JSON.parse(hubRefusal.stderr).error.message).toBe('/config/operational/batch_size: must be <= 1000');

      // The reader token init made reads its service only: it cannot write.
      expect((await confighub(['set', SERVICE, 'operational.batch_size=7'], scaffold.token)).code).toBe(4);
      const changed = waitForOutput(service, 'stdout', /"changed":7/);
      expect((await confighub(['set', SERVICE, 'operational.batch_size=7'])).code).toBe(0);
      await changed;
    } finally {
      service.kill('SIGTERM');
    }
    expect(await new Promise((resolve) => service.once('exit', resolve))).toBe(0);
  });

  it("the OpenFeature provider evaluates the features section with the SDK's own API and follows changes", async () => {
    writeFileSync(
      path.join(project.dir, 'flags.mjs'),
      `import { OpenFeature, ProviderEvents } from '@openfeature/server-sdk';
import { ConfigClient } from '@confighub/client';
import { ConfighubProvider } from '@confighub/client/openfeature';
const config = new ConfigClient({ service: ${JSON.stringify(SERVICE)}, hub: { url: process.env.HUB_URL, token: process.env.HUB_TOKEN }, defaults: { features: { fast_path: true } }, snapshotFile: false }).start();
await config.ready(15_000);
await OpenFeature.setProviderAndWait(new ConfighubProvider(config));
const flags = OpenFeature.getClient();
const before = await flags.getBooleanDetails('fast_path', true);
const missing = await flags.getBooleanDetails('no_such_flag', true);
const mismatch = await flags.getStringDetails('fast_path', 'fallback');
const changed = new Promise((resolve) => flags.addHandler(ProviderEvents.ConfigurationChanged, (details) => resolve(details.flagsChanged)));
console.log('following');
const flagsChanged = await changed;
const after = await flags.getBooleanDetails('fast_path', false);
const pick = ({ value, reason, errorCode }) => ({ value, reason, errorCode: errorCode ?? null });
console.log(JSON.stringify({ before: pick(before), missing: pick(missing), mismatch: pick(mismatch), flagsChanged, after: pick(after) }));
await OpenFeature.close();
await config.close();
`,
    );
    const child = spawn(process.execPath, ['flags.mjs'], { cwd: project.dir, env: { PATH: process.env.PATH ?? '', HUB_URL: hubUrl, HUB_TOKEN: hub.adminToken }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await waitForOutput(child, 'stdout', /following/);
    const reported = waitForOutput(child, 'stdout', /"after"/);
    expect((await confighub(['set', SERVICE, 'features.fast_path=true', '--no-wait'])).code).toBe(0);
    const report = JSON.parse((await reported).trim().split('\n').at(-1)!);
    expect(await exited, stderr).toBe(0);
    expect(report).toEqual({
      before: { value: false, reason: 'STATIC', errorCode: null },
      missing: { value: true, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' },
      mismatch: { value: 'fallback', reason: 'ERROR', errorCode: 'TYPE_MISMATCH' },
      flagsChanged: ['fast_path'],
      after: { value: true, reason: 'STATIC', errorCode: null },
    });
  });

  it('types --check tells when the hub has moved on from the generated settings', async () => {
    const file = `src/${SERVICE}.settings.ts`;
    expect((await confighub(['types', SERVICE, '--check', file])).code).toBe(0);
    const wider = structuredClone(SCHEMA) as any;
    wider.properties.operational.properties.retries = { type: 'integer', minimum: 0, default: 3 };
    writeFileSync(path.join(project.dir, 'wider.json'), JSON.stringify(wider));
    expect((await confighub(['schema', 'set', SERVICE, 'wider.json'])).code).toBe(0);
    const stale = await confighub(['types', SERVICE, '--check', file]);
    expect(stale.code).toBe(6);
    expect(stale.stderr).toMatch(/out of date: packaged-service's schema is at version 2/);
    expect((await confighub(['types', SERVICE, '--out', file])).code).toBe(0);
    expect(readFileSync(path.join(project.dir, file), 'utf8')).toMatch(/ retries: number;/);
    expect((await confighub(['types', SERVICE, '--check', file])).code).toBe(0);
    // Without --out: the module on stdout.
    const printed = await confighub(['types', SERVICE]);
    expect(printed.stdout).toBe(readFileSync(path.join(project.dir, file), 'utf8'));
  });

  it('follows the hub over graphql-ws and NATS from the installed package, and close() leaves nothing running', async () => {
    const script = path.join(project.dir, 'follow.mjs');
    writeFileSync(
      script,
      `import { ConfigClient } from '@confighub/client';
const defaults = { operational: { batch_size: 1 } };
const hub = { url: process.env.HUB_URL, token: process.env.HUB_TOKEN };
const service = ${JSON.stringify(SERVICE)};
const clients = [
  new ConfigClient({ service, hub, defaults, snapshotFile: 'ws.json', live: { via: 'graphql-ws' } }),
  new ConfigClient({ service, hub, defaults, snapshotFile: 'nats.json', live: { via: 'nats', servers: process.env.NATS_URL } }),
];
const before = process.getActiveResourcesInfo().filter((name) => name !== 'TTYWrap');
for (const client of clients) client.start();
const statuses = await Promise.all(clients.map((client) => client.ready(15_000)));
const values = clients.map((client) => client.get('operational.batch_size'));
await Promise.all(clients.map((client) => client.close()));
// Closed while still connecting: whatever was under way is released too.
const hasty = [
  new ConfigClient({ service, hub, defaults, snapshotFile: false, live: { via: 'graphql-ws' } }),
  new ConfigClient({ service, hub, defaults, snapshotFile: false, live: { via: 'nats', servers: process.env.NATS_URL } }),
];
for (const client of hasty) client.start();
await new Promise((resolve) => setImmediate(resolve));
await Promise.all(hasty.map((client) => client.close()));
// Sockets closed by close() leave the loop's books a turn or so later: wait until nothing but what was
// there before is left, two seconds at most. A socket close() left open would still be there then.
const active = () => process.getActiveResourcesInfo().filter((name) => name !== 'TTYWrap' && name !== 'FSReqCallback');
const expected = JSON.stringify(before.filter((name) => name !== 'FSReqCallback'));
for (let waited = 0; waited < 2_000 && JSON.stringify(active()) !== expected; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
console.log(JSON.stringify({ states: statuses.map((status) => status.state), values, before, after: active() }));
`,
    );
    // Every module it loads is logged: all of them must come from the project (or Node itself).
    const log = path.join(project.dir, 'resolved.log');
    const hooks = path.join(project.dir, 'hooks.mjs');
    writeFileSync(
      hooks,
      `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, result.url + '\\n');
  return result;
}`,
    );
    writeFileSync(path.join(project.dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
    const child = await runCli([process.execPath, '--import', './register.mjs', script], {
      raw: true,
      cwd: project.dir,
      env: { HUB_URL: hubUrl, HUB_TOKEN: hub.adminToken, NATS_URL: nats.url },
      timeoutMs: 20_000,
    });
    expect(child.stderr).toBe('');
    expect(child.code).toBe(0);
    const report = child.json<{ states: string[]; values: number[]; before: string[]; after: string[] }>();
    expect(report.states).toEqual(['READY', 'READY']);
    const live = (await confighub(['get', SERVICE, '--json'])).json().config.operational.batch_size;
    expect(report.values).toEqual([live, live]);
    expect(report.after).toEqual(report.before.filter((name) => name !== 'FSReqCallback'));
    const projectUrl = pathToFileURL(project.dir).href;
    const resolved = readFileSync(log, 'utf8').trim().split('\n');
    expect(resolved.filter((url) => !url.startsWith('node:') && !url.startsWith(projectUrl))).toEqual([]);
    expect(resolved).toContain(`${projectUrl}/node_modules/@confighub/client/dist/client/index.js`);
  });
});
