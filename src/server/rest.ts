import type { IncomingMessage } from 'node:http';
import { ForbiddenError, UnauthenticatedError, configAction, requireRequestAccess } from '../access/errors.ts';
import { type Principal, mayRead, mayWrite, visibleScope } from '../access/principal.ts';
import { type ChangeRequest, approvalsOf, requestId } from '../store/approvals.ts';
import type { ConfigChange } from '../generated/prisma/client.ts';
import type { ConfigStore, ConfigWrite, ServiceConfig } from '../store/configStore.ts';
import { NotFoundError } from '../store/errors.ts';
import { changePatch } from '../store/history.ts';
import { changePointer } from '../store/overrides.ts';
import { type Rollout, type RolloutEvent, rolloutPercent } from '../store/rollouts.ts';
import { durationMs } from '../protocol/durations.ts';
import { nextTurn } from '../turns.ts';
import * as z from 'zod/mini';
import { type ConfigKey, NAME_PATTERN, configKey } from '../store/names.ts';
import type { Authenticate } from './authentication.ts';
import { readJsonBody } from './body.ts';
import { RequestError } from './failures.ts';

/** The small REST face for existing scripts: the same store calls as the GraphQL API. */
export interface RestOptions {
  store: ConfigStore;
  /** Who is asking (the same check as GraphQL's); the token's name is recorded as actor of writes. */
  authenticate: Authenticate;
}

const HISTORY_ROUTE = /^\/api\/v1\/config\/history\/([^/]+)\/?$/;
const CONFIG_ROUTE = /^\/api\/v1\/config\/([^/]+)\/?$/;
const REQUESTS_ROUTE = /^\/api\/v1\/requests\/?$/;
const REQUEST_ROUTE = /^\/api\/v1\/requests\/([^/]+)(?:\/(approve|reject|comment|withdraw))?\/?$/;
const ROLLOUTS_ROUTE = /^\/api\/v1\/rollouts\/([^/]+)(?:\/(promote|abort))?\/?$/;

export const isRestPath = (pathname: string) => pathname.startsWith('/api/');

