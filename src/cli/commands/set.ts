import { UpdateConfig } from '../operations.ts';
import { type Command, dryRunOption, expectedVersionOption, expiresInOption, intOption, protectedOptions, reasonOption, stringOption, takeArgs } from '../command.ts';
import { usageError } from '../errors.ts';
import { contentAt, expectType, request } from '../connection.ts';
import { shortTime } from '../output.ts';
import { type JsonObject, isJsonObject } from '@confighub/client';
import { mergePatchFromAssignments } from '../mergePatch.ts';
import type { CommandContext } from '../command.ts';
import { readDocumentFile } from '../configFile.ts';
import { REFUSAL_WAIT_MS, checkInstancesTook } from './instances.ts';

export const setCommand: Command = {
  name: 'set',
  usage: 'set <service> key.path=value ... [--reason R] [--expires-in 2h] [--expected-version N] [--dry-run] [--no-wait] [--break-glass | --request-expires-in 3d]',
  summary: 'change settings (values are JSON when they parse, text otherwise; key=null removes a key)',
  options: { ...reasonOption, ...expectedVersionOption, ...dryRunOption, ...expiresInOption, ...protectedOptions, 'no-wait': { type: 'boolean' } },
  async run(context) {
    const [service, ...assignments] = context.args;
    if (!service) throw usageError('missing <service>');
    await writeConfig(context, service, { patch: mergePatchFromAssignments(assignments) });
  },
};

export const patchCommand: Command = {
  name: 'patch',
  usage: 'patch <service> <file.json|file.yaml|-> [--replace] [--reason R] [--expected-version N] [--dry-run] [--no-wait]',
  summary: 'apply an RFC 7396 merge patch from a file (or replace the whole config with --replace)',
  options: { ...reasonOption, ...expectedVersionOption, ...dryRunOption, ...expiresInOption, ...protectedOptions, replace: { type: 'boolean' }, 'no-wait': { type: 'boolean' } },
  async run(context) {
    const [service, file] = takeArgs(context, ['service', 'file']) as [string, string];
    const document = await readDocumentFile(file, context.stdin);
    if (!isJsonObject(document)) throw usageError(`${file} must hold a JSON object`);
    await writeConfig(context, service, context.options.replace ? { config: document } : { patch: document });
  },
};

/**
 * One updateConfig with the common options; prints the versions and the diff, then (unless --no-wait)
 * waits a few seconds for the instances running the config to take the new version, and exits 7 when
 * one refused it.
 */
async function writeConfig(context: CommandContext, service: string, change: { patch: JsonObject } | { config: JsonObject }): Promise<void> {
  const { environment, output } = context;
  const input = {
    service,
    environment,
    ...change,
    reason: stringOption(context, 'reason'),
    expectedVersion: intOption(context, 'expected-version'),
    dryRun: Boolean(context.options['dry-run']),
    expiresIn: stringOption(context, 'expires-in'),
    breakGlass: Boolean(context.options['break-glass']),
    requestExpiresIn: stringOption(context, 'request-expires-in'),
  };
  const data = await request(context.hub(), UpdateConfig, { input });
  const write = expectType(data.updateConfig, 'ConfigWrite');
  const before = output.json || !(write.changed || write.request) || write.previousVersion == null ? undefined : await contentAt(context.hub(), service, environment, write.previousVersion);
  output.result(write, () => {
    const version = write.config.version;
    if (write.request) {
      const { id, requiredApprovals, expiresAt } = write.request;
      const headline = `${service} (${environment}) is protected: nothing written yet; change request ${id} needs ${requiredApprovals} approval${requiredApprovals === 1 ? '' : 's'} (until ${shortTime(expiresAt)}): confighub requests show ${id}`;
      return [headline, output.patch(write.diff, '  ', write.diffOperationCount, before)].join('\n');
    }
    const headline = write.dryRun
      ? `${service} (${environment}): dry run, ${write.changed ? `version ${write.previousVersion} would become ${version}` : `no change from version ${version}`}; nothing written`
      : write.changed
        ? `${service} (${environment}): version ${write.previousVersion} -> ${version}`
        : `${service} (${environment}): no change, still version ${version}`;
    const expiry = write.override ? [`  an override: reverted at ${shortTime(write.override.expiresAt)} unless changed again since`] : [];
    return [headline, ...(write.changed ? [output.patch(write.diff, '  ', write.diffOperationCount, before)] : []), ...expiry].join('\n');
  });
  if (write.changed && !write.dryRun && !context.options['no-wait']) {
    await checkInstancesTook(context.hub(), service, environment, write.config.version, REFUSAL_WAIT_MS);
  }
}
