import type { HubConnection, JsonObject } from '@confighub/client';
import { type Command, type CommandContext, confirmed, dryRunOption, reasonOption, stringOption, takeArgs } from '../command.ts';
import {
  type ExportDocument,
  type FileFormat,
  formatOfPath,
  listConfigs,
  parseExportDocument,
  readDocumentFile,
  serialize,
  toExportDocument,
} from '../configFile.ts';
import { CliError, usageError } from '../errors.ts';
import { writeFileAtomically } from '../files.ts';
import { expectType, request } from '../connection.ts';
import { CreateConfig, UpdateConfig } from '../operations.ts';
import type { PatchOperation } from '../output.ts';
import { Progress } from '../terminal.ts';

export const exportCommand: Command = {
  name: 'export',
  usage: 'export [--out FILE] [--format json|yaml]',
  summary: 'write every config of an environment to one JSON or YAML file (stdout without --out)',
  options: { out: { type: 'string' }, format: { type: 'string' } },
  async run(context) {
    takeArgs(context, []);
    const file = stringOption(context, 'out');
    // --format, else the file's extension, else -o yaml on stdout, else JSON.
    const format = chooseFormat(stringOption(context, 'format') ?? (context.output.format === 'yaml' && !file ? 'yaml' : undefined), file);
    const configs = await listConfigs(context.hub(), context.environment);
    const document = toExportDocument(context.environment, configs);
    const text = await serialize(document, format);
    if (!file || file === '-') {
      process.stdout.write(text);
      return;
    }
    await writeFileAtomically(file, text);
    context.output.note(`exported ${configs.length} configs of ${context.environment} to ${file}`);
  },
};

function chooseFormat(option: string | undefined, file: string | undefined): FileFormat {
  if (option !== undefined) {
    if (option !== 'json' && option !== 'yaml') throw usageError(`--format must be json or yaml, not "${option}"`);
    return option;
  }
  return formatOfPath(file) ?? 'json';
}

/** What importing one config would do. */
interface PlannedChange {
  service: string;
  action: 'create' | 'update' | 'unchanged';
  /** The version the hub had when the plan was made (0: none); applied with it as expectedVersion. */
  fromVersion: number;
  diff: PatchOperation[];
  /** How many operations the whole diff has (the hub sends the first ones). */
  operationCount: number;
  config: JsonObject;
  /** What the hub has now (for old -> new). */
  before?: JsonObject;
  description?: string | null;
  /** Set once applied. */
  toVersion?: number;
}

export const importCommand: Command = {
  name: 'import',
  usage: 'import <file|-> [--yes] [--dry-run] [--reason R]',
  summary: 'make the configs of an environment equal to a file from export: shows the diff, asks, applies',
  options: { ...reasonOption, ...dryRunOption, yes: { type: 'boolean', short: 'y' } },
  async run(context) {
    const [file] = takeArgs(context, ['file']) as [string];
    const { output } = context;
    const document = parseExportDocument(await readDocumentFile(file), file);
    // The file says which environment it holds; --env imports it into another one.
    const environment = context.environmentGiven ? context.environment : (document.environment ?? context.environment);
    const hub = context.hub();
    const plan = await planImport(context, hub, environment, document);
    const pending = plan.filter((change) => change.action !== 'unchanged');
    const summary = { environment, applied: false, changes: plan.map(describeChange) };

    if (!output.json) process.stdout.write(`${renderPlan(context, environment, plan)}\n`);
    if (pending.length === 0 || context.options['dry-run']) {
      output.result(summary, () => '');
      return;
    }
    const question = `Apply ${pending.length} change${pending.length === 1 ? '' : 's'} to ${environment}?`;
    await confirmed(context, question, `change ${pending.length} configs`, 'import', file === '-');
    await applyImport(context, hub, environment, pending);
    summary.applied = true;
    summary.changes = plan.map(describeChange);
    output.result(summary, () => `imported into ${environment}: ${pending.length} config${pending.length === 1 ? '' : 's'} written`);
  },
};

/** Reads the hub's side and dry-runs every update, so that the diff shown is the hub's own (validation included). */
async function planImport(context: CommandContext, hub: HubConnection, environment: string, document: ExportDocument): Promise<PlannedChange[]> {
  const existing = new Map((await listConfigs(hub, environment)).map((config) => [config.service, config]));
  const entries = Object.entries(document.configs).sort(([a], [b]) => a.localeCompare(b));
  const progress = new Progress(process.stderr, entries.length, 'checking');
  const plan: PlannedChange[] = [];
  try {
    for (const [index, [service, entry]] of entries.entries()) {
      progress.update(index, service);
      const current = existing.get(service);
      if (!current) {
        plan.push({ service, action: 'create', fromVersion: 0, diff: [{ op: 'add', path: '', value: entry.config }], operationCount: 1, config: entry.config, description: entry.description });
        continue;
      }
      const input = { service, environment, config: entry.config, description: entry.description ?? current.description, expectedVersion: current.version, dryRun: true };
      const write = expectType((await request(hub, UpdateConfig, { input })).updateConfig, 'ConfigWrite');
      plan.push({ service, action: write.changed ? 'update' : 'unchanged', fromVersion: current.version, diff: write.diff, operationCount: write.diffOperationCount, config: entry.config, before: current.config, description: input.description });
    }
  } catch (error) {
    if (error instanceof CliError) error.details.unshift('while checking the file against the hub; nothing was written');
    throw error;
  } finally {
    progress.done();
  }
  return plan;
}

/** Writes the planned changes one by one, each pinned to the version the plan saw. */
async function applyImport(context: CommandContext, hub: HubConnection, environment: string, pending: PlannedChange[]): Promise<void> {
  const reason = stringOption(context, 'reason') ?? 'confighub import';
  const progress = new Progress(process.stderr, pending.length, 'importing');
  try {
    for (const [index, change] of pending.entries()) {
      progress.update(index, change.service);
      try {
        const input = { service: change.service, environment, config: change.config, description: change.description, reason };
        const write =
          change.action === 'create'
            ? expectType((await request(hub, CreateConfig, { input })).createConfig, 'ConfigWrite')
            : expectType((await request(hub, UpdateConfig, { input: { ...input, expectedVersion: change.fromVersion } })).updateConfig, 'ConfigWrite');
        change.toVersion = write.config.version;
      } catch (error) {
        if (error instanceof CliError) {
          const written = pending.slice(0, index).map((done) => done.service);
          error.details.unshift(`while importing ${change.service}`, written.length ? `already written: ${written.join(', ')}` : 'nothing was written');
        }
        throw error;
      }
    }
  } finally {
    progress.done();
  }
}

function describeChange(change: PlannedChange) {
  return { service: change.service, action: change.action, fromVersion: change.fromVersion, toVersion: change.toVersion ?? null, diff: change.diff };
}

function renderPlan(context: CommandContext, environment: string, plan: PlannedChange[]): string {
  const { output } = context;
  const lines = [`import into ${environment}:`];
  for (const change of plan) {
    if (change.action === 'unchanged') lines.push(output.paint(`  = ${change.service} (unchanged, version ${change.fromVersion})`, 'dim'));
    else if (change.action === 'create') lines.push(output.paint(`  + ${change.service} (new config)`, 'green'));
    else lines.push(`  ~ ${change.service} (version ${change.fromVersion})`, output.patch(change.diff, '      ', change.operationCount, change.before));
  }
  const pending = plan.filter((change) => change.action !== 'unchanged').length;
  lines.push(pending === 0 ? 'nothing to change' : `${pending} of ${plan.length} configs would change`);
  return lines.join('\n');
}