export function createRestHandler({ store, authenticate }: RestOptions) {
  async function route(request: Request, url: URL, client: IncomingMessage | undefined): Promise<Response> {
    if (REQUESTS_ROUTE.test(url.pathname) || REQUEST_ROUTE.test(url.pathname)) return changeRequests(request, url, client);
    const rollouts = ROLLOUTS_ROUTE.exec(url.pathname);
    if (rollouts) return rolloutsOf(request, url, client, rollouts);
    const history = HISTORY_ROUTE.exec(url.pathname);
    const config = history ? null : CONFIG_ROUTE.exec(url.pathname);
    if (!history && !config) throw new RequestError(404, 'NO_ROUTE', `no route ${request.method} ${url.pathname}`);
    allow(request, history ? ['GET'] : ['GET', 'POST']);
    const params = queryParams(
      url,
      history
        ? ['environment', 'limit']
        : request.method === 'POST'
          ? ['environment', 'expectedVersion', 'dryRun', 'reason', 'expiresIn', 'rollout', 'bake', 'maxErrors']
          : ['environment', 'instance'],
    );
    const viewer = await authenticate(request.headers.get('authorization'), client);
    if (!viewer) throw new UnauthenticatedError();
    const key = configKey(pathName((history ?? config)![1]!), params.environment);
    authorize(viewer, request.method === 'GET' ? 'read' : 'write', key);
    if (history) {
      const changes = await store.history.listChanges(key, { take: params.limit ?? 50 });
      // Every config has at least its CREATE row: no rows means it never existed.
      if (changes.length === 0) throw new NotFoundError(key.service, key.environment);
      return json(200, { ...key, changes: changes.map(changeView) });
    }
    if (request.method === 'GET') {
      const row = await store.getConfig(key.service, key.environment, undefined, params.instance);
      return json(200, configView(row), { etag: `"${row.version}"` });
    }
    const patch = await readJsonBody(request);
    const write = await store.updateConfig(
      {
        ...key,
        patch,
        expectedVersion: params.expectedVersion ?? versionFromIfMatch(request),
        dryRun: params.dryRun ?? false,
        expiresIn: params.expiresIn,
        rollout: params.rollout ? { steps: params.rollout, bake: params.bake ?? '', maxErrors: params.maxErrors } : undefined,
      },
      { actor: viewer.name, reason: params.reason ?? request.headers.get('x-change-reason') },
    );
    // In a protected environment nothing was written: 202, and the change request that holds the change.
    return writeAnswer(write.request ? 202 : 200, write);
  }

  /**
   * Change requests of protected environments: `GET /api/v1/requests` (open ones, or `?state=`), `GET
   * /api/v1/requests/<id>`, `POST /api/v1/requests/<id>/approve|reject|comment|withdraw` (`?comment=`). The
   * same rules as GraphQL's: approve and reject need write access and not to be the author.
   */
  async function changeRequests(request: Request, url: URL, client: IncomingMessage | undefined): Promise<Response> {
    const one = REQUEST_ROUTE.exec(url.pathname);
    const action = one?.[2] as 'approve' | 'reject' | 'comment' | 'withdraw' | undefined;
    allow(request, action ? ['POST'] : ['GET']);
    const params = queryParams(url, one ? (action ? ['comment'] : []) : ['service', 'environment', 'state']);
    const viewer = await authenticate(request.headers.get('authorization'), client);
    if (!viewer) throw new UnauthenticatedError();
    if (!one) {
      const scope = await visibleScope(viewer, () => store.serviceNames());
      const listed = await store.requests.list({ service: params.service, environment: params.environment, states: params.state && [params.state], ...scope });
      return json(200, { requests: listed.map(requestView) });
    }
    const found = await store.requests.find(requestId(pathName(one[1]!), '/id'));
    if (!found) throw new RequestError(404, 'NOT_FOUND', `no change request ${pathName(one[1]!)}`);
    requireRequestAccess(viewer, found, action === 'approve' || action === 'reject' ? 'review' : action === 'withdraw' ? 'withdraw' : 'see');
    if (!action) return json(200, requestView(found));
    if (action === 'withdraw') return json(200, requestView(await store.requests.withdraw(found.id, viewer.name)));
    return json(200, requestView(await store.requests.review(found.id, viewer.name, action, params.comment)));
  }

  /**
   * The rollouts of a config: `GET /api/v1/rollouts/<service>` (newest first, with their events), `POST
   * /api/v1/rollouts/<service>/promote|abort` (`?reason=`) on the one under way.
   */
  async function rolloutsOf(request: Request, url: URL, client: IncomingMessage | undefined, route: RegExpExecArray): Promise<Response> {
    const action = route[2] as 'promote' | 'abort' | undefined;
    allow(request, action ? ['POST'] : ['GET']);
    const params = queryParams(url, action ? ['environment', 'reason'] : ['environment', 'limit']);
    const viewer = await authenticate(request.headers.get('authorization'), client);
    if (!viewer) throw new UnauthenticatedError();
    const key = configKey(pathName(route[1]!), params.environment);
    authorize(viewer, action ? 'write' : 'read', key);
    if (!action) {
      const listed = await store.rollouts.list(key, params.limit ?? 20);
      return json(200, { ...key, rollouts: await Promise.all(listed.map(async (rollout) => rolloutView(rollout, await store.rollouts.events(rollout.id)))) });
    }
    await store.rollouts.settled();
    const underWay = store.rollouts.underWayFor(key);
    if (!underWay || underWay.state !== 'active') throw new RequestError(404, 'NOT_FOUND', `no rollout of "${key.service}" in "${key.environment}" is under way`);
    const author = { actor: viewer.name, reason: params.reason ?? request.headers.get('x-change-reason') };
    const moved = action === 'promote' ? await store.rollouts.promote(underWay.id, author) : await store.abortRollout(underWay.id, author);
    return json(200, rolloutView(moved, await store.rollouts.events(moved.id)));
  }

  // A refusal is thrown, and answered by app.ts as every refusal is: `{ error: { code, message, ...details } }`.
  return (request: Request, client?: IncomingMessage): Promise<Response> => route(request, new URL(request.url), client);
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

/** `true` or `false`, exactly: `?dryRun=1` must not quietly write for real. */
const booleanParam = z.pipe(
  z.enum(['true', 'false'], { error: 'must be true or false' }),
  z.transform((value: 'true' | 'false') => value === 'true'),
);
const wholeNumber = (min: number, max: number) => {
  const error = `must be a whole number from ${min} to ${max}`;
  return z.pipe(z.string().check(z.regex(/^\d{1,9}$/, { error })), z.pipe(z.transform(Number), z.number().check(z.minimum(min, { error }), z.maximum(max, { error }))));
};
const nameParam = z.string().check(z.regex(NAME_PATTERN, { error: `must match ${NAME_PATTERN.source}` }));
const durationParam = (example: string) =>
  z.string().check(z.refine((text) => !Number.isNaN(durationMs(text)), { error: `must be a duration such as ${example}` }));

/** Every query parameter of the REST routes, as documented; a value that is not one of these is a 400 naming it. */
const PARAMS = z.strictObject({
  environment: z.optional(nameParam),
  expectedVersion: z.optional(wholeNumber(1, 999_999_999)),
  dryRun: z.optional(booleanParam),
  reason: z.optional(z.string()),
  limit: z.optional(wholeNumber(1, 500)),
  service: z.optional(nameParam),
  state: z.optional(
    z.enum(['open', 'applying', 'applied', 'rejected', 'withdrawn', 'stale', 'expired'], { error: 'must be open, applying, applied, rejected, withdrawn, stale or expired' }),
  ),
  comment: z.optional(z.string()),
  /** Which instance asks: while a rollout is under way, it decides the version served (see store/rollouts.ts). */
  instance: z.optional(z.string().check(z.maxLength(256, { error: 'must hold at most 256 characters' }))),
  /** A progressive rollout: percentages of the instances, e.g. `10,50,100`, with `bake` and `maxErrors`. */
  rollout: z.optional(
    z.pipe(
      z.string().check(z.regex(/^\d{1,3}(,\d{1,3}){0,9}$/, { error: 'must be percentages separated by commas, e.g. 10,50,100' })),
      z.transform((text: string) => text.split(',').map(Number)),
    ),
  ),
  bake: z.optional(durationParam('30s, 5m or 1h')),
  maxErrors: z.optional(wholeNumber(0, 10_000)),
  /** A temporary override (see store/overrides.ts): `90m`, `2h`, `3d`. */
  expiresIn: z.optional(durationParam('90m, 2h or 3d')),
});
type ParamName = keyof z.input<typeof PARAMS>;

/** The route's query parameters (`takes` lists those it has); unknown, repeated or malformed ones are refused. */
function queryParams(url: URL, takes: ParamName[]): z.output<typeof PARAMS> {
  const raw: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    if (!(takes as string[]).includes(name)) throw new RequestError(400, 'BAD_PARAMETER', `${name}: not a parameter of this route (it takes ${takes.join(', ')})`);
    if (Object.hasOwn(raw, name)) throw new RequestError(400, 'BAD_PARAMETER', `${name} is given more than once`);
    raw[name] = value;
  }
  const parsed = z.safeParse(PARAMS, raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new RequestError(400, 'BAD_PARAMETER', `${String(issue.path[0])} ${issue.message}`);
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
  return jsonText(status, JSON.stringify(body), headers);
}

function jsonText(status: number, text: string, headers: Record<string, string>): Response {
  return new Response(text, {
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

/**
 * A write's answer, with its whole diff last. A large diff comes from the worker written out (store/patchText.ts):
 * it goes into the answer as that text, in a turn of its own, neither parsed nor written out again.
 */
async function writeAnswer(status: number, write: ConfigWrite): Promise<Response> {
  const headers = { etag: `"${write.config.version}"` };
  const view = writeView(write);
  const diff = await write.diff();
  if (Array.isArray(diff)) return json(status, { ...view, diff }, headers);
  await nextTurn();
  return jsonText(status, `${JSON.stringify(view).slice(0, -1)},"diff":[${diff.text}]}`, headers);
}

const writeView = (write: ConfigWrite) => ({
  ...configView(write.config),
  previousVersion: write.previousVersion,
  changed: write.changed,
  dryRun: write.dryRun,
  ...(write.request
    ? { request: { id: write.request.id, state: write.request.state, requiredApprovals: write.request.requiredApprovals, expiresAt: write.request.expiresAt } }
    : {}),
  ...(write.rollout ? { rollout: rolloutView(write.rollout) } : {}),
  ...(write.override ? { override: { id: write.override.id, settings: write.override.changes.map(changePointer), expiresAt: write.override.expiresAt } } : {}),
});

const rolloutView = ({ stableConfig: _stable, stableUpdatedAt: _at, stableUpdatedBy: _by, ...rollout }: Rollout, events?: RolloutEvent[]) => ({
  ...rollout,
  percent: rolloutPercent(rollout),
  ...(events ? { events } : {}),
});

const requestView = (request: ChangeRequest) => ({
  ...request,
  approvals: approvalsOf(request).length,
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
