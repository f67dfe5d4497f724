import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { TOKEN_CHANNEL } from '../protocol/changes.ts';
import { ValidationError, type ValidationIssue } from '../store/errors.ts';
import { NAME_PATTERN } from '../store/names.ts';
import { UnauthenticatedError } from './errors.ts';
import { type Principal, ROLES, type Role } from './principal.ts';

/** A token as the hub keeps it: never the token itself, only its digest and a visible prefix. */
export interface ApiToken extends Principal {
  /** The first characters of the token, to tell tokens apart. */
  prefix: string;
  revokedAt: Date | null;
  createdAt: Date;
  createdBy: string;
  lastUsedAt: Date | null;
}

export interface CreateTokenInput {
  name: string;
  role: Role;
  /** Exact service names or globs (`polygon-*`); omitted or null: every service. */
  services?: readonly string[] | null;
  /** Omitted or null: every environment. */
  environments?: readonly string[] | null;
  /** Omitted or null: never expires. */
  expiresAt?: Date | null;
}

/** The name of the admin token made from CONFIGHUB_ADMIN_TOKEN, or generated at first start. */
export const BOOTSTRAP_TOKEN_NAME = 'admin';
/** Where the generated admin token is written, under the data directory (mode 0600). */
export const ADMIN_TOKEN_FILE = 'admin-token';
/** The shortest CONFIGHUB_ADMIN_TOKEN accepted. */
export const MIN_TOKEN_LENGTH = 24;
/** `last_used_at` is written at most this often per token. @default 60_000 */
const LAST_USED_INTERVAL_MS = 60_000;

const TOKEN_NAME_PATTERN = /^[a-z0-9][a-z0-9._@-]{0,127}$/;
const SERVICE_GLOB_PATTERN = /^[a-z0-9*?][a-z0-9._*?-]{0,127}$/;

/** A token's row: the token as the hub shows it, and the digest it is checked against. */
type TokenRow = ApiToken & { tokenHash: Uint8Array };

const COLUMNS = `id::text AS id, name, prefix, token_hash AS "tokenHash", role, services, environments, expires_at AS "expiresAt",
  revoked_at AS "revokedAt", created_at AS "createdAt", created_by AS "createdBy", last_used_at AS "lastUsedAt"`;

/** SHA-256 of a token (the one-shot `hash`: cheaper than a Hash object, on every request). */
const digest = (token: string) => hash('sha256', token, 'buffer');

const toApiToken = ({ tokenHash: _digest, ...token }: TokenRow): ApiToken => token;

/** A new token: `chub_` and 43 characters of base64url (256 random bits). */
const newToken = () => `chub_${randomBytes(32).toString('base64url')}`;

/** The first characters of a token, kept in clear to tell tokens apart. */
const visiblePrefix = (token: string) => token.slice(0, 12);

interface Watcher {
  principal: Principal;
  onEnd: (reason: string) => void;
  timer: NodeJS.Timeout | undefined;
}

/** Why a session opened with `principal` must end, given the token's row now; null if it may go on. */
function endOfSession(principal: Principal, row: TokenRow | undefined, acceptedDigest: Buffer | undefined): string | null {
  if (!row) return 'token no longer exists';
  if (row.revokedAt) return `token "${row.name}" was revoked`;
  if (acceptedDigest && !timingSafeEqual(Buffer.from(row.tokenHash), acceptedDigest)) return `token "${row.name}" was replaced`;
  const sameList = (a: readonly string[] | null, b: readonly string[] | null) => (a === null ? b === null : b !== null && a.join() === b.join());
  const sameGrants =
    row.role === principal.role &&
    sameList(row.services, principal.services) &&
    sameList(row.environments, principal.environments) &&
    (row.expiresAt?.getTime() ?? null) === (principal.expiresAt?.getTime() ?? null);
  return sameGrants ? null : `token "${row.name}" was changed: connect again`;
}

/** Issues, lists, revokes and checks API tokens (table api_tokens). */
export class TokenStore {
  /** Accepted tokens by digest; emptied whenever any token changes, on any instance (NOTIFY api_tokens). */
  private readonly accepted = new Map<string, ApiToken>();
  /**
   * Counts those emptyings. A token read from the database while one happened is not cached (it may be
   * the row as it was before a revocation), and a session opened with it is checked again at once.
   */
  private generation = 0;
  /** The generation each principal was read in, and the digest it was accepted for. */
  private readonly provenance = new WeakMap<Principal, { generation: number; digest: Buffer }>();
  private readonly lastUsedWrites = new Map<string, number>();
  /** Open sessions (sockets, subscriptions) to end when their token stops being accepted, by token id. */
  private readonly watchers = new Map<string, Set<Watcher>>();
  private unlisten: (() => Promise<void>) | undefined;

