import type { CliApiTokenFieldsFragment } from '../generated/graphql.ts';
import { type Command, type CommandContext, listOption, stringOption } from '../command.ts';
import { CliError, ExitCode, usageError } from '../errors.ts';
import { expectType, request } from '../connection.ts';
import { CreateToken, ListTokens, RevokeToken, RotateToken, Viewer } from '../operations.ts';
import { shortTime, table } from '../output.ts';
import { answered, durationMs } from '@confighub/client';

const ROLES = ['READER', 'EDITOR', 'ADMIN'] as const;
type Role = (typeof ROLES)[number];

export const tokensCommand: Command = {
  name: 'tokens',
  usage:
    'tokens create <name> --role READER|EDITOR|ADMIN [--services a,b] [--environments x,y] [--expires-in 30d | --expires-at ISO-8601] | tokens rotate <name> [--expires-in 30d | --expires-at ISO-8601] | tokens list | tokens revoke <name>',
  summary: 'create, rotate, list and revoke API tokens (admin)',
  actions: ['create', 'rotate', 'list', 'revoke'],
  options: {
    role: { type: 'string' },
    services: { type: 'string', multiple: true },
    environments: { type: 'string', multiple: true },
    'expires-at': { type: 'string' },
    'expires-in': { type: 'string' },
  },
  async run(context) {
    const [action, name, ...rest] = context.args;
    if (rest.length > 0) throw usageError(`unexpected argument "${rest[0]}"`);
    switch (action) {
      case 'create':
        if (!name) throw usageError('missing <name> (recorded as the actor of every change made with the token)');
        return createToken(context, name);
      case 'list':
        if (name) throw usageError(`unexpected argument "${name}"`);
        return listTokens(context);
      case 'rotate':
        if (!name) throw usageError('missing <name>');
        return rotateToken(context, name);
      case 'revoke':
        if (!name) throw usageError('missing <name>');
        return revokeToken(context, name);
      default:
        throw usageError(`tokens needs "create", "rotate", "list" or "revoke", not ${action ? `"${action}"` : 'nothing'}`);
    }
  },
};

export const whoamiCommand: Command = {
  name: 'whoami',
  usage: 'whoami',
  summary: 'show the token in use: its name, role and scope',
  async run(context) {
    if (context.args.length > 0) throw usageError(`unexpected argument "${context.args[0]}"`);
    const { viewer } = await request(context.hub(), Viewer, {});
    if (!viewer) throw new CliError('no token: give one with --token or CONFIGHUB_TOKEN', ExitCode.AUTH, 'UNAUTHENTICATED');
    context.output.result(viewer, () =>
      [`${viewer.name} (${viewer.role})`, `services: ${scope(viewer.services)}`, `environments: ${scope(viewer.environments)}`, `expires: ${viewer.expiresAt ? shortTime(viewer.expiresAt) : 'never'}`].join('\n'),
    );
  },
};

async function createToken(context: CommandContext, name: string): Promise<void> {
  const role = stringOption(context, 'role')?.toUpperCase();
  if (!role) throw usageError('missing --role READER|EDITOR|ADMIN');
  if (!ROLES.includes(role as Role)) throw usageError(`--role must be READER, EDITOR or ADMIN, not "${role}"`);
  const expiresAt = expiryOption(context);
  const input = {
    name,
    role: role as Role,
    services: listOption(context, 'services'),
    environments: listOption(context, 'environments'),
    expiresAt,
  };
  const { createToken: result } = await request(context.hub(), CreateToken, { input });
  const created = expectType(result, 'CreatedToken');
  context.output.result({ token: created.token, ...created.apiToken }, () => {
    // The token alone on stdout (for `$(confighub tokens create ...)`); the rest is for the person.
    context.output.note(`created token "${name}" (${created.apiToken.role}; services: ${scope(created.apiToken.services)}; environments: ${scope(created.apiToken.environments)})`);
    context.output.note('it is shown this once: keep it now');
    return created.token;
  });
}

/** The furthest --expires-in reaches. */
const MAX_EXPIRY_MS = 100 * 365 * 86_400_000;

/** `--expires-in 30d` (minutes, hours, days or weeks) or `--expires-at ISO-8601`, as an ISO date-time; undefined when neither. */
export function expiryOption(context: CommandContext, now = Date.now()): string | undefined {
  const at = stringOption(context, 'expires-at');
  const within = stringOption(context, 'expires-in');
  if (at !== undefined && within !== undefined) throw usageError('--expires-at and --expires-in: give one');
  if (at !== undefined) {
    if (Number.isNaN(Date.parse(at))) throw usageError(`--expires-at must be a date-time such as 2027-01-31T00:00:00Z, not "${at}"`);
    return new Date(at).toISOString();
  }
  if (within === undefined) return undefined;
  const ms = durationMs(within);
  if (!(ms > 0 && ms <= MAX_EXPIRY_MS)) throw usageError(`--expires-in must be a duration such as 90m, 12h, 30d or 8w (at most 100 years), not "${within}"`);
  return new Date(now + ms).toISOString();
}

async function rotateToken(context: CommandContext, name: string): Promise<void> {
  const { rotateToken: result } = await request(context.hub(), RotateToken, { input: { name, expiresAt: expiryOption(context) } });
  const rotated = expectType(result, 'CreatedToken');
  context.output.result({ token: rotated.token, ...rotated.apiToken }, () => {
    context.output.note(`rotated token "${name}": the old secret is refused from now on; expires ${rotated.apiToken.expiresAt ? shortTime(rotated.apiToken.expiresAt) : 'never'}`);
    context.output.note('it is shown this once: keep it now');
    return rotated.token;
  });
}

async function listTokens(context: CommandContext): Promise<void> {
  const tokens = answered((await request(context.hub(), ListTokens, {})).tokens, 'tokens');
  context.output.result(tokens, () =>
    tokens.length === 0
      ? 'no tokens'
      : table(
          ['NAME', 'PREFIX', 'ROLE', 'SERVICES', 'ENVIRONMENTS', 'STATE', 'LAST USED', 'CREATED BY'],
          tokens.map((token) => [token.name, `${token.prefix}…`, token.role, scope(token.services), scope(token.environments), state(token), shortTime(token.lastUsedAt), token.createdBy]),
        ),
  );
}

async function revokeToken(context: CommandContext, name: string): Promise<void> {
  // Looked up first, so that an unknown name is "not found" (exit 2) rather than a refused input.
  const tokens = answered((await request(context.hub(), ListTokens, {})).tokens, 'tokens');
  if (!tokens.some((token) => token.name === name)) throw new CliError(`no token named "${name}"`, ExitCode.NOT_FOUND, 'NOT_FOUND');
  const { revokeToken: result } = await request(context.hub(), RevokeToken, { input: { name } });
  const revoked = expectType(result, 'ApiToken');
  context.output.result(revoked, () => `revoked token "${revoked.name}" (${revoked.prefix}…) at ${shortTime(revoked.revokedAt)}`);
}

function scope(items: readonly string[] | null | undefined): string {
  return items ? items.join(',') : 'all';
}

function state(token: CliApiTokenFieldsFragment): string {
  if (token.revokedAt) return `revoked ${shortTime(token.revokedAt)}`;
  if (token.expiresAt && Date.parse(token.expiresAt) <= Date.now()) return `expired ${shortTime(token.expiresAt)}`;
  return token.expiresAt ? `expires ${shortTime(token.expiresAt)}` : 'active';
}
