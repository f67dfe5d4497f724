import type { CliRolloutFieldsFragment } from '../generated/graphql.ts';
import { type Command, type CommandContext, reasonOption, stringOption } from '../command.ts';
import { expectType, request } from '../connection.ts';
import { usageError } from '../errors.ts';
import { AbortRollout, ConfigRollouts, PromoteRollout } from '../operations.ts';
import { shortTime, table } from '../output.ts';

export const rolloutCommand: Command = {
  name: 'rollout',
  usage: 'rollout status <service> [--all] | rollout promote <service> [--reason R] | rollout abort <service> --reason R',
  summary: "a config's progressive rollout: where it stands, move it to its next step, or abort it (the stable version is written back)",
  actions: ['status', 'promote', 'abort'],
  options: { ...reasonOption, all: { type: 'boolean' } },
  async run(context) {
    const [action, service, ...rest] = context.args;
    if (rest.length > 0) throw usageError(`unexpected argument "${rest[0]}"`);
    if (!service) throw usageError('missing <service>');
    switch (action) {
      case 'status':
        return status(context, service);
      case 'promote':
      case 'abort': {
        const underWay = (await rollouts(context, service, 1)).find((one) => one.state === 'ACTIVE');
        if (!underWay) throw usageError(`no rollout of ${service} (${context.environment}) is under way`);
        const reason = stringOption(context, 'reason') ?? null;
        if (action === 'abort' && !reason) throw usageError('rollout abort needs --reason: it goes into the audit log with the rollback');
        const input = { id: underWay.id, reason };
        const moved =
          action === 'promote'
            ? expectType((await request(context.hub(), PromoteRollout, { input })).promoteRollout, 'Rollout')
            : expectType((await request(context.hub(), AbortRollout, { input })).abortRollout, 'Rollout');
        context.output.result(moved, () => describe(moved));
        return;
      }
      default:
        throw usageError(`rollout needs "status", "promote" or "abort", not ${action ? `"${action}"` : 'nothing'}`);
    }
  },
};

async function rollouts(context: CommandContext, service: string, first: number): Promise<CliRolloutFieldsFragment[]> {
  const config = expectType((await request(context.hub(), ConfigRollouts, { service, environment: context.environment, first })).config, 'ServiceConfig');
  return config.rollouts ?? [];
}

async function status(context: CommandContext, service: string): Promise<void> {
  const found = await rollouts(context, service, context.options.all ? 20 : 1);
  context.output.result(found, () =>
    found.length === 0 ? `no rollouts of ${service} (${context.environment})` : found.map((one) => describe(one)).join('\n\n'),
  );
}

/** A rollout for a person: where it stands, its instances, what happened. */
function describe(one: CliRolloutFieldsFragment): string {
  const steps = one.steps.map((step, index) => (one.state === 'ACTIVE' && index === one.stepIndex ? `[${step}%]` : `${step}%`)).join(' -> ');
  const standing =
    one.state === 'ACTIVE'
      ? `step ${one.stepIndex + 1} of ${one.steps.length} (${one.percent}%), next at ${shortTime(one.nextStepAt)}`
      : `${one.state.toLowerCase().replace('_', ' ')}${one.endedAt ? ` at ${shortTime(one.endedAt)}` : ''}${one.endedBy ? ` by ${one.endedBy}` : ''}`;
  const lines = [
    `rollout ${one.id}: ${one.service} (${one.environment}) version ${one.stableVersion} -> ${one.candidateVersion}, by ${one.createdBy}: ${standing}`,
    `  steps ${steps}, bake ${one.bakeSeconds}s, errors tolerated ${one.maxErrors}`,
    ...(one.outcome ? [`  ${one.outcome}`] : []),
    ...(one.rollbackVersion ? [`  rolled back as version ${one.rollbackVersion}`] : []),
  ];
  if (one.instances.length > 0) {
    const rows = one.instances.map((instance) => [
      instance.instance,
      instance.inStep ? 'yes' : 'no',
      String(instance.servedVersion),
      instance.status,
      instance.appliedVersion == null ? '-' : String(instance.appliedVersion),
      instance.rejectedVersion == null ? '' : `refused ${instance.rejectedVersion}${instance.error ? `: ${instance.error}` : ''}`,
    ]);
    lines.push(table(['INSTANCE', 'IN STEP', 'SERVED', 'STATUS', 'APPLIED', 'PROBLEM'], rows).replace(/^/gm, '  '));
  }
  lines.push(...one.events.map((event) => `  ${shortTime(event.at)} ${event.actor} ${event.kind.toLowerCase().replace('_', ' ')} (${event.percent}%)${event.detail ? `: ${event.detail}` : ''}`));
  return lines.join('\n');
}
