import { isJsonObject } from '@confighub/client';
import { type Command, confirmed, expectedVersionOption, intOption, reasonOption, stringOption, takeArgs } from '../command.ts';
import { readDocumentFile } from '../configFile.ts';
import { usageError } from '../errors.ts';
import { expectType, request } from '../connection.ts';
import { mergePatchFromAssignments } from '../mergePatch.ts';
import { CreateConfig, DeleteConfig, RestoreConfig } from '../operations.ts';

// A config's life: created (from a file or key=value settings), deleted (softly: audited, restorable)
// and restored.

export const createCommand: Command = {
  name: 'create',
  usage: 'create <service> [<file|-> | key.path=value ...] [--description D] [--reason R]',
  summary: 'create a config from a JSON or YAML file, or from settings (key.path=value ...); nothing given: {}',
  options: { ...reasonOption, description: { type: 'string' } },
  async run(context) {
    const [service, ...rest] = context.args;
    if (!service) throw usageError('missing <service>');
    const { environment, output } = context;
    let config: Record<string, unknown> = {};
    if (rest.length === 1 && !rest[0]!.includes('=')) {
      const document = await readDocumentFile(rest[0]!);
      if (!isJsonObject(document)) throw usageError(`${rest[0]} must hold a JSON object`);
      config = document;
    } else if (rest.length > 0) {
      config = mergePatchFromAssignments(rest);
    }
    const input = { service, environment, config, description: stringOption(context, 'description'), reason: stringOption(context, 'reason') };
    const write = expectType((await request(context.hub(), CreateConfig, { input })).createConfig, 'ConfigWrite');
    output.result(write.config, () => `${service} (${environment}): created, version ${write.config.version}`);
  },
};

export const deleteCommand: Command = {
  name: 'delete',
  usage: 'delete <service> [--yes] [--expected-version N] [--reason R]',
  summary: 'delete a config (audited; confighub restore brings it back); asks on a terminal, or --yes',
  options: { ...reasonOption, ...expectedVersionOption, yes: { type: 'boolean', short: 'y' } },
  async run(context) {
    const [service] = takeArgs(context, ['service']) as [string];
    const { environment, output } = context;
    await confirmed(context, `Delete ${service} (${environment})? Services reading it keep their last config.`, 'delete', 'delete');
    const input = { service, environment, expectedVersion: intOption(context, 'expected-version'), reason: stringOption(context, 'reason') };
    const write = expectType((await request(context.hub(), DeleteConfig, { input })).deleteConfig, 'ConfigWrite');
    output.result(write.config, () => `${service} (${environment}): deleted at version ${write.config.version} (confighub restore ${service} brings it back)`);
  },
};

export const restoreCommand: Command = {
  name: 'restore',
  usage: 'restore <service> [--expected-version N] [--reason R]',
  summary: 'bring back a deleted config, with the content it had',
  options: { ...reasonOption, ...expectedVersionOption },
  async run(context) {
    const [service] = takeArgs(context, ['service']) as [string];
    const { environment, output } = context;
    const input = { service, environment, expectedVersion: intOption(context, 'expected-version'), reason: stringOption(context, 'reason') };
    const write = expectType((await request(context.hub(), RestoreConfig, { input })).restoreConfig, 'ConfigWrite');
    output.result(write.config, () => `${service} (${environment}): restored, version ${write.config.version}`);
  },
};
