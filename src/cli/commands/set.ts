import { UpdateConfig } from '../operations.ts';
import { type Command, type CommandContext, dryRunOption, expectedVersionOption, expiresInOption, intOption, protectedOptions, reasonOption, rolloutOptions, stringOption, takeArgs } from '../command.ts';
import { usageError } from '../errors.ts';
import { contentAt, expectType, request } from '../connection.ts';
import { shortTime } from '../output.ts';
import { type JsonObject, isJsonObject } from '@confighub/client';
import { mergePatchFromAssignments } from '../mergePatch.ts';
import { readDocumentFile } from '../configFile.ts';
import { REFUSAL_WAIT_MS, checkInstancesTook } from './instances.ts';

export const setCommand: Command = {
  name: 'set',
  usage:
    'set <service> key.path=value ... [--reason R] [--expires-in 2h] [--rollout 10,50,100 --bake 5m [--max-errors N]] [--expected-version N] [--dry-run] [--no-wait] [--break-glass | --request-expires-in 3d]',
  summary: 'change settings (values are JSON when they parse, text otherwise; key=null removes a key)',
  options: { ...reasonOption, ...expectedVersionOption, ...dryRunOption, ...expiresInOption, ...protectedOptions, ...rolloutOptions, 'no-wait': { type: 'boolean' } },
  async run(context) {
    const [service, ...assignments] = context.args;
    if (!service) throw usageError('missing <service>');
    await writeConfig(context, service, { patch: mergePatchFromAssignments(assignments) });
  },
};

export const patchCommand: Command = {
  name: 'patch',
  usage: 'patch <service> <file.json|file.yaml|-> [--replace] [--reason R] [--rollout 10,50,100 --bake 5m] [--expected-version N] [--dry-run] [--no-wait]',
  summary: 'apply an RFC 7396 merge patch from a file (or replace the whole config with --replace)',
  options: { ...reasonOption, ...expectedVersionOption, ...dryRunOption, ...expiresInOption, ...protectedOptions, ...rolloutOptions, replace: { type: 'boolean' }, 'no-wait': { type: 'boolean' } },
  async run(context) {
    const [service, file] = takeArgs(context, ['service', 'file']) as [string, string];
    const document = await readDocumentFile(file);
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
    rollout: rolloutFrom(context),
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
    const rollout = write.rollout
      ? [
          `  rollout ${write.rollout.id}: version ${write.rollout.candidateVersion} served to ${write.rollout.steps.map((step) => `${step}%`).join(', then ')} of the instances, ${write.rollout.bakeSeconds}s each; the others keep version ${write.rollout.stableVersion}: confighub rollout status ${service}`,
        ]
      : [];
    return [headline, ...(write.changed ? [output.patch(write.diff, '  ', write.diffOperationCount, before)] : []), ...expiry, ...rollout].join('\n');
  });
  // A rollout reaches most instances later, step by step: `rollout status` follows it.
  if (write.changed && !write.dryRun && !write.rollout && !context.options['no-wait']) {
    await checkInstancesTook(context.hub(), service, environment, write.config.version, REFUSAL_WAIT_MS);
  }
}

/** `--rollout 10,50,100 --bake 5m [--max-errors N]` as the API takes it; the bake is required with steps. */
function rolloutFrom(context: CommandContext): { steps: number[]; bake: string; maxErrors: number | null } | null {
  const steps = stringOption(context, 'rollout');
  const bake = stringOption(context, 'bake');
  const maxErrors = intOption(context, 'max-errors');
  if (steps === undefined) {
    if (bake !== undefined || maxErrors !== undefined) throw usageError('--bake and --max-errors go with --rollout <steps>');
    return null;
  }
  const percents = steps.split(',').map((step) => step.trim().replace(/%$/, ''));
  if (percents.some((step) => !/^\d{1,3}$/.test(step))) throw usageError(`--rollout: percentages separated by commas, e.g. 10,50,100 (not "${steps}")`);
  if (bake === undefined) throw usageError('--rollout needs --bake <duration>, e.g. --bake 5m');
  return { steps: percents.map(Number), bake, maxErrors: maxErrors ?? null };
}
