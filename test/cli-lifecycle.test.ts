import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigClient } from '../src/client/index.ts';
import { type TestApp, createTestApp } from './support/app.ts';
import { type CliOptions, runCli } from './support/cli.ts';
import { createConfig } from './support/client.ts';

// The CLI's habits beyond reading and writing one config: output formats, a config's life (create,
// delete, restore), the fleet (instances, and set exiting 7 when an instance refuses what it wrote), and
// old -> new values wherever a change is shown. Against a real gateway, each command its own process.

vi.setConfig({ testTimeout: 180_000 });

let hub: TestApp;
let url: string;
let workDir: string;

beforeAll(async () => {
  hub = await createTestApp('pglite');
  url = await hub.app.start();
  workDir = mkdtempSync(path.join(tmpdir(), 'confighub-cli-lifecycle-'));
});

afterAll(async () => {
  await hub?.close();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

function cli(args: string[], options: CliOptions = {}) {
  return runCli(args, { ...options, env: { CONFIGHUB_URL: url, CONFIGHUB_TOKEN: hub.adminToken, CONFIGHUB_DATA_DIR: workDir, ...options.env } });
}

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
