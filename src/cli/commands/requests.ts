import type { CliChangeRequestFieldsFragment, ChangeRequestState, ReviewVerdict } from '../generated/graphql.ts';
import { type Command, type CommandContext, listOption, stringOption } from '../command.ts';
import { expectType, request } from '../connection.ts';
import { usageError } from '../errors.ts';
import { GetChangeRequest, ListChangeRequests, ReviewChangeRequest, WithdrawChangeRequest } from '../operations.ts';
import { shortTime, table } from '../output.ts';

const STATES = ['OPEN', 'APPLYING', 'APPLIED', 'REJECTED', 'WITHDRAWN', 'STALE', 'EXPIRED'] as const;
const VERDICTS: Record<string, ReviewVerdict> = { approve: 'APPROVE', reject: 'REJECT', comment: 'COMMENT' };

export const requestsCommand: Command = {
  name: 'requests',
  usage:
    'requests list [<service>] [--state OPEN,APPLIED,...] | requests show <id> | requests approve|reject <id> [--comment text] | requests comment <id> --comment text | requests withdraw <id>',
  summary: 'change requests of protected environments: list, show, approve, reject, comment, withdraw',
  actions: ['list', 'show', 'approve', 'reject', 'comment', 'withdraw'],
  options: { comment: { type: 'string' }, state: { type: 'string', multiple: true } },
  async run(context) {
    const [action, argument, ...rest] = context.args;
    if (rest.length > 0) throw usageError(`unexpected argument "${rest[0]}"`);
    switch (action) {
      case 'list':
        return listRequests(context, argument);
      case 'show':
        return show(context, expectType((await request(context.hub(), GetChangeRequest, { id: required(argument) })).changeRequest, 'ChangeRequest'));
      case 'approve':
      case 'reject':
      case 'comment': {
        if (action === 'comment' && !stringOption(context, 'comment')) throw usageError('comment needs --comment <text>');
        const input = { id: required(argument), verdict: VERDICTS[action]!, comment: stringOption(context, 'comment') ?? null };
        return show(context, expectType((await request(context.hub(), ReviewChangeRequest, { input })).reviewChangeRequest, 'ChangeRequest'));
      }
      case 'withdraw': {
        const input = { id: required(argument) };
        return show(context, expectType((await request(context.hub(), WithdrawChangeRequest, { input })).withdrawChangeRequest, 'ChangeRequest'));
      }
      default:
        throw usageError(`requests needs "list", "show", "approve", "reject", "comment" or "withdraw", not ${action ? `"${action}"` : 'nothing'}`);
    }
  },
};

function required(id: string | undefined): string {
  if (!id) throw usageError('missing <id> (as `confighub requests list` shows it)');
  return id;
}

async function listRequests(context: CommandContext, service: string | undefined): Promise<void> {
  const states = (listOption(context, 'state') ?? []).map((state) => state.toUpperCase());
  for (const state of states) if (!(STATES as readonly string[]).includes(state)) throw usageError(`--state: one of ${STATES.join(', ')}, not "${state}"`);
  const variables = { service: service ?? null, environment: context.environmentGiven ? context.environment : null, states: states.length > 0 ? (states as ChangeRequestState[]) : null };
  const { changeRequests } = await request(context.hub(), ListChangeRequests, variables);
  const requests = changeRequests ?? [];
  context.output.result(requests, () =>
    requests.length === 0
      ? `no change requests${states.length > 0 ? ` ${states.join(', ').toLowerCase()}` : ' open'}`
      : table(
          ['ID', 'SERVICE', 'ENVIRONMENT', 'STATE', 'APPROVALS', 'AUTHOR', 'EXPIRES', 'REASON'],
          requests.map((one) => [one.id, one.service, one.environment, one.state, `${one.approvals}/${one.requiredApprovals}`, one.author, shortTime(one.expiresAt), one.reason]),
        ),
  );
}

function show(context: CommandContext, one: CliChangeRequestFieldsFragment): void {
  context.output.result(one, () => describe(context, one));
}

/** A request for a person: where it stands, what it changes, who said what. */
function describe(context: CommandContext, one: CliChangeRequestFieldsFragment): string {
  const standing =
    one.state === 'APPLIED'
      ? `applied as version ${one.appliedVersion}`
      : one.state === 'OPEN'
        ? `open, ${one.approvals} of ${one.requiredApprovals} approvals, until ${shortTime(one.expiresAt)}`
        : one.state.toLowerCase();
  return [
    `change request ${one.id}: ${one.service} (${one.environment}) on version ${one.baseVersion}, by ${one.author}: ${standing}`,
    ...(one.outcome ? [`  ${one.outcome}`] : []),
    ...(one.rebase ? [`  the config is at version ${one.rebase.currentVersion} now: ${one.rebase.clean ? '' : 'approving closes it as stale: '}${one.rebase.detail}`] : []),
    `  reason: ${one.reason}`,
    context.output.patch(one.diff ?? [], '  '),
    ...one.reviews.map((review) => `  ${shortTime(review.createdAt)} ${review.reviewer} ${review.verdict.toLowerCase()}${review.comment ? `: ${review.comment}` : ''}`),
  ].join('\n');
}