  constructor(
    private readonly db: Database,
    private readonly logger?: Logger,
  ) {}

  async start(): Promise<void> {
    // A token changed somewhere (or notifications were missed): forget what was accepted, and end the
    // open sessions whose token is no longer what it was.
    const changed = () => {
      this.forgetAccepted();
      void this.recheckWatched();
    };
    this.unlisten = await this.db.listen(TOKEN_CHANNEL, changed, changed);
  }

  private forgetAccepted(): void {
    this.generation++;
    this.accepted.clear();
  }

  async stop(): Promise<void> {
    await this.unlisten?.();
    this.unlisten = undefined;
    for (const watchers of this.watchers.values()) for (const watcher of watchers) clearTimeout(watcher.timer);
    this.watchers.clear();
  }

  /**
   * Calls `onEnd` once, when the token behind `principal` stops being accepted: when it expires, or when
   * it is revoked on any instance (NOTIFY api_tokens reaches them all). A session that outlives a request
   * (a WebSocket, a subscription) ends then, instead of going on with the rights it was opened with.
   * Returns the function that stops watching.
   */
  watch(principal: Principal, onEnd: (reason: string) => void): () => void {
    const unwatch = () => {
      clearTimeout(watcher.timer);
      const watchers = this.watchers.get(principal.id);
      watchers?.delete(watcher);
      if (watchers?.size === 0) this.watchers.delete(principal.id);
    };
    const watcher: Watcher = {
      principal,
      onEnd: (reason) => {
        unwatch();
        onEnd(reason);
      },
      timer: undefined,
    };
    const watchers = this.watchers.get(principal.id) ?? new Set<Watcher>();
    this.watchers.set(principal.id, watchers.add(watcher));
    const { expiresAt } = principal;
    if (expiresAt) {
      // setTimeout waits at most 2^31 - 1 ms (~24.8 days): a later expiry is waited for in steps.
      const arm = () => {
        const left = expiresAt.getTime() - Date.now();
        if (left <= 0) return watcher.onEnd(`token "${principal.name}" expired at ${expiresAt.toISOString()}`);
        watcher.timer = setTimeout(arm, Math.min(left, 2 ** 31 - 1)).unref();
      };
      arm();
    }
    // Read before the latest change of any token: that change may be this token's, so look now.
    if (this.provenance.get(principal)?.generation !== this.generation) void this.recheckWatched([principal.id]);
    return unwatch;
  }

  /**
   * After a token changed: ends the sessions of watched tokens that are no longer what they were when
   * the session opened: revoked, removed, given another secret (CONFIGHUB_ADMIN_TOKEN changed) or other
   * grants (an operator's UPDATE in SQL); a session opened again gets the token as it is now.
   */
  private async recheckWatched(ids: readonly string[] = [...this.watchers.keys()]): Promise<void> {
    if (ids.length === 0) return;
    try {
      const rows = await this.db.query<TokenRow>(`SELECT ${COLUMNS} FROM api_tokens WHERE id = ANY($1::bigint[])`, [ids]);
      const byId = new Map(rows.map((row) => [row.id, row]));
      for (const id of ids) {
        const row = byId.get(id);
        for (const watcher of [...(this.watchers.get(id) ?? [])]) {
          const reason = endOfSession(watcher.principal, row, this.provenance.get(watcher.principal)?.digest);
          if (reason) watcher.onEnd(reason);
        }
      }
    } catch (error) {
      this.logger?.warn({ err: error }, 'could not check the tokens of open sessions');
    }
  }

  /** Makes a token; the returned `token` is shown this once and never again. */
  async create(input: CreateTokenInput, actor: string): Promise<{ token: string; apiToken: ApiToken }> {
    checkTokenInput(input);
    const token = newToken();
    const [row] = await this.db.query<TokenRow>(
      `INSERT INTO api_tokens (name, prefix, token_hash, role, services, environments, expires_at, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (name) DO NOTHING
       RETURNING ${COLUMNS}`,
      [input.name, visiblePrefix(token), digest(token), input.role, input.services ?? null, input.environments ?? null, input.expiresAt ?? null, actor],
    );
    if (!row) throw ValidationError.at('/name', `a token named "${input.name}" exists (names stay taken after revocation)`);
    this.logger?.info({ token: row.name, role: row.role, actor }, 'token created');
    return { token, apiToken: toApiToken(row) };
  }

