// GraphQL over HTTP to a hub, shared by ConfigClient and the CLI. Plain `fetch`, no server code.

/** A GraphQL document typed with its result and variables (as graphql-codegen's client preset makes them). */
export interface TypedDocument<TResult, TVariables> {
  __apiType?: (variables: TVariables) => TResult;
  toString(): string;
}

/** Where a hub answers and how to talk to it. */
export interface HubConnection {
  /** Base URL of the hub, e.g. `http://127.0.0.1:4000` (`/graphql` is appended). */
  url: string;
  /** An API token, sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** How long one request may take before it fails with `TIMEOUT`. @default 10_000 */
  timeoutMs?: number;
  /** A fetch implementation (tests, proxies). @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** Why a request to the hub failed. */
export type HubErrorCode = 'UNAUTHENTICATED' | 'FORBIDDEN' | 'NETWORK' | 'TIMEOUT' | 'HTTP' | 'GRAPHQL';

/** One entry of a GraphQL response's `errors`. */
export interface HubGraphQLError {
  message: string;
  path?: readonly (string | number)[];
  extensions?: Record<string, unknown>;
}

/** A request that did not produce data: the hub was unreachable, refused us, or answered with errors. */
export class HubRequestError extends Error {
  override readonly name = 'HubRequestError';

  constructor(
    message: string,
    readonly code: HubErrorCode,
    options: { status?: number; errors?: readonly HubGraphQLError[]; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.status = options.status;
    this.errors = options.errors ?? [];
  }

  /** The HTTP status, when the hub answered. */
  readonly status?: number;
  /** The GraphQL errors of the response, if any. */
  readonly errors: readonly HubGraphQLError[];

  /** True for failures worth retrying later (the hub is away or overloaded), false for refusals. */
  get retryable(): boolean {
    if (this.code === 'NETWORK' || this.code === 'TIMEOUT') return true;
    if (this.code === 'HTTP') return this.status === undefined || this.status >= 500 || this.status === 429;
    return false;
  }
}

/** The default request timeout. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/** `${url}/graphql`, tolerating a trailing slash or a URL that already names the endpoint. */
export function graphqlEndpoint(url: string): string {
  const base = url.replace(/\/+$/, '');
  return base.endsWith('/graphql') ? base : `${base}/graphql`;
}

const AUTH_CODES = new Set<HubErrorCode>(['UNAUTHENTICATED', 'FORBIDDEN']);

/**
 * Sends one GraphQL operation to the hub and returns its `data`. Throws a `HubRequestError`: 401/403 and
 * GraphQL errors coded UNAUTHENTICATED/FORBIDDEN keep those codes; an unreachable hub is NETWORK, a slow
 * one TIMEOUT, other statuses HTTP, other GraphQL errors GRAPHQL. Aborting `signal` rejects with its reason.
 */
export async function hubRequest<TResult, TVariables>(
  connection: HubConnection,
  document: TypedDocument<TResult, TVariables>,
  variables: TVariables,
  signal?: AbortSignal,
): Promise<TResult> {
  const timeoutMs = connection.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
  if (connection.token) headers.authorization = `Bearer ${connection.token}`;
  // Clients talk to the hub every few minutes: an idle pooled socket gains nothing and would outlive
  // ConfigClient.close() (and keep a CLI's process waiting for the pool's keep-alive to expire).
  headers.connection = 'close';
  const doFetch = connection.fetch ?? globalThis.fetch;
  const endpoint = graphqlEndpoint(connection.url);

  let response: Response;
  let text: string;
  try {
    response = await doFetch(endpoint, {
      method: 'POST',
      headers,
      body: JSON.stringify({ query: document.toString(), variables: variables ?? {} }),
      signal: combined,
    });
    text = await response.text();
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (timeout.aborted) throw new HubRequestError(`the hub at ${endpoint} did not answer within ${timeoutMs} ms`, 'TIMEOUT', { cause: error });
    throw new HubRequestError(`cannot reach the hub at ${endpoint}: ${describeCause(error)}`, 'NETWORK', { cause: error });
  }

  const body = parseBody(text);
  const errors = body?.errors ?? [];
  if (response.status === 401) throw new HubRequestError(errors[0]?.message ?? 'the hub refused the credentials (401)', 'UNAUTHENTICATED', { status: 401, errors });
  if (response.status === 403) throw new HubRequestError(errors[0]?.message ?? 'the token may not do this (403)', 'FORBIDDEN', { status: 403, errors });
  const authError = errors.find((error) => AUTH_CODES.has(error.extensions?.code as HubErrorCode));
  if (authError) {
    throw new HubRequestError(authError.message, authError.extensions!.code as HubErrorCode, { status: response.status, errors });
  }
  if (errors.length > 0) {
    throw new HubRequestError(errors.map((error) => error.message).join('; '), 'GRAPHQL', { status: response.status, errors });
  }
  if (!response.ok || !body || body.data == null) {
    throw new HubRequestError(`the hub answered ${response.status} ${response.statusText}`.trim(), 'HTTP', { status: response.status });
  }
  return body.data as TResult;
}

/**
 * A root field's value. The hub's root query fields are nullable (a failed field is null beside the
 * others), but a null comes with errors, which `hubRequest` throws: this only tells TypeScript so.
 */
export function answered<T>(value: T | null | undefined, field: string): T {
  if (value == null) throw new HubRequestError(`the hub answered no ${field}`, 'GRAPHQL');
  return value;
}

interface GraphQLResponseBody {
  data?: unknown;
  errors?: HubGraphQLError[];
}

function parseBody(text: string): GraphQLResponseBody | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (!parsed || typeof parsed !== 'object') return undefined;
    const body = parsed as GraphQLResponseBody;
    return Array.isArray(body.errors) || 'data' in body ? body : undefined;
  } catch {
    return undefined;
  }
}

function describeCause(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}
