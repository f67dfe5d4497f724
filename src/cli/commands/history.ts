import { ConfigBlame, ConfigDiff, ConfigHistory, RollbackConfig } from '../operations.ts';
import { type Command, dryRunOption, expectedVersionOption, intOption, parseInteger, reasonOption, stringOption, takeArgs } from '../command.ts';
import { CliError, ExitCode } from '../errors.ts';
import { contentAt, expectType, fittingPage, request } from '../connection.ts';
import { answered, hubRequest } from '@confighub/client';
import { type PatchOperation, compact, settingName, shortTime, table } from '../output.ts';
import type { ConfigHistoryQuery } from '../generated/graphql.ts';

export const historyCommand: Command = {
  name: 'history',
  usage: 'history <service> [--limit N]',
  summary: 'list the changes of a config, newest first, with what each changed',
  options: { limit: { type: 'string' } },
  async run(context) {
    const [service] = takeArgs(context, ['service']) as [string];
    const { environment, output } = context;
    const limit = intOption(context, 'limit', 1) ?? 20;
    const changes: NonNullable<ConfigHistoryQuery['configHistory']>['edges'][number]['node'][] = [];
    let after: string | null | undefined;
    do {
      const page = await fittingPage(context.hub(), Math.min(limit - changes.length, 100), async (first) => {
        const data: ConfigHistoryQuery = await hubRequest(context.hub(), ConfigHistory, { service, environment, first, after });
        return answered(data.configHistory, 'history');
      });
      changes.push(...page.edges.map((edge) => edge.node));
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : undefined;
    } while (after && changes.length < limit);
    if (changes.length === 0) {
      // An empty history means no such config: the history of a config starts with its creation.
      throw new CliError(`no config ${service} in ${environment}`, ExitCode.NOT_FOUND, 'NOT_FOUND');
    }
    output.result(changes, () =>
      changes
        .map((change) => {
          const reason = change.reason ? ` "${change.reason}"` : '';
          const headline = `${output.paint(`v${change.version}`, 'bold')}  ${change.action.padEnd(8)}  ${shortTime(change.changedAt)}  ${change.changedBy}${reason}`;
          return change.action === 'CREATE' ? headline : `${headline}\n${output.patch(change.patch ?? [], '    ', change.patchOperationCount, change.oldConfig)}`;
        })
        .join('\n'),
    );
  },
};

export const diffCommand: Command = {
  name: 'diff',
  usage: 'diff <service> <from-version> <to-version>',
  summary: 'what turns the content at one version into the content at another (RFC 6902)',
  async run(context) {
    const [service, from, to] = takeArgs(context, ['service', 'from-version', 'to-version']) as [string, string, string];
    const { environment, output } = context;
    const fromVersion = parseInteger(from, '<from-version>', 1);
    const toVersion = parseInteger(to, '<to-version>', 1);
    // The hub answers a long diff in pages.
    const operations: PatchOperation[] = [];
    let total = 0;
    do {
      const data = await request(context.hub(), ConfigDiff, { service, environment, fromVersion, toVersion, offset: operations.length });
      const page = expectType(data.configDiff, 'ConfigDiff');
      total = page.operationCount;
      if (page.operations.length === 0) break;
      operations.push(...page.operations);
    } while (operations.length < total);
    const before = output.json ? undefined : await contentAt(context.hub(), service, environment, fromVersion);
    output.result({ service, environment, fromVersion, toVersion, operations }, () =>
      [`${service} (${environment}) v${fromVersion} -> v${toVersion}`, output.patch(operations, '  ', operations.length, before)].join('\n'),
    );
  },
};

export const rollbackCommand: Command = {
  name: 'rollback',
  usage: 'rollback <service> <version> [--reason R] [--expected-version N] [--dry-run]',
  summary: "write a new version with an earlier version's content",
  options: { ...reasonOption, ...expectedVersionOption, ...dryRunOption },
  async run(context) {
    const [service, version] = takeArgs(context, ['service', 'version']) as [string, string];
    const { environment, output } = context;
    const input = {
      service,
      environment,
      toVersion: parseInteger(version, '<version>', 1),
      reason: stringOption(context, 'reason'),
      expectedVersion: intOption(context, 'expected-version'),
      dryRun: Boolean(context.options['dry-run']),
    };
    const data = await request(context.hub(), RollbackConfig, { input });
    const write = expectType(data.rollbackConfig, 'ConfigWrite');
    const before = output.json || write.previousVersion == null ? undefined : await contentAt(context.hub(), service, environment, write.previousVersion);
    output.result(write, () => {
      const headline = write.dryRun
        ? `${service} (${environment}): dry run, rolling back to v${input.toVersion} would write version ${write.config.version}; nothing written`
        : `${service} (${environment}): version ${write.previousVersion} -> ${write.config.version} (the content of v${input.toVersion})`;
      return [headline, output.patch(write.diff, '  ', write.diffOperationCount, before)].join('\n');
    });
  },
};

export const blameCommand: Command = {
  name: 'blame',
  usage: 'blame <service>',
  summary: 'who last set each setting of a config: version, actor, time and reason',
  async run(context) {
    const [service] = takeArgs(context, ['service']) as [string];
    const { environment, output } = context;
    const blame = expectType((await request(context.hub(), ConfigBlame, { service, environment })).configBlame, 'ConfigBlame');
    output.result({ service, environment, ...blame }, () => {
      const rows = blame.settings.map((setting) => [
        settingName(setting.pointer),
        compact(setting.value),
        `v${setting.version}`,
        setting.changedBy,
        shortTime(setting.changedAt),
        setting.reason ?? '',
      ]);
      const lines = [`${service} (${environment}), version ${blame.version}`, table(['SETTING', 'VALUE', 'SET IN', 'BY', 'WHEN', 'REASON'], rows)];
      if (!blame.complete) lines.push('(the history is too long to read whole: older settings are left out)');
      return lines.join('\n');
    });
  },
};
