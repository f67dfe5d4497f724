import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigClient } from '../src/client/index.ts';
import type { TestApp } from './support/app.ts';
import { type CliHub, runCli, startCliHub } from './support/cli.ts';
import { createConfig } from './support/client.ts';

// The CLI's habits beyond reading and writing one config: output formats, a config's life (create,
// delete, restore), the fleet (instances, and set exiting 7 when an instance refuses what it wrote), and
// old -> new values wherever a change is shown. Against a real gateway, each command its own process.

vi.setConfig({ testTimeout: 180_000 });

let hub: TestApp, url: string, workDir: string, cli: CliHub['cli'], close: CliHub['close'] | undefined;
beforeAll(async () => ({ hub, url, workDir, cli, close } = await startCliHub('cli-lifecycle')));
afterAll(() => close?.());

describe('output formats', () => {
  it('-o json|yaml|text on a read command, anywhere on the line; an unknown format is a usage error', async () => {
    await createConfig(hub, 'formats', { operational: { batch_size: 10 } });
    const yaml = await cli(['-o', 'yaml', 'get', 'formats']);
    expect(yaml.code).toBe(0);
    expect(parseYaml(yaml.stdout)).toMatchObject({ service: 'formats', version: 1, config: { operational: { batch_size: 10 } } });
    const json = await cli(['get', 'formats', '-o', 'json']);
    expect(JSON.parse(json.stdout)).toEqual(parseYaml(yaml.stdout));
    const text = await cli(['get', 'formats', '--output=text']);
    expect(JSON.parse(text.stdout)).toEqual({ operational: { batch_size: 10 } });
    // list says when each config was last updated.
    const listed = await cli(['list', '-o', 'table']);
    expect(listed.stdout).toMatch(/formats\s+1\s+\d{4}-\d\d-\d\d \d\d:\d\d/);
    const bad = await cli(['get', 'formats', '-o', 'xml']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/-o must be text, table, json or yaml, not "xml"/);
    // Errors in YAML for a YAML reader.
    const missing = await cli(['get', 'no-such-service', '-o', 'yaml']);
    expect(missing.code).toBe(2);
    expect(parseYaml(missing.stderr)).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });
});

describe("a config's life", () => {
  it('create from settings or a file; delete asks (or --yes); restore brings it back', async () => {
    const created = await cli(['create', 'lifecycle', 'operational.batch_size=5', 'features.fast=true', '--description', 'made by the CLI']);
    expect(created.stderr).toBe('');
    expect(created.stdout).toMatch(/lifecycle \(production\): created, version 1/);
    expect(JSON.parse((await cli(['get', 'lifecycle'])).stdout)).toEqual({ operational: { batch_size: 5 }, features: { fast: true } });
    const again = await cli(['create', 'lifecycle']);
    expect(again.code).toBe(3);
    const yamlFile = path.join(workDir, 'new.yaml');
    writeFileSync(yamlFile, 'operational:\n  batch_size: 7\n');
    expect((await cli(['create', 'lifecycle-from-file', yamlFile])).code).toBe(0);
    expect(JSON.parse((await cli(['get', 'lifecycle-from-file'])).stdout)).toEqual({ operational: { batch_size: 7 } });

    // Not a terminal and no --yes: nothing is deleted.
    const unasked = await cli(['delete', 'lifecycle']);
    expect(unasked.code).toBe(1);
    expect(unasked.stderr).toMatch(/add --yes/);
    expect((await cli(['get', 'lifecycle'])).code).toBe(0);
    const deleted = await cli(['delete', 'lifecycle', '--yes', '--reason', 'retired']);
    expect(deleted.code).toBe(0);
    expect((await cli(['get', 'lifecycle'])).code).toBe(2);
    const restored = await cli(['restore', 'lifecycle']);
    expect(restored.code).toBe(0);
    expect(JSON.parse((await cli(['get', 'lifecycle'])).stdout)).toEqual({ operational: { batch_size: 5 }, features: { fast: true } });
    expect((await cli(['restore', 'no-such-service'])).code).toBe(2);
  });
});

describe('old -> new', () => {
  it('set, diff, history and rollback show the value a change replaced beside the new one', async () => {
    await createConfig(hub, 'old-new', { operational: { batch_size: 1, retries: 3 } });
    const set = await cli(['set', 'old-new', 'operational.batch_size=2', 'operational.retries=null']);
    expect(set.stdout).toContain('~ /operational/batch_size: 1 -> 2');
    expect(set.stdout).toContain('- /operational/retries: 3');
    const diff = await cli(['diff', 'old-new', '1', '2']);
    expect(diff.stdout).toContain('~ /operational/batch_size: 1 -> 2');
    const history = await cli(['history', 'old-new']);
    expect(history.stdout).toContain('~ /operational/batch_size: 1 -> 2');
    const rollback = await cli(['rollback', 'old-new', '1']);
    expect(rollback.stdout).toContain('~ /operational/batch_size: 2 -> 1');
    expect(rollback.stdout).toContain('+ /operational/retries: 3');
  });
});

