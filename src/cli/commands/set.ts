import { UpdateConfig } from '../operations.ts';
import { type Command, dryRunOption, expectedVersionOption, intOption, reasonOption, stringOption, takeArgs } from '../command.ts';
import { usageError } from '../errors.ts';
import { expectType, request } from '../connection.ts';
import { type JsonObject, isJsonObject } from '@confighub/client';
import { mergePatchFromAssignments } from '../mergePatch.ts';
import type { CommandContext } from '../command.ts';
import { readDocumentFile } from '../configFile.ts';

export const setCommand: Command = {
  name: 'set',
  usage: 'set <service> key.path=value ... [--reason R] [--expected-version N] [--dry-run]',
  summary: 'change settings (values are JSON when they parse, text otherwise; key=null removes a key)',
  options: { ...reasonOption, ...expectedVersionOption, ...dryRunOption },
  async run(context) {
    const [service, ...assignments] = context.args;
    if (!service) throw usageError('missing <service>');
    await writeConfig(context, service, { patch: mergePatchFromAssignments(assignments) });
  },
};

export const patchCommand: Command = {
  name: 'patch',
  usage: 'patch <service> <file.json|file.yaml|-> [--replace] [--reason R] [--expected-version N] [--dry-run]',
  summary: 'apply an RFC 7396 merge patch from a file (or replace the whole config with --replace)',
  options: { ...reasonOption, ...expectedVersionOption, ...dryRunOption, replace: { type: 'boolean' } },
  async run(context) {
    const [service, file] = takeArgs(context, ['service', 'file']) as [string, string];
    const document = await readDocumentFile(file, context.stdin);
    if (!isJsonObject(document)) throw usageError(`${file} must hold a JSON object`);
    await writeConfig(context, service, context.options.replace ? { config: document } : { patch: document });
  },
};

/** One updateConfig with the common options; prints the versions and the diff. */
async function writeConfig(context: CommandContext, service: string, change: { patch: JsonObject } | { config: JsonObject }): Promise<void> {
  const { environment, output } = context;
  const input = {
    service,
    environment,
    ...change,
    reason: stringOption(context, 'reason'),
    expectedVersion: intOption(context, 'expected-version'),
    dryRun: Boolean(context.options['dry-run']),
  };
  const data = await request(context.hub(), UpdateConfig, { input });
  const write = expectType(data.updateConfig, 'ConfigWrite');
  output.result(write, () => {
    const version = write.config.version;
    const headline = write.dryRun
      ? `${service} (${environment}): dry run, ${write.changed ? `version ${write.previousVersion} would become ${version}` : `no change from version ${version}`}; nothing written`
      : write.changed
        ? `${service} (${environment}): version ${write.previousVersion} -> ${version}`
        : `${service} (${environment}): no change, still version ${version}`;
    return [headline, ...(write.changed ? [output.patch(write.diff, '  ', write.diffOperationCount)] : [])].join('\n');
  });
}
