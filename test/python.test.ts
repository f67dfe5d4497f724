import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type OperationDefinitionNode, buildSchema, parse, print, validate } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { ClientConfig, ClientConfigChanged, ReportInstance } from '../src/client/operations.ts';
import { SnapshotWriter, readSnapshot } from '../src/client/snapshot.ts';
import { type PythonEnvironment, PYTHON_SOURCE, installPythonClient } from './support/python.ts';

// The Python client (clients/python): built as a wheel, installed into a fresh virtual environment, type-
// checked with mypy --strict, and its pytest suite run against real hubs (the gateway on PGlite) that the
// suite starts itself. Then what it shares with the TypeScript client: the operations and the snapshot file.

const ROOT = path.resolve(import.meta.dirname, '..');
const GATEWAY = `node --no-warnings ${path.join(ROOT, 'dist', 'main.js')}`;

let env: PythonEnvironment;

beforeAll(() => {
  env = installPythonClient();
}, 300_000);

describe('the Python client', () => {
  it('installs from its wheel, with its type information and operations, and imports from the venv', () => {
    const listing = env.run(['-m', 'zipfile', '-l', env.wheel]);
    expect(listing.status, listing.output).toBe(0);
    for (const file of ['confighub/py.typed', 'confighub/operations.graphql', 'confighub/client.py', 'confighub/codegen.py']) {
      expect(listing.output).toContain(file);
    }
    expect(listing.output).not.toContain('tests/');
    const where = env.run(['-c', 'import confighub; print(confighub.__file__)'], { cwd: tmpdir() });
    expect(where.status, where.output).toBe(0);
    const venv = path.dirname(path.dirname(env.python));
    expect(where.output.trim().startsWith(`${venv}/lib/`), where.output).toBe(true);
    const script = env.run(['-c', 'import shutil; print(shutil.which("confighub-types"))'], { env: { PATH: `${path.dirname(env.python)}:${process.env.PATH}` } });
    expect(script.output.trim()).toBe(path.join(path.dirname(env.python), 'confighub-types'));
  });

  it('is clean under mypy --strict: the package, its tests and the example service', () => {
    const mypy = ['-m', 'mypy', '--strict', '--no-incremental', '--cache-dir=/dev/null'];
    const own = env.run([...mypy, 'src/confighub', 'tests'], { cwd: env.project });
    expect(own.status, own.output).toBe(0);
    expect(own.output).toMatch(/Success: no issues found in \d+ source files/);
    const example = env.run([...mypy, 'worker.py', 'settings.py'], { cwd: path.join(ROOT, 'examples', 'tick-aggregator-py') });
    expect(example.status, example.output).toBe(0);
  }, 300_000);

  it('passes its pytest suite against real hubs', () => {
    const report = path.join(mkdtempSync(path.join(tmpdir(), 'confighub-pytest-')), 'report.xml');
    const result = env.run(['-m', 'pytest', '-q', '-p', 'no:cacheprovider', `--junitxml=${report}`, 'tests'], {
      cwd: env.project,
      env: { CONFIGHUB_HUB_COMMAND: GATEWAY, CONFIGHUB_REPOSITORY: ROOT },
      timeoutMs: 480_000,
    });
    expect(result.status, result.output).toBe(0);
    const summary = /<testsuite [^>]*errors="(\d+)" failures="(\d+)" skipped="(\d+)" tests="(\d+)"/.exec(readFileSync(report, 'utf8'));
    expect(summary, 'a junit report').not.toBeNull();
    const [, errors, failures, skipped, tests] = summary!.map(Number);
    expect({ errors, failures, skipped }).toEqual({ errors: 0, failures: 0, skipped: 0 });
    expect(tests).toBeGreaterThanOrEqual(25);
  }, 600_000);
});

describe('what the Python client shares with the TypeScript one', () => {
  it('sends operations that are valid on the hub, the shared ones exactly the TypeScript client\'s', () => {
    const schema = buildSchema(readFileSync(path.join(ROOT, 'schema.graphql'), 'utf8'));
    const document = parse(readFileSync(path.join(PYTHON_SOURCE, 'src', 'confighub', 'operations.graphql'), 'utf8'));
    expect(validate(schema, document)).toEqual([]);
    const byName = new Map(
      document.definitions.map((definition) => {
        const operation = definition as OperationDefinitionNode;
        return [operation.name!.value, print(operation)];
      }),
    );
    for (const shared of [ClientConfig, ClientConfigChanged, ReportInstance]) {
      const operation = parse(String(shared)).definitions[0] as OperationDefinitionNode;
      expect(byName.get(operation.name!.value), operation.name!.value).toBe(print(operation));
    }
  });

  it('reads the snapshot the TypeScript client writes, and writes one it reads', async () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'confighub-snapshot-'));
    const fromTypeScript = path.join(folder, 'ts.json');
    const config = { operational: { batch_size: 250, symbols: ['AAPL', 'Ünïcode'] }, features: { dry_run: false } };
    await new SnapshotWriter(fromTypeScript).write({ service: 'svc', environment: 'staging', version: 7, config, savedAt: '2026-12-04T19:44:28.123Z' });
    const read = env.run([
      '-c',
      'import json, sys; from confighub import read_snapshot; s, p = read_snapshot(sys.argv[1], "svc", "staging"); ' +
        'print(json.dumps({"version": s.version, "config": s.config, "saved_at": s.saved_at, "problem": p}))',
      fromTypeScript,
    ]);
    expect(read.status, read.output).toBe(0);
    expect(JSON.parse(read.output)).toEqual({ version: 7, config, saved_at: '2026-12-04T19:44:28.123Z', problem: null });

    const fromPython = path.join(folder, 'py.json');
    const write = env.run([
      '-c',
      'import json, sys; from confighub import Snapshot, write_snapshot; from confighub._snapshot import now_iso; ' +
        'write_snapshot(sys.argv[1], Snapshot("svc", "staging", 8, json.loads(sys.argv[2]), now_iso()))',
      fromPython,
      JSON.stringify(config),
    ]);
    expect(write.status, write.output).toBe(0);
    const { snapshot, problem } = readSnapshot(fromPython, 'svc', 'staging');
    expect(problem).toBeUndefined();
    expect(snapshot).toMatchObject({ service: 'svc', environment: 'staging', version: 8, config });
    expect(new Date(snapshot!.savedAt).toISOString()).toBe(snapshot!.savedAt);
  });
});