  /**
   * Gives a live token a new secret (same name, role and scope; a new expiry when given): the old secret
   * is refused from the next request on, on every instance (NOTIFY api_tokens), and sessions opened with
   * it end. The returned `token` is shown this once.
   */
  async rotate(name: string, actor: string, expiresAt?: Date): Promise<{ token: string; apiToken: ApiToken }> {
    if (expiresAt && expiresAt.getTime() <= Date.now()) throw ValidationError.at('/expiresAt', 'must be in the future');
    const token = newToken();
    const [row] = await this.db.query<TokenRow>(
      `UPDATE api_tokens SET prefix = $2, token_hash = $3, expires_at = coalesce($4, expires_at)
       WHERE name = $1 AND revoked_at IS NULL AND (coalesce($4, expires_at) IS NULL OR coalesce($4, expires_at) > now())
       RETURNING ${COLUMNS}`,
      [name, visiblePrefix(token), digest(token), expiresAt ?? null],
    );
    if (!row) {
      throw new ValidationError([{ pointer: '/name', message: `no live token named "${name}" (a revoked one stays revoked; an expired one needs a new expiry)` }]);
    }
    this.forgetAccepted();
    await this.recheckWatched();
    this.logger?.info({ token: name, actor }, 'token rotated');
    return { token, apiToken: toApiToken(row) };
  }

  /** Every token, revoked ones included, newest first. */
  async list(): Promise<ApiToken[]> {
    const rows = await this.db.query<TokenRow>(`SELECT ${COLUMNS} FROM api_tokens ORDER BY id DESC`);
    return rows.map(toApiToken);
  }

  /** Revokes a token for good: every instance refuses it from the next request on. */
  async revoke(name: string, actor: string): Promise<ApiToken> {
    const [row] = await this.db.query<TokenRow>(
      `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE name = $1 RETURNING ${COLUMNS}`,
      [name],
    );
    if (!row) throw ValidationError.at('/name', `no token named "${name}"`);
    this.forgetAccepted();
    await this.recheckWatched();
    this.logger?.info({ token: name, actor }, 'token revoked');
    return toApiToken(row);
  }

  /**
   * The principal a token stands for; refuses unknown, expired and revoked tokens alike in kind.
   * `beforeLookup` runs before a token not in the cache is looked up in the database.
   */
  async authenticate(token: string, beforeLookup?: () => Promise<void>): Promise<Principal> {
    const tokenDigest = digest(token);
    const key = tokenDigest.toString('base64');
    let found = this.accepted.get(key);
    if (!found) {
      // A token not accepted before: the caller may count the lookup first (the failed-authentication limit).
      await beforeLookup?.();
      const generation = this.generation;
      const rows = await this.db.query<TokenRow>(`SELECT ${COLUMNS} FROM api_tokens WHERE prefix = $1`, [visiblePrefix(token)]);
      // Compared in constant time, whatever the lookup found.
      const row = rows.find((candidate) => timingSafeEqual(Buffer.from(candidate.tokenHash), tokenDigest));
      if (!row) throw new UnauthenticatedError('unknown token');
      found = toApiToken(row);
      this.provenance.set(found, { generation, digest: tokenDigest });
      if (generation === this.generation) this.accepted.set(key, found);
    }
    if (found.revokedAt) throw new UnauthenticatedError(`token "${found.name}" was revoked`);
    if (found.expiresAt && found.expiresAt.getTime() <= Date.now()) throw new UnauthenticatedError(`token "${found.name}" expired at ${found.expiresAt.toISOString()}`);
    this.noteUse(found.id);
    return found;
  }

