import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type HubConnection, HubRequestError, type TypedDocument, durationMs, hubRequest } from '@confighub/client';
import { CliError, ExitCode, type ApiFailure, failureToError } from './errors.ts';
import { ConfigAtVersion } from './operations.ts';
import { activeContext } from './contexts.ts';

/** The hub the CLI talks to when neither `--url` nor CONFIGHUB_URL names one. */
export const DEFAULT_HUB_URL = 'http://127.0.0.1:4000';

/** How long one request may take. @default 15_000 */
const REQUEST_TIMEOUT_MS = 15_000;

export interface ConnectionOptions {
  url?: string;
  token?: string;
  /** `--timeout`: `15s`, `500ms`, `2m`, or seconds. */
  timeout?: string;
}

/** The longest and shortest `--timeout`. */
const MAX_TIMEOUT_MS = 600_000;
const MIN_TIMEOUT_MS = 100;

/** `--timeout` (or CONFIGHUB_TIMEOUT) in milliseconds: `15s`, `500ms`, `2m`, or a number of seconds. */
export function parseTimeout(text: string): number {
  const ms = durationMs(text, 's');
  if (!(ms >= MIN_TIMEOUT_MS && ms <= MAX_TIMEOUT_MS)) throw new CliError(`--timeout must be a duration from 100ms to 10m (such as 30s), not "${text}"`, ExitCode.USAGE, 'USAGE');
  return ms;
}

/**
 * Where the hub is and which token to send: `--url`, else CONFIGHUB_URL, else the context in use
 * (contexts.ts), else the local default; `--token`, else CONFIGHUB_TOKEN, else the context's token (sent
 * to the context's own hub only), else the admin token a local hub wrote to
 * `<CONFIGHUB_DATA_DIR or ./.confighub>/admin-token`. Each request may take `--timeout` (CONFIGHUB_TIMEOUT, 15 s).
 */
export function resolveConnection(options: ConnectionOptions, env: NodeJS.ProcessEnv = process.env): HubConnection {
  const hubContext = activeContext(env);
  const givenUrl = options.url ?? nonEmpty(env.CONFIGHUB_URL);
  const url = givenUrl ?? hubContext?.url ?? DEFAULT_HUB_URL;
  if (!/^https?:\/\//.test(url)) throw new CliError(`--url must be an http(s) URL, not "${url}"`, ExitCode.USAGE, 'USAGE');
  const contextToken = givenUrl === undefined || givenUrl === hubContext?.url ? hubContext?.token : undefined;
  const token = options.token ?? nonEmpty(env.CONFIGHUB_TOKEN) ?? contextToken ?? readAdminTokenFile(env);
  const timeout = options.timeout ?? nonEmpty(env.CONFIGHUB_TIMEOUT);
  return { url, token, timeoutMs: timeout === undefined ? REQUEST_TIMEOUT_MS : parseTimeout(timeout) };
}

function readAdminTokenFile(env: NodeJS.ProcessEnv): string | undefined {
  const file = path.join(nonEmpty(env.CONFIGHUB_DATA_DIR) ?? './.confighub', 'admin-token');
  if (!existsSync(file)) return undefined;
  return nonEmpty(readFileSync(file, 'utf8'));
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

/** One GraphQL operation; a failure of the transport becomes a CliError with its exit code. */
export async function request<TResult, TVariables>(
  connection: HubConnection,
  document: TypedDocument<TResult, TVariables>,
  variables: TVariables,
): Promise<TResult> {
  try {
    return await hubRequest(connection, document, variables);
  } catch (error) {
    throw transportError(error, connection);
  }
}

/**
 * One page of a connection, asked for with `ask(first)`: again with half as many while the hub says
 * the page would carry more than one answer may (PAGE_TOO_LARGE, ANSWER_TOO_LARGE: large configs).
 */
export async function fittingPage<T>(connection: HubConnection, first: number, ask: (first: number) => Promise<T>): Promise<T> {
  for (let size = first; ; size = Math.ceil(size / 2)) {
    try {
      return await ask(size);
    } catch (error) {
      const tooLarge = error instanceof HubRequestError && error.errors.some((one) => one.extensions?.code === 'PAGE_TOO_LARGE' || one.extensions?.code === 'ANSWER_TOO_LARGE');
      if (!tooLarge || size === 1) throw transportError(error, connection);
    }
  }
}

/** Maps a transport failure to the CLI's exit codes. */
export function transportError(error: unknown, connection: HubConnection): CliError {
  if (!(error instanceof HubRequestError)) return error instanceof CliError ? error : new CliError(String((error as Error)?.message ?? error), ExitCode.USAGE, 'ERROR');
  // Too many failed authentications from this address: the hub refuses it for a while.
  if (error.status === 429) return new CliError(error.message, ExitCode.AUTH, 'TOO_MANY_FAILED_AUTHENTICATIONS');
  switch (error.code) {
    case 'UNAUTHENTICATED':
      return new CliError(`the hub refused the token: ${error.message}`, ExitCode.AUTH, 'UNAUTHENTICATED', [
        connection.token ? 'check --token / CONFIGHUB_TOKEN (expired or revoked?)' : 'give a token with --token or CONFIGHUB_TOKEN',
      ]);
    case 'FORBIDDEN':
      return new CliError(`the token may not do this: ${error.message}`, ExitCode.AUTH, 'FORBIDDEN');
    case 'NETWORK':
    case 'TIMEOUT':
      return new CliError(error.message, ExitCode.UNREACHABLE, error.code, ['is the hub running? (confighub serve, or --url / CONFIGHUB_URL)']);
    case 'HTTP':
      return new CliError(error.message, error.status !== undefined && error.status >= 500 ? ExitCode.UNREACHABLE : ExitCode.USAGE, 'HTTP');
    default:
      return new CliError(error.message, ExitCode.USAGE, 'GRAPHQL');
  }
}

/** A result union member: returns it when it is the wanted type, throws the mapped CliError otherwise. */
export function expectType<T extends { __typename: string }, N extends T['__typename']>(result: T | null, typename: N): Extract<T, { __typename: N }> {
  if (result === null) throw new CliError('the hub answered without a result', ExitCode.USAGE, 'GRAPHQL');
  if (result.__typename === typename) return result as Extract<T, { __typename: N }>;
  throw failureToError(result as unknown as ApiFailure);
}

/**
 * The content of a version, for showing old -> new to a person; undefined when it cannot be read (the
 * change itself is what matters: its display then shows new values only).
 */
export async function contentAt(connection: HubConnection, service: string, environment: string, version: number): Promise<unknown> {
  try {
    const data = await hubRequest(connection, ConfigAtVersion, { service, environment, version });
    const change = data.configVersion;
    return change?.__typename === 'ConfigChange' ? (change.newConfig ?? undefined) : undefined;
  } catch {
    return undefined;
  }
}
