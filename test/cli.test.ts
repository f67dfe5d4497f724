import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mergePatchFromAssignments } from '../src/cli/mergePatch.ts';
import type { TestApp } from './support/app.ts';
import { type CliHub, runCli, spawnCli, startCliHub, waitForOutput } from './support/cli.ts';
import { freePort } from './support/waiting.ts';

// The `confighub` command as users run it (bin/confighub.mjs, a child process) against a real gateway
// listening on a real port. Each test works on its own service or environment, so they do not interfere.

const DOWNLOADER = 'polygon-historical-downloader';
const AGGREGATOR = 'tick-aggregator';
const COLLECTOR = 'polygon-live-collector';

// Every command is a new Node process (~1-2 s each on a quiet two-core machine, far more under load).
vi.setConfig({ testTimeout: 180_000 });

let hub: TestApp, url: string, workDir: string, cli: CliHub['cli'], close: CliHub['close'] | undefined;
beforeAll(async () => ({ hub, url, workDir, cli, close } = await startCliHub('cli')));
afterAll(() => close?.());

/** The live config as the hub has it (read in-process, not through the CLI under test). */
async function liveConfig(service: string, environment = 'production') {
  const { data } = await hub.graphql<{ config: { version: number; config: Record<string, any> } }>(
    `query($service: String!, $environment: String) { config(service: $service, environment: $environment) { ... on ServiceConfig { version config } } }`,
    { service, environment },
  );
  return data!.config;
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function file(name: string, content: unknown): string {
  const target = path.join(workDir, name);
  writeFileSync(target, typeof content === 'string' ? content : JSON.stringify(content));
  return target;
}

describe('key.path=value assignments', () => {
  it('become one merge patch: JSON values where they parse, text otherwise, null to remove', () => {
    expect(mergePatchFromAssignments(['a.b=1', 'a.c=true', 'a.d=null', 'e="8"', 'f=sp500', 'g=[1,"x"]', 'h={"i":2}', 'j='])).toEqual({
      a: { b: 1, c: true, d: null },
      e: '8',
      f: 'sp500',
      g: [1, 'x'],
      h: { i: 2 },
      j: '',
    });
    expect(mergePatchFromAssignments(['url=http://x/?a=b'])).toEqual({ url: 'http://x/?a=b' });
    expect(mergePatchFromAssignments(['dotted\\.key.inner=1'])).toEqual({ 'dotted.key': { inner: 1 } });
  });

  it('refuses what is not an assignment, empty keys and two assignments of one key', () => {
    for (const assignments of [[], ['novalue'], ['=1'], ['a..b=1'], ['a.=1'], ['a=1', 'a.b=2'], ['a.b=2', 'a=1'], ['a=1', 'a=2']]) {
      expect(() => mergePatchFromAssignments(assignments), JSON.stringify(assignments)).toThrow();
    }
  });
});

describe('reading', () => {
  it('get prints the live config for people and as JSON for scripts', async () => {
    const live = await liveConfig(AGGREGATOR);
    const [human, machine] = await Promise.all([cli(['get', AGGREGATOR]), cli(['get', AGGREGATOR, '--json'])]);
    expect(human.code).toBe(0);
    // The document alone on stdout (`confighub get svc > svc.json`); who wrote it when, on stderr.
    expect(JSON.parse(human.stdout)).toEqual(live.config);
    expect(human.stderr).toContain(`${AGGREGATOR} (production) version ${live.version}`);
    expect(machine.code).toBe(0);
    expect(machine.stderr).toBe('');
    expect(machine.json()).toMatchObject({ service: AGGREGATOR, environment: 'production', version: live.version, config: live.config });
    expect(machine.json()).not.toHaveProperty('__typename');
    expect(machine.json()).not.toHaveProperty('id');
  });

  it('list names every config of an environment', async () => {
    const result = await cli(['list', '--json']);
    expect(result.code).toBe(0);
    expect(result.json().map((config: { service: string }) => config.service)).toEqual(expect.arrayContaining([DOWNLOADER, AGGREGATOR, COLLECTOR]));
  });

  it('an unknown service exits 2 with a message naming it', async () => {
    const [get, history, human] = await Promise.all([
      cli(['get', 'no-such-service', '--json']),
      cli(['history', 'no-such-service']),
      cli(['get', 'no-such-service']),
    ]);
    for (const result of [get, history, human]) {
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('no-such-service');
    }
    expect(JSON.parse(get.stderr)).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });
});

describe('writing', () => {
  it('set builds a merge patch from key paths, parsing JSON values, and records the reason', async () => {
    const before = await liveConfig(COLLECTOR);
    const result = await cli(
      ['set', COLLECTOR, 'operational.write_batch_size=2500', 'features.enable_crypto=true', 'business.subscribed_symbols=["SPY","IWM"]', '--reason', 'wider universe', '--json'],
    );
    expect(result.code, result.stderr).toBe(0);
    const write = result.json();
    expect(write).toMatchObject({ previousVersion: before.version, changed: true, config: { version: before.version + 1 } });
    const after = await liveConfig(COLLECTOR);
    expect(after.version).toBe(before.version + 1);
    expect(after.config.operational.write_batch_size).toBe(2500);
    expect(after.config.features.enable_crypto).toBe(true);
    expect(after.config.business.subscribed_symbols).toEqual(['SPY', 'IWM']);
    // Untouched keys stay (a merge patch, not a replacement).
    expect(after.config.operational.heartbeat_interval_seconds).toBe(before.config.operational.heartbeat_interval_seconds);

    const history = await cli(['history', COLLECTOR, '--limit', '1', '--json']);
    expect(history.json()).toEqual([expect.objectContaining({ version: after.version, reason: 'wider universe', action: 'UPDATE' })]);
  });

  it('set prints the versions and the diff for people; text that is not JSON stays a string', async () => {
    const before = await liveConfig(COLLECTOR);
    const result = await cli(['set', COLLECTOR, 'business.note=backfill week']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`version ${before.version} -> ${before.version + 1}`);
    expect(result.stdout).toContain('+ /business/note: "backfill week"');
    expect((await liveConfig(COLLECTOR)).config.business.note).toBe('backfill week');
  });

  it('a stale --expected-version exits 3 with the current version and writes nothing', async () => {
    const before = await liveConfig(COLLECTOR);
    const result = await cli(['set', COLLECTOR, 'operational.write_batch_size=1', '--expected-version', String(before.version - 1)]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`version ${before.version}`);
    expect(await liveConfig(COLLECTOR)).toEqual(before);
  });

  it("a value the service's schema refuses exits 3 with its JSON pointer; a secret too", async () => {
    const before = await liveConfig(DOWNLOADER);
    const [invalid, secret] = await Promise.all([
      cli(['set', DOWNLOADER, 'operational.batch_size=lots']),
      cli(['set', DOWNLOADER, 'operational.db_password=hunter22', '--json']),
    ]);
    expect(invalid.code).toBe(3);
    expect(invalid.stderr).toContain('/operational/batch_size');
    expect(secret.code).toBe(3);
    expect(JSON.parse(secret.stderr)).toMatchObject({ error: { code: 'SECRET_REJECTED' } });
    expect(await liveConfig(DOWNLOADER)).toEqual(before);
  });

  it('set --dry-run shows the diff and writes nothing', async () => {
    const before = await liveConfig(DOWNLOADER);
    const result = await cli(['set', DOWNLOADER, 'operational.retry_attempts=9', '--dry-run']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('dry run');
    expect(result.stdout).toMatch(/~ \/operational\/retry_attempts: \d+ -> 9/);
    expect(await liveConfig(DOWNLOADER)).toEqual(before);
  });

  it('patch applies a merge patch from a JSON or YAML file (null removes a key)', async () => {
    const before = await liveConfig(AGGREGATOR);
    const json = await cli(['patch', AGGREGATOR, file('patch.json', { operational: { worker_threads: 6 }, business: { min_trade_size: null } }), '--json']);
    expect(json.code, json.stderr).toBe(0);
    const yaml = await cli(['patch', AGGREGATOR, file('patch.yaml', 'features:\n  publish_partial_bars: true\n')]);
    expect(yaml.code, yaml.stderr).toBe(0);
    const after = await liveConfig(AGGREGATOR);
    expect(after.version).toBe(before.version + 2);
    expect(after.config.operational.worker_threads).toBe(6);
    expect(after.config.business).not.toHaveProperty('min_trade_size');
    expect(after.config.features.publish_partial_bars).toBe(true);
  });

  it('a malformed argument or file is a usage error (exit 1), before anything is sent', async () => {
    const results = await Promise.all([
      cli(['set', AGGREGATOR, 'operational.worker_threads']),
      cli(['set', AGGREGATOR]),
      cli(['patch', AGGREGATOR, file('broken.json', '{"operational": ')]),
      cli(['patch', AGGREGATOR, path.join(workDir, 'missing.json')]),
      cli(['get', AGGREGATOR, '--no-such-option']),
      cli(['frobnicate']),
      cli(['rollback', AGGREGATOR, 'latest']),
    ]);
    for (const result of results) {
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(/^confighub: /);
      expect(result.stdout).toBe('');
    }
    expect(results[5]!.stderr).toContain('unknown command "frobnicate"');
  });

  it('takes the common options before the command as after it; help <command>; CONFIGHUB_ENVIRONMENT', async () => {
    const service = 'habits-demo';
    await hub.graphql(`mutation { createConfig(input: { service: "${service}", environment: "staging", config: { level: 1 } }) { __typename } }`);
    const before = await cli(['--json', '-e', 'staging', 'get', service]);
    expect(before.code, before.stderr).toBe(0);
    expect(before.json()).toMatchObject({ service, environment: 'staging', config: { level: 1 } });
    const withUrl = await cli(['--url', url, '--env=staging', 'get', service, '--json']);
    expect(withUrl.json()).toMatchObject({ environment: 'staging' });

    const fromEnvironment = await cli(['get', service, '--json'], { env: { CONFIGHUB_ENVIRONMENT: 'staging' } });
    expect(fromEnvironment.code, fromEnvironment.stderr).toBe(0);
    expect(fromEnvironment.json()).toMatchObject({ environment: 'staging' });
    const overridden = await cli(['get', service, '-e', 'production'], { env: { CONFIGHUB_ENVIRONMENT: 'staging' } });
    expect(overridden.code).toBe(2);

    const help = await cli(['help', 'get']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: confighub get <service>/);
    expect((await cli(['get', '--help'])).stdout).toBe(help.stdout);
    const unknown = await cli(['help', 'frobnicate']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    const general = await cli(['help']);
    expect(general.code).toBe(0);
    expect(general.stdout).toContain('Options may come before or after the command.');
  });
});

describe('history, diff and rollback', () => {
  it('diff shows the operations between two versions; rollback writes a new version with the old content', async () => {
    const service = 'rollback-demo';
    const created = await hub.graphql(`mutation { createConfig(input: { service: "${service}", config: { limit: 1, mode: "a" } }) { __typename } }`);
    expect(created.data).toEqual({ createConfig: { __typename: 'ConfigWrite' } });
    expect((await cli(['set', service, 'limit=2', 'mode=b'])).code).toBe(0);
    expect((await cli(['set', service, 'limit=3'])).code).toBe(0);

    const diff = await cli(['diff', service, '1', '3', '--json']);
    expect(diff.code, diff.stderr).toBe(0);
    expect(diff.json().operations).toEqual(
      expect.arrayContaining([expect.objectContaining({ op: 'replace', path: '/limit', value: 3 }), expect.objectContaining({ op: 'replace', path: '/mode', value: 'b' })]),
    );

    const conflict = await cli(['rollback', service, '1', '--expected-version', '2']);
    expect(conflict.code).toBe(3);
    const rollback = await cli(['rollback', service, '1', '--expected-version', '3', '--reason', 'undo', '--json']);
    expect(rollback.code, rollback.stderr).toBe(0);
    expect(await liveConfig(service)).toEqual({ version: 4, config: { limit: 1, mode: 'a' } });

    const history = await cli(['history', service, '--json']);
    expect(history.json().map((change: { version: number; action: string }) => [change.version, change.action])).toEqual([
      [4, 'ROLLBACK'],
      [3, 'UPDATE'],
      [2, 'UPDATE'],
      [1, 'CREATE'],
    ]);
    const human = await cli(['history', service]);
    expect(human.stdout).toMatch(/v4\s+ROLLBACK .* "undo"/);
    expect(human.stdout).toContain('~ /limit: 1');

    // Blame: the rollback set both settings last (version 4), with its reason.
    await cli(['set', service, 'mode=c', '--reason', 'mode c']);
    const blame = await cli(['blame', service, '--json']);
    expect(blame.code, blame.stderr).toBe(0);
    expect(blame.json()).toMatchObject({ version: 5, complete: true });
    expect(blame.json().settings.map((setting: { pointer: string; version: number; reason: string | null }) => [setting.pointer, setting.version, setting.reason])).toEqual(
      expect.arrayContaining([['/limit', 4, 'undo'], ['/mode', 5, 'mode c']]),
    );
    const blameText = await cli(['blame', service]);
    expect(blameText.stdout).toMatch(/SETTING\s+VALUE\s+SET IN\s+BY\s+WHEN\s+REASON/);
    expect(blameText.stdout).toMatch(/mode\s+"c"\s+v5\s+\S+\s+.*mode c/);
    expect((await cli(['blame', 'no-such-service'])).code).toBe(2);

    // A temporary override: the hub reverts it at expiry.
    const override = await cli(['set', service, 'limit=9', '--expires-in', '2s', '--reason', 'a short test', '--no-wait']);
    expect(override.code, override.stderr).toBe(0);
    expect(override.stdout).toMatch(/an override: reverted at .* unless changed again since/);
    expect((await cli(['set', service, 'limit=8', '--expires-in', 'soon'])).code).toBe(3);
    for (const deadline = Date.now() + 15_000; (await liveConfig(service)).version < 7; ) {
      if (Date.now() > deadline) throw new Error('the override was not reverted');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await liveConfig(service)).toMatchObject({ version: 7, config: { limit: 1 } });

    const missing = await cli(['diff', service, '1', '99']);
    expect(missing.code).toBe(2);
    const old = await cli(['get', service, '--version', '2', '--json']);
    expect(old.json()).toMatchObject({ version: 2, config: { limit: 2, mode: 'b' } });
  });

  it('diff reads a long diff whole, in pages; set and history show the first operations and how many more', async () => {
    const service = 'long-diff-demo';
    const settings = (round: number) => Object.fromEntries(Array.from({ length: 2_500 }, (_, index) => [`s${index}`, round * 10_000 + index]));
    await hub.graphql(`mutation($config: JSON!) { createConfig(input: { service: "${service}", config: $config }) { __typename } }`, { config: settings(1) });
    const document = file('long-diff.json', settings(2));
    const set = await cli(['patch', service, document, '--replace']);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain('... and 2400 more operations');

    const diff = await cli(['diff', service, '1', '2', '--json']);
    expect(diff.code, diff.stderr).toBe(0);
    const operations = diff.json().operations as { path: string; value: number }[];
    expect(operations).toHaveLength(2_500);
    expect(new Set(operations.map((operation) => operation.path)).size).toBe(2_500);
    expect(operations.find((operation) => operation.path === '/s1234')).toEqual({ op: 'replace', path: '/s1234', from: null, value: 21_234 });

    const history = await cli(['history', service]);
    expect(history.code, history.stderr).toBe(0);
    expect(history.stdout).toContain('... and 2400 more operations');
  });
});

describe('watch', () => {
  it('prints each change as one JSON line, replaying from --after-version', async () => {
    const service = 'watch-demo';
    await hub.graphql(`mutation { createConfig(input: { service: "${service}", config: { level: 1 } }) { __typename } }`);
    // From version 1: whatever the order of the subscription and the writes below, versions 2 and 3 arrive once each.
    const watching = cli(['watch', service, '--after-version', '1', '--count', '2', '--json']);
    expect((await cli(['set', service, 'level=2', '--reason', 'first'])).code).toBe(0);
    expect((await cli(['set', service, 'level=3'])).code).toBe(0);
    const result = await watching;
    expect(result.code, result.stderr).toBe(0);
    const events = result.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(events.map((event) => [event.version, event.config.level, event.reason])).toEqual([
      [2, 2, 'first'],
      [3, 3, null],
    ]);
    // Both versions are in the audit log now: replayed from it, each with its patch.
    const replayed = await cli(['watch', service, '--after-version', '1', '--count', '2', '--json']);
    expect(replayed.stdout.trim().split('\n').map((line) => JSON.parse(line).patch)).toEqual([
      [{ op: 'replace', path: '/level', from: null, value: 2 }],
      [{ op: 'replace', path: '/level', from: null, value: 3 }],
    ]);
  });

  it('follows live changes for people once it says it is watching', async () => {
    const service = 'watch-live';
    await hub.graphql(`mutation { createConfig(input: { service: "${service}", config: { level: 1 } }) { __typename } }`);
    const child = spawnCli(['watch', service, '--count', '1'], { env: { CONFIGHUB_URL: url, CONFIGHUB_TOKEN: hub.adminToken, CONFIGHUB_DATA_DIR: workDir } });
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    await waitForOutput(child, 'stderr', /watching watch-live \(production\) after version 1/);
    const printed = waitForOutput(child, 'stdout', /~ \/level: 5/);
    expect((await cli(['set', service, 'level=5'])).code).toBe(0);
    expect(await printed).toMatch(/v2\s+UPDATE/);
    expect(await exited).toBe(0);
  });
});

describe('schema', () => {
  it('get prints the JSON Schema; set adds a version, or exits 3 when a live config breaks it', async () => {
    const got = await cli(['schema', 'get', DOWNLOADER]);
    expect(got.code, got.stderr).toBe(0);
    const schema = JSON.parse(got.stdout);
    expect(schema.properties.operational.properties.batch_size).toMatchObject({ type: 'integer' });
    expect(got.stderr).toMatch(/schema version \d+/);
    const { version } = (await cli(['schema', 'get', DOWNLOADER, '--json'])).json();

    schema.properties.operational.properties.batch_size.maximum = 10; // the live value (5000 or so) breaks it
    const refused = await cli(['schema', 'set', DOWNLOADER, file('strict.json', schema)]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('/operational/batch_size');

    schema.properties.operational.properties.batch_size.description = 'Bars per request (documented by the CLI test).';
    schema.properties.operational.properties.batch_size.maximum = 50_000;
    const accepted = await cli(['schema', 'set', DOWNLOADER, file('documented.json', schema), '--expected-version', String(version), '--json']);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(accepted.json()).toMatchObject({ service: DOWNLOADER, version: version + 1 });

    const none = await cli(['schema', 'get', 'no-schema-service']);
    expect(none.code).toBe(2);
    const usage = await cli(['schema', 'frob', DOWNLOADER]);
    expect(usage.code).toBe(1);
  });
});

describe('export and import', () => {
  async function exportedConfigs(environment: string, format: 'json' | 'yaml') {
    const result = await cli(['export', '--env', environment, '--format', format]);
    expect(result.code, result.stderr).toBe(0);
    const document = format === 'yaml' ? parseYaml(result.stdout) : JSON.parse(result.stdout);
    expect(document).toMatchObject({ confighub: 1, environment });
    return Object.fromEntries(Object.entries(document.configs as Record<string, { config: unknown; description: unknown }>).map(([service, entry]) => [service, { config: entry.config, description: entry.description }]));
  }

  it('exports an environment, and lists a history, whose documents pass what one answer may carry, a smaller page at a time', async () => {
    const environment = 'bulk';
    // Ten configs of some 236 KiB: 2.3 MiB in all.
    const large = (index: number) => ({ rows: Array.from({ length: 11_000 }, (_, row) => `r${index}-${row.toString(36).padStart(16, '0')}`) });
    for (let index = 0; index < 10; index++) {
      const { data } = await hub.graphql(`mutation($input: CreateConfigInput!) { createConfig(input: $input) { __typename } }`, {
        input: { service: `bulk-${index}`, environment, config: large(index) },
      });
      expect(data.createConfig.__typename).toBe('ConfigWrite');
    }
    const result = await cli(['export', '--env', environment]);
    expect(result.code, result.stderr).toBe(0);
    const document = JSON.parse(result.stdout);
    expect(Object.keys(document.configs).sort()).toEqual(Array.from({ length: 10 }, (_, index) => `bulk-${index}`).sort());
    expect(document.configs['bulk-7'].config).toEqual(large(7));
    // History pages carry at most 1 MiB of documents (two changes of these): it asks for fewer at a time.
    for (let round = 1; round <= 3; round++) {
      const { data } = await hub.graphql(`mutation($input: UpdateConfigInput!) { updateConfig(input: $input) { __typename } }`, {
        input: { service: 'bulk-0', environment, config: large(round) },
      });
      expect(data.updateConfig.__typename).toBe('ConfigWrite');
    }
    const history = await cli(['history', 'bulk-0', '--env', environment, '--json']);
    expect(history.code, history.stderr).toBe(0);
    expect(JSON.parse(history.stdout).map((change: { version: number }) => change.version)).toEqual([4, 3, 2, 1]);
  });

  async function seedEnvironment(environment: string) {
    for (const [service, config] of Object.entries({ alpha: { rate: 1, mode: 'fast' }, beta: { items: [1, 2], nested: { on: true } } })) {
      const result = await hub.graphql(`mutation($input: CreateConfigInput!) { createConfig(input: $input) { __typename } }`, {
        input: { service: `${environment}-${service}`, environment, config, description: `${service} of ${environment}` },
      });
      expect(result.data).toEqual({ createConfig: { __typename: 'ConfigWrite' } });
    }
  }

  for (const format of ['json', 'yaml'] as const) {
    it(`round-trips every config of an environment through a ${format.toUpperCase()} file`, async () => {
      const environment = `roundtrip-${format}`;
      await seedEnvironment(environment);
      const target = path.join(workDir, `export-${format}.${format}`);
      const exported = await cli(['export', '--env', environment, '--out', target]);
      expect(exported.code, exported.stderr).toBe(0);
      expect(exported.stdout).toBe('');
      const original = await exportedConfigs(environment, format);
      expect(Object.keys(original)).toEqual([`${environment}-alpha`, `${environment}-beta`]);
      const text = readFileSync(target, 'utf8');
      expect(format === 'yaml' ? text.trimStart().startsWith('{') : text.trimStart().startsWith('{')).toBe(format === 'json');

      // Importing what was just exported changes nothing.
      const noop = await cli(['import', target, '--yes']);
      expect(noop.code, noop.stderr).toBe(0);
      expect(noop.stdout).toContain('nothing to change');
      expect((await liveConfig(`${environment}-alpha`, environment)).version).toBe(1);

      // Someone changes the hub; importing the file brings back exactly what it holds.
      expect((await cli(['set', `${environment}-alpha`, '-e', environment, 'rate=7', 'extra=true'])).code).toBe(0);
      expect((await cli(['set', `${environment}-beta`, '-e', environment, 'nested.on=false'])).code).toBe(0);
      const restored = await cli(['import', target, '--yes', '--json']);
      expect(restored.code, restored.stderr).toBe(0);
      const summary = restored.json();
      expect(summary).toMatchObject({ environment, applied: true });
      expect(summary.changes.map((change: { service: string; action: string; toVersion: number }) => [change.service, change.action, change.toVersion])).toEqual([
        [`${environment}-alpha`, 'update', 3],
        [`${environment}-beta`, 'update', 3],
      ]);
      expect(await exportedConfigs(environment, format)).toEqual(original);
    });
  }

  it('import shows the diff and, without a terminal, refuses to apply unless --yes; --yes applies it', async () => {
    const environment = 'import-diff';
    await seedEnvironment(environment);
    const exported = await cli(['export', '-e', environment, '--json']);
    const document = JSON.parse(exported.stdout);
    document.configs[`${environment}-alpha`].config.rate = 42;
    document.configs[`${environment}-gamma`] = { description: 'new', config: { fresh: true } };
    const edited = file('edited.yaml', JSON.stringify(document));

    const asked = await cli(['import', edited]);
    expect(asked.code).toBe(1);
    expect(asked.stdout).toMatch(/~ \/rate: \S+ -> 42/);
    expect(asked.stdout).toContain(`+ ${environment}-gamma (new config)`);
    expect(asked.stdout).toContain('2 of 3 configs would change');
    expect(asked.stderr).toContain('--yes');
    const dryRun = await cli(['import', edited, '--dry-run', '--json']);
    expect(dryRun.code).toBe(0);
    expect(dryRun.json()).toMatchObject({ applied: false });
    expect((await liveConfig(`${environment}-alpha`, environment)).config.rate).toBe(1);

    const applied = await cli(['import', edited, '--yes', '--reason', 'restore from file']);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain(`imported into ${environment}: 2 configs written`);
    expect(await liveConfig(`${environment}-alpha`, environment)).toEqual({ version: 2, config: { rate: 42, mode: 'fast' } });
    expect(await liveConfig(`${environment}-gamma`, environment)).toEqual({ version: 1, config: { fresh: true } });
    expect((await liveConfig(`${environment}-beta`, environment)).version).toBe(1);
    const history = await cli(['history', `${environment}-alpha`, '-e', environment, '--limit', '1', '--json']);
    expect(history.json()[0]).toMatchObject({ reason: 'restore from file' });

    // The same file into another environment (--env wins over the file's) creates every config there.
    const copied = await cli(['import', edited, '--env', 'import-copy', '--yes', '--json']);
    expect(copied.code, copied.stderr).toBe(0);
    expect(copied.json().changes.map((change: { action: string }) => change.action)).toEqual(['create', 'create', 'create']);
  });

  // On a terminal (a pseudo-terminal from util-linux `script`), import asks, and draws its progress on stderr.
  it('import asks on a terminal: "n" cancels and writes nothing, "y" applies with progress', async () => {
    expect(existsSync('/usr/bin/script'), 'this test needs script(1) for a pseudo-terminal: apt-get install bsdutils').toBe(true);
    const environment = 'import-tty';
    await seedEnvironment(environment);
    const document = JSON.parse((await cli(['export', '-e', environment])).stdout);
    document.configs[`${environment}-alpha`].config.rate = 5;
    document.configs[`${environment}-beta`].config.items = [3];
    const edited = file('tty.json', document);
    const onTerminal = (answer: string) =>
      cli(['/usr/bin/script', '-qec', `${shellQuote(process.execPath)} ${shellQuote(path.resolve('bin/confighub.mjs'))} import ${shellQuote(edited)}`, '/dev/null'], { input: answer, raw: true });

    const declined = await onTerminal('n\n');
    expect(declined.code).toBe(1);
    expect(declined.stdout).toContain('Apply 2 changes to import-tty? [y/N]');
    expect(declined.stdout).toContain('import cancelled; nothing written');
    expect((await liveConfig(`${environment}-alpha`, environment)).version).toBe(1);

    const accepted = await onTerminal('y\n');
    expect(accepted.code, accepted.stdout).toBe(0);
    expect(accepted.stdout).toMatch(/importing \[#*\.*\] 1\/2/);
    expect(accepted.stdout).toContain('imported into import-tty: 2 configs written');
    expect(await liveConfig(`${environment}-alpha`, environment)).toEqual({ version: 2, config: { rate: 5, mode: 'fast' } });
  });

  it('import refuses a file that is not an export, and stops at the first refused config', async () => {
    const notExport = await cli(['import', file('not-export.json', { alpha: 1 })]);
    expect(notExport.code).toBe(1);
    expect(notExport.stderr).toContain('"configs"');
    const environment = 'import-refused';
    await seedEnvironment(environment);
    const secret = file('secret.json', { environment, configs: { [`${environment}-alpha`]: { config: { api_key: 'sk_live_abcdefabcdefabcdef' } } } });
    const refused = await cli(['import', secret, '--yes']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('nothing was written');
    expect((await liveConfig(`${environment}-alpha`, environment)).version).toBe(1);
  });
});

describe('tokens', () => {
  it('create prints the token once; a scoped reader reads its service only; revoke shuts it out', async () => {
    const created = await cli(['tokens', 'create', 'cli-test-reader', '--role', 'READER', '--services', DOWNLOADER]);
    expect(created.code, created.stderr).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^\S{24,}$/);
    expect(created.stderr).toContain('shown this once');

    const listed = await cli(['tokens', 'list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const entry = listed.json().find((candidate: { name: string }) => candidate.name === 'cli-test-reader');
    expect(entry).toMatchObject({ role: 'READER', services: [DOWNLOADER], revokedAt: null });
    expect(JSON.stringify(listed.json())).not.toContain(token);

    const asReader = (args: string[]) => cli(args, { env: { CONFIGHUB_TOKEN: token } });
    const [whoami, own, other, write] = await Promise.all([
      asReader(['whoami', '--json']),
      asReader(['get', DOWNLOADER, '--json']),
      asReader(['get', AGGREGATOR]),
      asReader(['set', DOWNLOADER, 'operational.batch_size=10']),
    ]);
    expect(whoami.json()).toMatchObject({ name: 'cli-test-reader', role: 'READER', services: [DOWNLOADER] });
    expect(own.code, own.stderr).toBe(0);
    expect(other.code).toBe(4);
    expect(other.stderr).toContain(AGGREGATOR);
    expect(write.code).toBe(4);

    const revoked = await cli(['tokens', 'revoke', 'cli-test-reader']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain('revoked token "cli-test-reader"');
    const after = await asReader(['get', DOWNLOADER]);
    expect(after.code).toBe(4);
    expect(after.stderr).toContain('revoked');
  });

  it('refuses a bad role (exit 1) and an unknown name (exit 2); only an admin manages tokens', async () => {
    const [badRole, unknown, noRole] = await Promise.all([
      cli(['tokens', 'create', 'x', '--role', 'OWNER']),
      cli(['tokens', 'revoke', 'no-such-token']),
      cli(['tokens', 'create', 'x']),
    ]);
    expect(badRole.code).toBe(1);
    expect(unknown.code).toBe(2);
    expect(noRole.code).toBe(1);
    const editor = (await cli(['tokens', 'create', 'cli-test-editor', '--role', 'editor', '--json'])).json();
    expect(editor).toMatchObject({ name: 'cli-test-editor', role: 'EDITOR', token: expect.any(String) });
    const refused = await cli(['tokens', 'list'], { env: { CONFIGHUB_TOKEN: editor.token } });
    expect(refused.code).toBe(4);
  });
});

describe('connection failures', () => {
  it('a hub that does not answer exits 5', async () => {
    const port = await freePort();
    const result = await cli(['get', AGGREGATOR], { env: { CONFIGHUB_URL: `http://127.0.0.1:${port}` } });
    expect(result.code).toBe(5);
    expect(result.stderr).toContain(`127.0.0.1:${port}`);
    expect(result.stderr).toContain('is the hub running?');
  });

  it('a refused token exits 4', async () => {
    const result = await cli(['get', AGGREGATOR], { env: { CONFIGHUB_TOKEN: 'chub_not-a-real-token' } });
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('token');
  });

  it('--url and --token win over the environment', async () => {
    const result = await cli(['get', AGGREGATOR, '--url', url, '--token', hub.adminToken, '--json'], {
      env: { CONFIGHUB_URL: 'http://127.0.0.1:9', CONFIGHUB_TOKEN: 'chub_wrong' },
    });
    expect(result.code, result.stderr).toBe(0);
  });

  it('requests: a change to a protected environment waits for an approval by someone else, then lands', async () => {
    const environment = 'guarded';
    const service = 'guarded-demo';
    await hub.graphql(`mutation { createConfig(input: { service: "${service}", environment: "${environment}", config: { limit: 1 } }) { __typename } }`);
    await hub.graphql(`mutation { protectEnvironment(input: { environment: "${environment}", requiredApprovals: 1 }) { __typename } }`);
    const tokenOf = async (name: string) =>
      (await hub.graphql(`mutation { createToken(input: { name: "${name}", role: EDITOR }) { ... on CreatedToken { token } } }`)).data.createToken.token as string;
    const as = (token: string) => (args: string[]) => cli([...args, '-e', environment], { env: { CONFIGHUB_TOKEN: token } });
    const alice = as(await tokenOf('cli-alice'));
    const bob = as(await tokenOf('cli-bob'));

    const asked = await alice(['set', service, 'limit=2', '--reason', 'more room']);
    expect(asked.code, asked.stderr).toBe(0);
    const id = /change request (\d+) needs 1 approval/.exec(asked.stdout)?.[1];
    expect(id, asked.stdout).toBeDefined();
    expect(asked.stdout).toMatch(/limit: 1 -> 2/);
    expect((await liveConfig(service, environment)).version).toBe(1);

    const listed = await bob(['requests', 'list']);
    expect(listed.stdout).toMatch(new RegExp(`${id}\\s+${service}\\s+${environment}\\s+OPEN\\s+0/1\\s+cli-alice`));
    const own = await alice(['requests', 'approve', id!]);
    expect(own.code).toBe(3);
    expect(own.stderr).toMatch(/author .* cannot approve/);
    const approved = await bob(['requests', 'approve', id!, '--comment', 'fine']);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toMatch(new RegExp(`change request ${id}: ${service} \\(${environment}\\) on version 1, by cli-alice: applied as version 2`));
    expect(approved.stdout).toMatch(/cli-bob approve: fine/);
    expect(await liveConfig(service, environment)).toMatchObject({ version: 2, config: { limit: 2 } });
    expect((await bob(['requests', 'show', id!, '--json'])).json()).toMatchObject({ state: 'APPLIED', appliedVersion: 2 });

    // Breaking glass is an admin's: an editor is refused, and nothing is written.
    expect((await alice(['set', service, 'limit=3', '--break-glass', '--reason', 'now'])).code).toBe(3);
    expect((await liveConfig(service, environment)).version).toBe(2);
  });

  it('requests list stays within the answer budget: eleven open requests of 101 operations each', async () => {
    const environment = 'guarded-many';
    await hub.graphql(`mutation { protectEnvironment(input: { environment: "${environment}", requiredApprovals: 1 }) { __typename } }`);
    const patch = Object.fromEntries(Array.from({ length: 101 }, (_, index) => [`setting_${index}`, index]));
    for (let index = 0; index < 11; index++) {
      const service = `guarded-many-${index}`;
      const created = await hub.graphql(
        `mutation($input: CreateConfigInput!) { createConfig(input: $input) { __typename } }`,
        { input: { service, environment, config: {}, breakGlass: true, reason: 'setup' } },
      );
      expect(created.data.createConfig.__typename, JSON.stringify(created)).toBe('ConfigWrite');
      const asked = await hub.graphql(`mutation($input: UpdateConfigInput!) { updateConfig(input: $input) { ... on ConfigWrite { request { id } } } }`, {
        input: { service, environment, patch, reason: 'many settings' },
      });
      expect(asked.data.updateConfig.request, JSON.stringify(asked)).not.toBeNull();
    }
    const listed = await cli(['requests', 'list', '-e', environment, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const requests = listed.json<{ service: string; diff: unknown[] }[]>();
    expect(requests).toHaveLength(11);
    expect(requests.every((request) => request.diff.length === 10)).toBe(true);
  });

  it('rollout: set --rollout serves the change in steps; status shows it, promote moves it, abort writes the stable version back', async () => {
    const service = 'rollout-demo';
    await hub.graphql(`mutation { createConfig(input: { service: "${service}", config: { limit: 1 } }) { __typename } }`);
    const usage = await cli(['set', service, 'limit=2', '--rollout', '10,50,100']);
    expect(usage.code).toBe(1);
    expect(usage.stderr).toContain('--rollout needs --bake');
    const started = await cli(['set', service, 'limit=2', '--rollout', '10,50,100', '--bake', '1h', '--reason', 'canary first']);
    expect(started.code, started.stderr).toBe(0);
    expect(started.stdout).toMatch(/version 1 -> 2/);
    expect(started.stdout).toMatch(/rollout \d+: version 2 served to 10%, then 50%, then 100% of the instances, 3600s each; the others keep version 1/);
    const busy = await cli(['set', service, 'limit=3']);
    expect(busy.code).toBe(3);
    expect(busy.stderr).toMatch(/rollout \d+ of version 2 .* is under way: promote or abort it first/);

    const status = await cli(['rollout', 'status', service]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/rollout \d+: rollout-demo \(production\) version 1 -> 2, by admin: step 1 of 3 \(10%\)/);
    expect(status.stdout).toContain('steps [10%] -> 50% -> 100%, bake 3600s, errors tolerated 0');
    const promoted = await cli(['rollout', 'promote', service, '--reason', 'canaries fine']);
    expect(promoted.stdout).toMatch(/step 2 of 3 \(50%\)/);
    expect(promoted.stdout).toMatch(/admin promoted \(50%\): canaries fine/);
    expect((await cli(['rollout', 'abort', service])).code).toBe(1);
    const aborted = await cli(['rollout', 'abort', service, '--reason', 'wrong limit', '--json']);
    expect(aborted.code, aborted.stderr).toBe(0);
    expect(aborted.json()).toMatchObject({ state: 'ABORTED', rollbackVersion: 3, outcome: 'aborted by admin: wrong limit' });
    expect(await liveConfig(service)).toMatchObject({ version: 3, config: { limit: 1 } });
    expect((await cli(['rollout', 'promote', service])).stderr).toContain('no rollout of rollout-demo (production) is under way');
  });

  it('reads the admin token file of the data directory when no token is given', async () => {
    const dataDir = mkdtempSync(path.join(workDir, 'data-'));
    const withoutToken = await cli(['get', AGGREGATOR, '--json'], { env: { CONFIGHUB_TOKEN: undefined, CONFIGHUB_DATA_DIR: dataDir } });
    expect(withoutToken.code).toBe(4);
    writeFileSync(path.join(dataDir, 'admin-token'), `${hub.adminToken}\n`);
    const result = await cli(['get', AGGREGATOR, '--json'], { env: { CONFIGHUB_TOKEN: undefined, CONFIGHUB_DATA_DIR: dataDir } });
    expect(result.code, result.stderr).toBe(0);
  });
});

describe('serve', () => {
  it('starts the gateway on an embedded database; other commands find its admin token file; SIGTERM stops it', async () => {
    const dataDir = mkdtempSync(path.join(workDir, 'serve-'));
    const port = await freePort();
    const serving = spawnCli(['serve', '--port', String(port), '--host', '127.0.0.1'], { env: { CONFIGHUB_DATA_DIR: dataDir, LOG_LEVEL: 'info' } });
    const exited = new Promise<number | null>((resolve) => serving.once('close', resolve));
    try {
      await waitForOutput(serving, 'stdout', /confighub listening/, 150_000);
      // No --token and no CONFIGHUB_TOKEN: the CLI reads <CONFIGHUB_DATA_DIR>/admin-token, which the hub wrote.
      const result = await runCli(['get', AGGREGATOR, '--json'], { env: { CONFIGHUB_URL: `http://127.0.0.1:${port}`, CONFIGHUB_DATA_DIR: dataDir } });
      expect(result.code, result.stderr).toBe(0);
      expect(result.json()).toMatchObject({ service: AGGREGATOR, version: 1 });
    } finally {
      serving.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
