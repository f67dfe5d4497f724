import { backoffCeiling } from '@confighub/client';
import type { CliWatchConfigSubscription } from '../generated/graphql.ts';
import { type Command, type CommandContext, intOption, takeArgs } from '../command.ts';
import { CliError, ExitCode } from '../errors.ts';
import { expectType, request } from '../connection.ts';
import { GetConfig, WatchConfig } from '../operations.ts';
import { shortTime } from '../output.ts';

type ConfigChangeEvent = CliWatchConfigSubscription['configChanged'];

/** Waits between reconnection attempts: 1, 2, 4, 8 s, then 10 s. */
const RECONNECT_BACKOFF = { initialMs: 500, maxMs: 10_000 };

export const watchCommand: Command = {
  name: 'watch',
  usage: 'watch <service> [--after-version N] [--count N]',
  summary: 'print changes of a config as they happen (graphql-ws); resumes after a lost connection',
  options: { 'after-version': { type: 'string' }, count: { type: 'string' } },
  async run(context) {
    const [service] = takeArgs(context, ['service']) as [string];
    const { environment, output } = context;
    const count = intOption(context, 'count', 1);
    // Reading first tells an unknown service, a refused token or an absent hub apart with HTTP's clarity.
    const current = expectType((await request(context.hub(), GetConfig, { service, environment })).config, 'ServiceConfig');
    let afterVersion = intOption(context, 'after-version') ?? current.version;
    output.note(`watching ${service} (${environment}) after version ${afterVersion}; Ctrl-C to stop`);

    let received = 0;
    let failures = 0;
    let connectedOnce = false;
    for (;;) {
      const outcome = await followOnce(context, { service, environment, afterVersion }, (event) => {
        afterVersion = event.version;
        received++;
        printEvent(context, event);
        return count !== undefined && received >= count;
      });
      if (outcome.done) return;
      connectedOnce ||= outcome.everConnected;
      if (!connectedOnce) throw new CliError(`cannot open a WebSocket to ${context.hub().url}: ${outcome.reason}`, ExitCode.UNREACHABLE, 'NETWORK');
      // Reconnect with the last version seen: the hub replays what happened meanwhile, once each.
      failures = outcome.everConnected ? 1 : failures + 1;
      const delay = backoffCeiling(failures, RECONNECT_BACKOFF);
      output.note(`connection lost (${outcome.reason}); reconnecting in ${Math.round(delay / 1000)} s`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  },
};

interface FollowOutcome {
  done: boolean;
  everConnected: boolean;
  reason: string;
}

/** One subscription on one socket, until `onEvent` says done or the socket goes. */
async function followOnce(
  context: CommandContext,
  variables: { service: string; environment: string; afterVersion: number },
  onEvent: (event: ConfigChangeEvent) => boolean,
): Promise<FollowOutcome> {
  const connection = context.hub();
  let everConnected = false;
  // Loaded here, not at start: only this command needs a WebSocket.
  const [{ createClient }, { default: WebSocket }] = await Promise.all([import('graphql-ws'), import('ws')]);
  const client = createClient({
    url: `${connection.url.replace(/\/+$/, '').replace(/\/graphql$/, '').replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: connection.token ? { authorization: `Bearer ${connection.token}` } : {},
    retryAttempts: 0,
    lazy: true,
    keepAlive: 10_000,
    on: { connected: () => (everConnected = true) },
  });
  try {
    const results = client.iterate<CliWatchConfigSubscription>({ query: WatchConfig.toString(), variables });
    for await (const result of results) {
      if (result.errors?.length) throw graphqlErrors(result.errors);
      if (result.data && onEvent(result.data.configChanged)) return { done: true, everConnected, reason: 'done' };
    }
    return { done: false, everConnected, reason: 'the hub ended the subscription' };
  } catch (error) {
    if (error instanceof CliError) throw error;
    if (Array.isArray(error)) throw graphqlErrors(error);
    const close = error as { code?: number; reason?: string; message?: string };
    if (close.code === 4401 || close.code === 4403 || close.code === 4429) {
      const code = close.code === 4401 ? 'UNAUTHENTICATED' : close.code === 4403 ? 'FORBIDDEN' : 'TOO_MANY_FAILED_AUTHENTICATIONS';
      throw new CliError(`the hub refused the token: ${close.reason || close.code}`, ExitCode.AUTH, code);
    }
    return { done: false, everConnected, reason: close.reason || close.message || (close.code ? `closed with ${close.code}` : String(error)) };
  } finally {
    await client.dispose();
  }
}

function graphqlErrors(errors: readonly { message: string; extensions?: Record<string, unknown> }[]): CliError {
  const code = errors.find((error) => error.extensions?.code === 'UNAUTHENTICATED' || error.extensions?.code === 'FORBIDDEN')?.extensions?.code;
  const message = errors.map((error) => error.message).join('; ');
  return code ? new CliError(`the hub refused the token: ${message}`, ExitCode.AUTH, String(code)) : new CliError(message, ExitCode.USAGE, 'GRAPHQL');
}

function printEvent(context: CommandContext, event: ConfigChangeEvent): void {
  const { output } = context;
  output.line(event, () => {
    const reason = event.reason ? ` "${event.reason}"` : '';
    const headline = `${output.paint(`v${event.version}`, 'bold')}  ${event.action.padEnd(8)}  ${shortTime(event.changedAt)}  ${event.changedBy}${reason}`;
    return `${headline}\n${output.patch(event.patch, '    ', event.patchOperationCount)}`;
  });
}
