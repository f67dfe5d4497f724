// Shared by the bad-input corpus and the merge-patch property test: what a refusal looks like on each
// transport, one graphql-ws operation on its own socket, and a digest of everything a request could write.
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { Database } from '../../src/db/database.ts';
import { tablesDigest } from './databases.ts';

/** A request's outcome, the same shape whatever carried it. */
export interface Outcome {
  /** HTTP status (REST and GraphQL over HTTP); absent in-process over WebSocket. */
  status?: number;
  /**
   * REST: `error.code`. GraphQL: the `__typename` of a typed result (`SecretRejectedError`, `ConfigWrite`),
   * else `extensions.code` of the first error (`UNCODED` when it has none). WebSocket: the same, or
   * `CLOSED <code>` when the server closed the socket instead of answering.
   */
  code: string;
  message: string;
  /** The JSON pointers of a ValidationError or SecretRejectedError, when there are any. */
  pointers?: string[];
}

interface GraphQLBody {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** A GraphQL result as an Outcome: a typed result of the (single) root field wins over errors. */
export function graphqlOutcome(body: GraphQLBody, status?: number): Outcome {
  const root = body.data ? Object.values(body.data)[0] : undefined;
  if (root && typeof root === 'object' && '__typename' in root) {
    const typed = root as { __typename: string; message?: string; issues?: { pointer: string }[]; changed?: boolean };
    return {
      status,
      code: typed.__typename,
      message: typed.message ?? (typed.changed === undefined ? '' : `changed: ${typed.changed}`),
      ...(typed.issues ? { pointers: typed.issues.map((issue) => issue.pointer) } : {}),
    };
  }
  const first = body.errors?.[0];
  if (!first) return { status, code: 'NO_ERROR', message: JSON.stringify(body).slice(0, 500) };
  const issues = first.extensions?.issues as { pointer: string }[] | undefined;
  return {
    status,
    code: typeof first.extensions?.code === 'string' ? first.extensions.code : 'UNCODED',
    message: body.errors!.map((error) => error.message).join(' | '),
    ...(issues ? { pointers: issues.map((issue) => issue.pointer) } : {}),
  };
}

/** A REST response as an Outcome. */
export async function restOutcome(response: Response): Promise<Outcome> {
  const text = await response.text();
  let body: { error?: { code?: string; message?: string; issues?: { pointer: string }[] } } | undefined;
  try {
    body = JSON.parse(text);
  } catch {
    return { status: response.status, code: 'NOT_JSON', message: text.slice(0, 500) };
  }
  if (!body?.error) return { status: response.status, code: 'NO_ERROR', message: text.slice(0, 500) };
  return {
    status: response.status,
    code: body.error.code ?? 'UNCODED',
    message: body.error.message ?? '',
    ...(body.error.issues ? { pointers: body.error.issues.map((issue) => issue.pointer) } : {}),
  };
}

/**
 * Runs one GraphQL operation over graphql-ws on a socket of its own and reports how it ended: its
 * (first) result, the errors the server refused it with, or the close of the socket. A socket the
 * server refuses at connection (auth) ends as `CLOSED <code>`.
 */
export async function webSocketOutcome(
  baseUrl: string,
  operation: { query: string; variables?: Record<string, unknown> },
  connectionParams: Record<string, unknown>,
  timeoutMs = 10_000,
): Promise<Outcome> {
  let closed: { code: number; reason: string } | undefined;
  const client: Client = createClient({
    url: `${baseUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy: true,
    on: { closed: (event) => void (closed ??= { code: (event as CloseEvent).code, reason: (event as CloseEvent).reason }) },
  });
  try {
    return await new Promise<Outcome>((resolve) => {
      const timer = setTimeout(() => resolve({ code: 'TIMEOUT', message: `no answer within ${timeoutMs} ms` }), timeoutMs);
      const finish = (outcome: Outcome) => {
        clearTimeout(timer);
        resolve(outcome);
      };
      client.subscribe(operation, {
        next: (result) => finish(graphqlOutcome(result as GraphQLBody)),
        error: (error) => {
          if (Array.isArray(error)) return finish(graphqlOutcome({ errors: error }));
          const event = (error ?? {}) as { code?: number; reason?: string };
          const close = closed ?? (typeof event.code === 'number' ? { code: event.code, reason: event.reason ?? '' } : undefined);
          if (close) return finish({ code: `CLOSED ${close.code}`, message: close.reason });
          finish({ code: 'SOCKET_ERROR', message: error instanceof Error ? error.message : String(error) });
        },
        complete: () => finish({ code: 'COMPLETED', message: 'completed without a result' }),
      });
    });
  } finally {
    await client.dispose();
  }
}

/**
 * Sends one graphql-ws subscribe message as raw text (so it can hold what JSON.stringify cannot write,
 * such as a number with more digits than a double keeps) on a socket of its own, after the handshake,
 * and reports the answer to it like `webSocketOutcome`.
 */
export async function rawWebSocketOutcome(baseUrl: string, subscribe: string, connectionParams: Record<string, unknown>, timeoutMs = 10_000): Promise<Outcome> {
  const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
  try {
    return await new Promise<Outcome>((resolve) => {
      const timer = setTimeout(() => resolve({ code: 'TIMEOUT', message: `no answer within ${timeoutMs} ms` }), timeoutMs);
      const finish = (outcome: Outcome) => {
        clearTimeout(timer);
        resolve(outcome);
      };
      socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: connectionParams })));
      socket.on('close', (code, reason) => finish({ code: `CLOSED ${code}`, message: String(reason) }));
      socket.on('message', (data) => {
        const message = JSON.parse(String(data)) as { type: string; payload?: unknown };
        if (message.type === 'connection_ack') socket.send(subscribe);
        else if (message.type === 'next') finish(graphqlOutcome(message.payload as GraphQLBody));
        else if (message.type === 'error') finish(graphqlOutcome({ errors: message.payload as GraphQLBody['errors'] }));
      });
    });
  } finally {
    socket.close();
  }
}

/** Tables beside the two `tablesDigest` covers that a request could write, when they exist; with columns a read may move. */
const OTHER_TABLES: { table: string; ignored: string[] }[] = [
  { table: 'config_schemas', ignored: [] },
  { table: 'api_tokens', ignored: ['last_used_at'] },
  { table: 'config_instances', ignored: [] },
];

/**
 * Everything a request could write: `tablesDigest` (configs and audit log, as every test compares them)
 * plus the schema versions, the API tokens (their last-use mark aside, as using a token may move it)
 * and any other table of the hub that exists in this build.
 */
export async function storedDigest(db: Database): Promise<Record<string, string>> {
  const digest: Record<string, string> = { tables: await tablesDigest(db) };
  await db.session(async (sql) => {
    for (const { table, ignored } of OTHER_TABLES) {
      const [exists] = await sql.query<{ found: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS found`, [table]);
      if (!exists!.found) continue;
      const row = ignored.reduce((expression, column) => `${expression} - '${column}'`, 'to_jsonb(t)');
      const [result] = await sql.query<{ digest: string }>(
        `SELECT md5(coalesce((SELECT string_agg((${row})::text, '|' ORDER BY (${row})::text) FROM ${table} t), '')) AS digest`,
      );
      digest[table] = result!.digest;
    }
  });
  return digest;
}
