import type { IncomingMessage } from 'node:http';
import { ForbiddenError, UnauthenticatedError, configAction } from '../access/errors.ts';
import { type Principal, mayRead, mayWrite } from '../access/principal.ts';
import type { ConfigChange } from '../generated/prisma/client.ts';
import type { ConfigStore, ConfigWrite, ServiceConfig } from '../store/configStore.ts';
import { NotFoundError } from '../store/errors.ts';
import { changePatch } from '../store/history.ts';
import { type ConfigKey, configKey } from '../store/names.ts';
import type { Authenticate } from './authentication.ts';
import { readJsonBody } from './body.ts';
import { RequestError, describeFailure } from './failures.ts';

/** The small REST face for existing scripts: the same store calls as the GraphQL API. */
export interface RestOptions {
  store: ConfigStore;
  /** Who is asking (the same check as GraphQL's); the token's name is recorded as actor of writes. */
  authenticate: Authenticate;
}

const HISTORY_ROUTE = /^\/api\/v1\/config\/history\/([^/]+)\/?$/;
const CONFIG_ROUTE = /^\/api\/v1\/config\/([^/]+)\/?$/;

export const isRestPath = (pathname: string) => pathname.startsWith('/api/');

export function createRestHandler({ store, authenticate }: RestOptions) {
  async function route(request: Request, url: URL, client: IncomingMessage | undefined): Promise<Response> {
    const environment = url.searchParams.get('environment') ?? undefined;
    const history = HISTORY_ROUTE.exec(url.pathname);
    const config = history ? null : CONFIG_ROUTE.exec(url.pathname);
    if (!history && !config) throw new RequestError(404, 'NO_ROUTE', `no route ${request.method} ${url.pathname}`);
    allow(request, history ? ['GET'] : ['GET', 'POST']);
    const viewer = await authenticate(request.headers.get('authorization'), client);
    if (!viewer) throw new UnauthenticatedError();
    const key = configKey(pathName((history ?? config)![1]!), environment);
    authorize(viewer, request.method === 'GET' ? 'read' : 'write', key);
    if (history) {
      const limit = integerParam(url, 'limit') ?? 50;
      if (limit < 1 || limit > 500) throw new RequestError(400, 'BAD_PARAMETER', 'limit must be between 1 and 500');
      const changes = await store.history.listChanges(key, { take: limit });
      // Every config has at least its CREATE row: no rows means it never existed.
      if (changes.length === 0) throw new NotFoundError(key.service, key.environment);
      return json(200, { ...key, changes: changes.map(changeView) });
    }
    if (request.method === 'GET') {
      const row = await store.getConfig(key.service, key.environment);
      return json(200, configView(row), { etag: `"${row.version}"` });
    }
    const patch = await readJsonBody(request);
    const write = await store.updateConfig(
      {
        ...key,
        patch,
        expectedVersion: integerParam(url, 'expectedVersion') ?? versionFromIfMatch(request),
        dryRun: url.searchParams.get('dryRun') === 'true',
      },
      { actor: viewer.name, reason: url.searchParams.get('reason') ?? request.headers.get('x-change-reason') },
    );
    return json(200, writeView(write), { etag: `"${write.config.version}"` });
  }

  return async function handleRest(request: Request, client?: IncomingMessage): Promise<Response> {
    try {
      return await route(request, new URL(request.url), client);
    } catch (error) {
      const failure = describeFailure(error);
      if (!failure) throw error;
      return json(failure.status, { error: { code: failure.code, message: failure.message, ...failure.details } }, failure.headers);
    }
  };
}

/** A name from the path. Bad percent-encoding stays as sent, which no name matches: a 422, not a 500. */
function pathName(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The same rules as the GraphQL schema's scopes (src/access/principal.ts). */
function authorize(viewer: Principal, action: 'read' | 'write', key: ConfigKey) {
  const allowed = action === 'read' ? mayRead(viewer, key) : mayWrite(viewer, key);
  if (!allowed) throw new ForbiddenError(viewer, configAction(action, key));
}

function allow(request: Request, methods: string[]) {
  if (!methods.includes(request.method)) {
    throw new RequestError(405, 'METHOD_NOT_ALLOWED', `use ${methods.join(' or ')}`);
  }
}

function integerParam(url: URL, name: string): number | undefined {
  const value = url.searchParams.get(name);
  if (value === null) return undefined;
  if (!/^\d{1,9}$/.test(value)) throw new RequestError(400, 'BAD_PARAMETER', `${name} must be a whole number`);
  return Number(value);
}

/** `If-Match: "3"` pins the write to version 3, as the ETag of a GET returned it. */
function versionFromIfMatch(request: Request): number | undefined {
  const header = request.headers.get('if-match');
  if (header === null) return undefined;
  const match = /^(?:W\/)?"?(\d{1,9})"?$/.exec(header.trim());
  if (!match) throw new RequestError(400, 'BAD_PARAMETER', 'If-Match must be a version, as the ETag of a GET gives it');
  return Number(match[1]);
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}

const configView = (row: ServiceConfig) => ({
  service: row.serviceName,
  environment: row.environment,
  version: row.version,
  config: row.config,
  description: row.description,
  updatedAt: row.updatedAt,
  updatedBy: row.updatedBy,
});

const writeView = (write: ConfigWrite) => ({
  ...configView(write.config),
  previousVersion: write.previousVersion,
  changed: write.changed,
  dryRun: write.dryRun,
  diff: write.diff,
});

const changeView = (change: ConfigChange) => ({
  revision: Number(change.revision),
  version: change.version,
  action: change.action,
  changedBy: change.changedBy,
  changedAt: change.changedAt,
  reason: change.reason,
  oldConfig: change.oldConfig,
  newConfig: change.newConfig,
  patch: changePatch(change),
});
