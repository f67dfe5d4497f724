import { setTimeout as sleep } from 'node:timers/promises';
import type { HubConnection } from '@confighub/client';
import { type Command, takeArgs } from '../command.ts';
import { expectType, request } from '../connection.ts';
import { CliError, ExitCode } from '../errors.ts';
import { ConfigInstances } from '../operations.ts';
import { shortTime, table } from '../output.ts';

export const instancesCommand: Command = {
  name: 'instances',
  usage: 'instances <service>',
  summary: 'the instances running a config: the version each applied, and any it refused with the reason',
  async run(context) {
    const [service] = takeArgs(context, ['service']) as [string];
    const { environment, output } = context;
    const config = expectType((await request(context.hub(), ConfigInstances, { service, environment })).config, 'ServiceConfig');
    const { instances } = config;
    output.result({ service, environment, version: config.version, instances }, () => {
      if (instances.length === 0) return `${service} (${environment}), version ${config.version}: no instance has reported`;
      const behind = instances.filter((instance) => instance.appliedVersion !== config.version).length;
      const refused = instances.filter((instance) => instance.rejectedVersion !== null).length;
      return [
        table(
          ['INSTANCE', 'STATUS', 'APPLIED', 'REFUSED', 'REPORTED', 'REASON'],
          instances.map((instance) => [
            instance.instance,
            instance.status,
            instance.appliedVersion === null ? '-' : String(instance.appliedVersion),
            instance.rejectedVersion === null ? '-' : String(instance.rejectedVersion),
            shortTime(instance.reportedAt),
            instance.error ?? '',
          ]),
        ),
        `${instances.length} instance${instances.length === 1 ? '' : 's'} of ${service} (${environment}) at version ${config.version}: ${behind} not on it, ${refused} refused a version`,
      ].join('\n');
    });
  },
};

/** How long `set` waits, by default, for the instances running a config to take the version it wrote. */
export const REFUSAL_WAIT_MS = 3_000;

/** Instances silent for longer are taken for gone: `set` does not wait for them. */
const LIVE_REPORT_MS = 15 * 60_000;

/**
 * After a write: waits (up to `waitMs`) until every instance that reports on the config has applied
 * `version` or refused it; throws REFUSED_BY_INSTANCES (exit 7) naming those that refused it. Instances
 * that do not answer in time, or have not reported for 15 minutes, are left alone: a refusal is what
 * this looks for, not a roll call.
 */
export async function checkInstancesTook(hub: HubConnection, service: string, environment: string, version: number, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const config = expectType((await request(hub, ConfigInstances, { service, environment })).config, 'ServiceConfig');
    const refused = config.instances.filter((instance) => instance.rejectedVersion === version);
    const live = config.instances.filter((instance) => Date.now() - Date.parse(instance.reportedAt) < LIVE_REPORT_MS);
    const pending = live.filter((instance) => instance.rejectedVersion !== version && (instance.appliedVersion ?? 0) < version);
    if (refused.length > 0 && (pending.length === 0 || Date.now() >= deadline)) {
      throw new CliError(
        `version ${version} of ${service} (${environment}) was written, but ${refused.length} instance${refused.length === 1 ? '' : 's'} refused it and run${refused.length === 1 ? 's' : ''} an earlier one`,
        ExitCode.REFUSED_BY_INSTANCES,
        'REFUSED_BY_INSTANCES',
        refused.map((instance) => `${instance.instance}: ${instance.error ?? 'refused'}`),
      );
    }
    if (pending.length === 0 || Date.now() >= deadline) return;
    await sleep(250);
  }
}