  /**
   * Makes sure an admin can get in. With CONFIGHUB_ADMIN_TOKEN, the token named "admin" is that token
   * (its digest follows the variable). Without it, when no usable admin token exists, one is generated:
   * it is returned (for the caller to print once) and written, readable by its owner only, to
   * `<dataDir>/admin-token` (not written without a data directory: an in-memory hub keeps nothing).
   */
  async bootstrap(options: { adminToken?: string; dataDir: string }): Promise<{ generated: string; file: string | null } | null> {
    if (options.adminToken !== undefined) {
      if (options.adminToken.length < MIN_TOKEN_LENGTH) {
        throw ValidationError.at('/CONFIGHUB_ADMIN_TOKEN', `must be at least ${MIN_TOKEN_LENGTH} characters`);
      }
      const values = [BOOTSTRAP_TOKEN_NAME, visiblePrefix(options.adminToken), digest(options.adminToken)];
      // Two statements, not one upsert: ON CONFLICT (name) arbitrates the name only, so instances starting
      // at once with the same token collided on its unique digest instead. An unrevoked "admin" takes the
      // variable's token; a missing one is created, once, whoever gets there first.
      const updated = await this.db.query(
        `UPDATE api_tokens SET prefix = $2, token_hash = $3
          WHERE name = $1 AND token_hash <> $3 AND revoked_at IS NULL RETURNING id`,
        values,
      );
      const inserted = await this.db.query(
        `INSERT INTO api_tokens (name, prefix, token_hash, role, created_by)
         VALUES ($1, $2, $3, 'admin', 'CONFIGHUB_ADMIN_TOKEN') ON CONFLICT DO NOTHING RETURNING id`,
        values,
      );
      this.forgetAccepted();
      if (updated.length === 0 && inserted.length === 0) {
        const [current] = await this.db.query<{ revoked: boolean }>('SELECT revoked_at IS NOT NULL AS revoked FROM api_tokens WHERE name = $1', [BOOTSTRAP_TOKEN_NAME]);
        if (current?.revoked) this.logger?.error('the "admin" token was revoked: CONFIGHUB_ADMIN_TOKEN no longer works; use another admin token');
      }
      return null;
    }
    const [usable] = await this.db.query<{ id: string }>(
      `SELECT id::text AS id FROM api_tokens
        WHERE role = 'admin' AND services IS NULL AND environments IS NULL
          AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
        LIMIT 1`,
    );
    if (usable) return null;
    const token = newToken();
    // A revoked "admin" keeps its name: the new one gets the time in its name.
    const [taken] = await this.db.query('SELECT 1 FROM api_tokens WHERE name = $1', [BOOTSTRAP_TOKEN_NAME]);
    const name = taken ? `${BOOTSTRAP_TOKEN_NAME}-${Date.now()}` : BOOTSTRAP_TOKEN_NAME;
    // Several instances starting at once: one inserts, the others conflict and generate nothing.
    const inserted = await this.db.query(
      `INSERT INTO api_tokens (name, prefix, token_hash, role, created_by) VALUES ($1, $2, $3, 'admin', 'bootstrap')
       ON CONFLICT (name) DO NOTHING RETURNING id`,
      [name, visiblePrefix(token), digest(token)],
    );
    if (inserted.length === 0) return null;
    if (options.dataDir === '') return { generated: token, file: null };
    const file = path.resolve(options.dataDir, ADMIN_TOKEN_FILE);
    await mkdir(path.dirname(file), { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    await writeFile(temporary, `${token}\n`, { mode: 0o600 });
    await rename(temporary, file);
    return { generated: token, file };
  }

  private noteUse(id: string) {
    const now = Date.now();
    if (now - (this.lastUsedWrites.get(id) ?? 0) < LAST_USED_INTERVAL_MS) return;
    this.lastUsedWrites.set(id, now);
    this.db.query('UPDATE api_tokens SET last_used_at = now() WHERE id = $1', [id]).catch((error: unknown) => {
      this.logger?.warn({ err: error }, 'could not record when a token was last used');
    });
  }
}

function checkTokenInput(input: CreateTokenInput) {
  const issues: ValidationIssue[] = [];
  if (typeof input.name !== 'string' || !TOKEN_NAME_PATTERN.test(input.name)) {
    issues.push({ pointer: '/name', message: `name must match ${TOKEN_NAME_PATTERN.source}` });
  }
  if (!ROLES.includes(input.role)) issues.push({ pointer: '/role', message: `role must be one of ${ROLES.join(', ')}` });
  if (input.services != null) {
    if (input.services.length === 0) issues.push({ pointer: '/services', message: 'give at least one service, or none for all' });
    input.services.forEach((service, index) => {
      if (!SERVICE_GLOB_PATTERN.test(service)) {
        issues.push({ pointer: `/services/${index}`, message: 'a service name or a glob of one (letters a-z, digits, ".", "_", "-", "*", "?")' });
      }
    });
  }
  if (input.environments != null) {
    if (input.environments.length === 0) issues.push({ pointer: '/environments', message: 'give at least one environment, or none for all' });
    input.environments.forEach((environment, index) => {
      if (!NAME_PATTERN.test(environment)) issues.push({ pointer: `/environments/${index}`, message: `must match ${NAME_PATTERN.source}` });
    });
  }
  if (input.expiresAt != null && !(input.expiresAt.getTime() > Date.now())) {
    issues.push({ pointer: '/expiresAt', message: 'must be in the future' });
  }
  if (issues.length > 0) throw new ValidationError(issues);
}