describe('the fleet', () => {
  it('instances lists what each runs; set exits 7 naming the instance that refused the new version', async () => {
    await createConfig(hub, 'fleet', { operational: { batch_size: 10 } });
    // An instance whose own schema allows batches of at most 100: the hub (no schema) takes 500.
    const client = new ConfigClient({
      service: 'fleet',
      hub: { url, token: hub.adminToken },
      defaults: { operational: { batch_size: 1 } },
      schema: z.object({ operational: z.object({ batch_size: z.number().max(100) }) }),
      snapshotFile: false,
      instanceId: 'fleet-1',
    }).start();
    try {
      await client.ready(15_000);
      // The report of the applied version reaches the hub after the fetch.
      for (let waited = 0; waited < 10_000; waited += 100) {
        const listed = JSON.parse((await cli(['instances', 'fleet', '--json'])).stdout);
        if (listed.instances[0]?.appliedVersion === 1) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const listed = await cli(['instances', 'fleet']);
      expect(listed.stdout).toMatch(/fleet-1\s+READY\s+1\s+-/);

      const refused = await cli(['set', 'fleet', 'operational.batch_size=500']);
      expect(refused.code).toBe(7);
      expect(refused.stdout).toContain('~ /operational/batch_size: 10 -> 500');
      expect(refused.stderr).toMatch(/version 2 of fleet \(production\) was written, but 1 instance refused it/);
      expect(refused.stderr).toMatch(/fleet-1: .*100/);
      const after = JSON.parse((await cli(['instances', 'fleet', '-o', 'json'])).stdout);
      expect(after).toMatchObject({ version: 2, instances: [{ instance: 'fleet-1', appliedVersion: 1, rejectedVersion: 2 }] });

      // Taken: exit 0. --no-wait does not look.
      expect((await cli(['set', 'fleet', 'operational.batch_size=50'])).code).toBe(0);
      expect((await cli(['set', 'fleet', 'operational.batch_size=700', '--no-wait'])).code).toBe(0);
    } finally {
      await client.close();
    }
  });
});

describe('tokens, timeouts and contexts', () => {
  it('tokens rotate gives a new secret with the same scope and refuses the old one; --expires-in sets the expiry', async () => {
    await createConfig(hub, 'rotated-for', { a: 1 });
    const before = Date.now();
    const created = await cli(['tokens', 'create', 'rotating', '--role', 'READER', '--services', 'rotated-for', '--expires-in', '30d', '--json']);
    expect(created.code).toBe(0);
    const first = created.json<{ token: string; expiresAt: string }>();
    const expiry = Date.parse(first.expiresAt) - before;
    expect(expiry).toBeGreaterThan(30 * 86_400_000 - 60_000);
    expect(expiry).toBeLessThan(30 * 86_400_000 + 60_000);
    expect((await cli(['whoami'], { env: { CONFIGHUB_TOKEN: first.token } })).code).toBe(0);

    const rotated = await cli(['tokens', 'rotate', 'rotating', '--json']);
    expect(rotated.code).toBe(0);
    const second = rotated.json<{ token: string; role: string; services: string[]; expiresAt: string }>();
    expect(second.token).not.toBe(first.token);
    expect(second).toMatchObject({ role: 'READER', services: ['rotated-for'], expiresAt: first.expiresAt });
    expect((await cli(['whoami'], { env: { CONFIGHUB_TOKEN: first.token } })).code).toBe(4);
    expect((await cli(['get', 'rotated-for'], { env: { CONFIGHUB_TOKEN: second.token } })).code).toBe(0);

    expect((await cli(['tokens', 'rotate', 'no-such-token'])).code).toBe(3);
    const badDuration = await cli(['tokens', 'create', 'x', '--role', 'READER', '--expires-in', '30 days']);
    expect(badDuration.code).toBe(1);
    expect(badDuration.stderr).toMatch(/--expires-in must be a duration such as 90m, 12h, 30d or 8w/);
  });

  it('--timeout bounds a request; a malformed one is a usage error', async () => {
    // A port that accepts connections and never answers.
    const { createServer } = await import('node:net');
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const started = Date.now();
      const result = await cli(['get', 'formats', '--timeout', '300ms', '--url', `http://127.0.0.1:${port}`]);
      expect(result.code).toBe(5);
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      silent.close();
    }
    expect((await cli(['get', 'formats', '--timeout', 'soon'])).code).toBe(1);
  });

  it('contexts: set, list and use name hubs; the flags and the environment still win', async () => {
    const config = path.join(workDir, 'contexts.json');
    const env = { CONFIGHUB_CONFIG: config, CONFIGHUB_URL: undefined, CONFIGHUB_TOKEN: undefined };
    expect((await cli(['context', 'set', 'test-hub', '--url', url, '--token', hub.adminToken, '-e', 'ctx-env'], { env })).code).toBe(0);
    expect((await cli(['context', 'set', 'elsewhere', '--url', 'http://127.0.0.1:9'], { env })).code).toBe(0);
    const listed = await cli(['context', 'list'], { env });
    expect(listed.stdout).toMatch(/\*\s+test-hub\s+http:\/\/127\.0\.0\.1:\d+\s+ctx-env\s+set/);
    // The context gives the hub, the token and the environment.
    const created = await cli(['create', 'ctx-service', 'a=1'], { env });
    expect(created.stdout).toMatch(/ctx-service \(ctx-env\): created/);
    expect((await cli(['use-nothing'], { env })).code).toBe(1);
    expect((await cli(['context', 'use', 'elsewhere'], { env })).code).toBe(0);
    expect((await cli(['get', 'ctx-service', '-e', 'ctx-env'], { env })).code).toBe(5);
    // A flag wins; the other context's token is not sent to a hub the flag names.
    expect((await cli(['get', 'ctx-service', '-e', 'ctx-env', '--url', url], { env })).code).toBe(4);
    expect((await cli(['get', 'ctx-service', '-e', 'ctx-env'], { env: { ...env, CONFIGHUB_CONTEXT: 'test-hub' } })).code).toBe(0);
    expect((await cli(['context', 'use', 'nowhere'], { env })).code).toBe(2);
    expect((await cli(['context', 'delete', 'elsewhere'], { env })).code).toBe(0);
    expect(JSON.parse(readFileSync(config, 'utf8'))).toEqual({ current: undefined, contexts: { 'test-hub': { url, token: hub.adminToken, environment: 'ctx-env' } } });
    expect(statSync(config).mode & 0o777).toBe(0o600);
  });

  it('completion bash completes commands, actions and options', async () => {
    const script = await cli(['completion', 'bash']);
    expect(script.code).toBe(0);
    const scriptFile = path.join(workDir, 'completion.bash');
    writeFileSync(scriptFile, script.stdout);
    const complete = (words: string[]) =>
      runCli(['bash', '-c', `source ${scriptFile}; COMP_WORDS=(${words.map((word) => `'${word}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _confighub; echo "\${COMPREPLY[@]}"`], { raw: true });
    expect((await complete(['confighub', 'inst'])).stdout.trim()).toBe('instances');
    expect((await complete(['confighub', 'tokens', 'ro'])).stdout.trim()).toBe('rotate');
    expect((await complete(['confighub', 'set', 'svc', '--no-'])).stdout.trim()).toBe('--no-wait');
    expect((await complete(['confighub', '-o', 'json', 'ty'])).stdout.trim()).toBe('types');
  });
});

describe('catalog', () => {
  it("lists each service's settings from its schema, for the services the token may read", async () => {
    await createConfig(hub, 'catalogued', { operational: { batch_size: 100, mode: 'safe' } });
    const schema = {
      type: 'object',
      required: ['operational'],
      properties: {
        operational: {
          type: 'object',
          required: ['batch_size'],
          properties: {
            batch_size: { type: 'integer', minimum: 1, maximum: 1000, default: 100, description: 'Bars per batch' },
            mode: { type: 'string', enum: ['fast', 'safe'], default: 'safe' },
          },
        },
      },
    };
    const set = await hub.graphql(`mutation($input: SetConfigSchemaInput!) { setConfigSchema(input: $input) { __typename } }`, { input: { service: 'catalogued', schema } });
    expect(set.data).toEqual({ setConfigSchema: { __typename: 'ConfigSchema' } });

    const human = await cli(['catalog', 'catalogued']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^catalogued \(schema version 1\)/);
    expect(human.stdout).toMatch(/operational\.batch_size\s+integer\s+100\s+>= 1, <= 1000\s+Bars per batch/);
    expect(human.stdout).toMatch(/operational\.mode\?\s+string\s+"safe"\s+one of "fast", "safe"/);
    const [entry] = (await cli(['catalog', '-o', 'json'])).json<{ service: string; fields: { pointer: string; required: boolean; maximum: number | null }[] }[]>().filter((item) => item.service === 'catalogued');
    expect(entry!.fields).toContainEqual(expect.objectContaining({ pointer: '/operational/batch_size', required: true, maximum: 1000 }));

    // A reader of another service does not see it.
    const token = (await cli(['tokens', 'create', 'catalog-reader', '--role', 'READER', '--services', 'formats', '--json'])).json<{ token: string }>().token;
    const scoped = await cli(['catalog', '-o', 'json'], { env: { CONFIGHUB_TOKEN: token } });
    expect(scoped.json<{ service: string }[]>().map((item) => item.service)).not.toContain('catalogued');
    expect((await cli(['catalog', 'no-schema-here'])).code).toBe(2);
    const tooMany = await hub.graphql(`query($services: [String!]) { configCatalog(services: $services) { service } }`, { services: Array.from({ length: 101 }, (_, i) => `s${i}`) });
    expect(tooMany.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe("the pilot's generated settings", () => {
  it("match the hub's schema of the service (confighub types --check), so the pilot and the hub agree", async () => {
    const file = path.join(fileURLToPath(new URL('../', import.meta.url)), 'examples/polygon-historical-downloader/src/settings.generated.ts');
    const checked = await cli(['types', 'polygon-historical-downloader', '--check', file]);
    expect(checked.stderr).toBe('');
    expect(checked.code).toBe(0);
  });
});
