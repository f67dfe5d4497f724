import type { Database } from '../db/database.ts';
import { durationMs } from '../protocol/durations.ts';
import { type JsonObject, sameValue } from '../protocol/json.ts';
import { applyMergePatch } from './documents.ts';
import { ChangeRequestError, ConfigError, ValidationError } from './errors.ts';
import { type ConfigKey, environmentName } from './names.ts';
import { changePointer, overrideChanges } from './overrides.ts';
import { MAX_REASON_BYTES, requireTexts } from './texts.ts';

// Approvals for protected environments (README, "Approvals for protected environments"): a change there
// becomes a change request, reviewed by principals other than its author (each review a row, never changed);
// the approval that completes the count applies it as its author's audited write, rebased if its base moved.

/** How long a request stays open unless asked otherwise, and the longest it may. */
export const DEFAULT_REQUEST_MS = 7 * 86_400_000;
export const MAX_REQUEST_MS = 30 * 86_400_000;
/** A claim to apply older than this is settled by whoever looks next (its gateway died mid-apply). */
const STALE_CLAIM_SECONDS = 60;
const MAX_COMMENT_BYTES = 4096;
/** The longest listing of requests. */
export const MAX_REQUESTS_LISTED = 100;
/** The most requests of one config open at once, and the most reviews (comments included) one request takes. */
export const MAX_OPEN_REQUESTS = 50;
export const MAX_REVIEWS = 200;

export type ChangeRequestState = 'open' | 'applying' | 'applied' | 'rejected' | 'withdrawn' | 'stale' | 'expired';
export type Verdict = 'approve' | 'reject' | 'comment';

export interface ChangeReview {
  id: string;
  reviewer: string;
  verdict: Verdict;
  comment: string | null;
  createdAt: Date;
}

export interface ChangeRequest extends ConfigKey {
  id: string;
  baseVersion: number;
  patch: JsonObject | null;
  config: JsonObject | null;
  description: string | null;
  proposed: JsonObject;
  reason: string;
  author: string;
  requiredApprovals: number;
  state: ChangeRequestState;
  createdAt: Date;
  expiresAt: Date;
  closedAt: Date | null;
  appliedVersion: number | null;
  outcome: string | null;
  reviews: ChangeReview[];
}

export interface ProtectedEnvironment {
  environment: string;
  requiredApprovals: number;
  protectedBy: string;
  protectedAt: Date;
  reason: string | null;
}

/** The approvals a request has: one per reviewer. */
export const approvalsOf = (request: Pick<ChangeRequest, 'reviews'>) => request.reviews.filter((review) => review.verdict === 'approve');

const COLUMNS = `r.id::text AS id, r.service_name AS service, r.environment, r.base_version AS "baseVersion", r.patch, r.config,
  r.description, r.proposed, r.reason, r.author, r.required_approvals AS "requiredApprovals",
  CASE WHEN r.state = 'open' AND r.expires_at <= now() THEN 'expired' ELSE r.state END AS state,
  r.created_at AS "createdAt", r.expires_at AS "expiresAt", r.closed_at AS "closedAt", r.applied_version AS "appliedVersion", r.outcome,
  COALESCE((SELECT json_agg(json_build_object('id', v.id::text, 'reviewer', v.reviewer, 'verdict', v.verdict, 'comment', v.comment, 'createdAt', v.created_at) ORDER BY v.id)
            FROM change_request_reviews v WHERE v.request_id = r.id), '[]') AS reviews`;

type RequestRow = Omit<ChangeRequest, 'reviews'> & { reviews: (Omit<ChangeReview, 'createdAt'> & { createdAt: string })[] };
const fromRow = (row: RequestRow): ChangeRequest => ({ ...row, reviews: row.reviews.map((review) => ({ ...review, createdAt: new Date(review.createdAt) })) });

/** The request id as asked: digits, or a refusal at `pointer`. */
export function requestId(id: unknown, pointer = '/id'): string {
  if (typeof id !== 'string' || !/^[1-9]\d{0,17}$/.test(id)) throw ValidationError.at(pointer, 'a change request id: digits, as listed');
  return id;
}

/**
 * The document a request writes on `current`, when its base moved there: its merge patch applied again,
 * if no setting it changes moved meanwhile; otherwise why not.
 */
export function rebased(request: Pick<ChangeRequest, 'patch' | 'config' | 'proposed'>, base: JsonObject, current: JsonObject): { document: JsonObject } | { refused: string } {
  if (request.patch === null) return { refused: 'a whole-document request cannot be rebased' };
  const own = overrideChanges(base, request.proposed).map(changePointer);
  const moved = overrideChanges(base, current).map(changePointer);
  const overlap = moved.filter((pointer) => own.some((mine) => mine === pointer || mine.startsWith(`${pointer}/`) || pointer.startsWith(`${mine}/`)));
  if (overlap.length > 0) return { refused: `settings it changes moved since: ${overlap.slice(0, 10).join(', ')}${overlap.length > 10 ? ', …' : ''}` };
  return { document: applyMergePatch(current, request.patch) };
}

/** The protected environments, kept in memory and reloaded when any gateway (or psql) changes them. */
export class ProtectedEnvironments {
  private required = new Map<string, number>();
  private stopListening: (() => Promise<void>) | undefined;

  constructor(
    private readonly db: Pick<Database, 'query' | 'listen'>,
    /** A reload on a notice failed: the set kept is the last one read. */
    private readonly onError: (error: unknown) => void,
  ) {}

  async start(): Promise<void> {
    const reload = () => void this.reload().catch(this.onError);
    this.stopListening = await this.db.listen('protected_environments', reload, reload);
    await this.reload();
  }

  async stop(): Promise<void> {
    await this.stopListening?.();
  }

  /** How many approvals a change to this environment needs; 0 when it is not protected. */
  approvalsFor(environment: string): number {
    return this.required.get(environment) ?? 0;
  }

  async list(): Promise<ProtectedEnvironment[]> {
    return this.db.query<ProtectedEnvironment>(
      `SELECT environment, required_approvals AS "requiredApprovals", protected_by AS "protectedBy", protected_at AS "protectedAt", reason
         FROM protected_environments ORDER BY environment`,
    );
  }

  /** Protects an environment (or changes how many approvals it needs); returns it. */
  async protect(environment: unknown, requiredApprovals: number, author: { actor: string; reason?: string | null }): Promise<ProtectedEnvironment> {
    const name = environmentName(environment);
    if (!Number.isInteger(requiredApprovals) || requiredApprovals < 1 || requiredApprovals > 10) throw ValidationError.at('/requiredApprovals', 'from 1 to 10');
    requireTexts([{ text: author.reason, pointer: '/reason', maxBytes: MAX_REASON_BYTES }]);
    await this.db.query(
      `INSERT INTO protected_environments (environment, required_approvals, protected_by, reason) VALUES ($1, $2, $3, $4)
       ON CONFLICT (environment) DO UPDATE SET required_approvals = $2, protected_by = $3, protected_at = now(), reason = $4`,
      [name, requiredApprovals, author.actor, author.reason ?? null],
    );
    await this.reload();
    return (await this.list()).find((row) => row.environment === name)!;
  }

  /** Lifts the protection; returns whether there was one. Open requests stay, and may still be approved. */
  async unprotect(environment: unknown): Promise<boolean> {
    const rows = await this.db.query(`DELETE FROM protected_environments WHERE environment = $1 RETURNING environment`, [environmentName(environment)]);
    await this.reload();
    return rows.length > 0;
  }

  private async reload(): Promise<void> {
    const rows = await this.db.query<{ environment: string; required: number }>(`SELECT environment, required_approvals AS required FROM protected_environments`);
    this.required = new Map(rows.map((row) => [row.environment, row.required]));
  }
}

/** What applying a request needs of the store: the config now, its content at a version, and the write. */
export interface RequestWriter {
  current(key: ConfigKey): Promise<{ version: number; config: JsonObject; deleted: boolean } | null>;
  contentAt(key: ConfigKey, version: number): Promise<JsonObject | null>;
  /** Writes `config` as the request's author, pinned to `expectedVersion`; returns the new version. */
  write(request: ChangeRequest, config: JsonObject, expectedVersion: number): Promise<number>;
}

export interface ListRequestsFilter {
  service?: string | null;
  environment?: string | null;
  /** Only requests in these states (`expired` included); omitted: open ones. */
  states?: readonly ChangeRequestState[] | null;
  /** Only these services (exact names): what the caller may see. */
  services?: readonly string[] | null;
  environments?: readonly string[] | null;
}

/** The change requests in the database: opened, reviewed, applied here. */
export class ChangeRequests {
  constructor(
    private readonly db: Pick<Database, 'query'>,
    private readonly writer: RequestWriter,
  ) {}

  /** Opens a request for a change already checked (the document it would write, on `baseVersion`). */
  async open(
    key: ConfigKey,
    asked: { patch?: JsonObject; config?: JsonObject; description: string | null },
    baseVersion: number,
    proposed: JsonObject,
    requiredApprovals: number,
    author: { actor: string; reason?: string | null },
    expiresAt: Date,
  ): Promise<ChangeRequest> {
    if (!author.reason) throw ValidationError.at('/reason', 'a change to a protected environment needs a reason: it is what the approvers read');
    const [row] = await this.db.query<{ id: string }>(
      `INSERT INTO change_requests (service_name, environment, base_version, patch, config, description, proposed, reason, author, required_approvals, expires_at)
       SELECT $1::text, $2::text, $3::int, $4::jsonb, $5::jsonb, $6::text, $7::jsonb, $8::text, $9::text, $10::int, $11::timestamptz
        WHERE (SELECT count(*) FROM change_requests WHERE service_name = $1::text AND environment = $2::text AND state = 'open' AND expires_at > now()) < ${MAX_OPEN_REQUESTS}
       RETURNING id::text AS id`,
      [
        key.service,
        key.environment,
        baseVersion,
        asked.patch === undefined ? null : JSON.stringify(asked.patch),
        asked.config === undefined ? null : JSON.stringify(asked.config),
        asked.description,
        JSON.stringify(proposed),
        author.reason,
        author.actor,
        requiredApprovals,
        expiresAt,
      ],
    );
    if (!row) throw new ChangeRequestError(null, `${MAX_OPEN_REQUESTS} change requests of "${key.service}" in "${key.environment}" are open: review or withdraw some first`);
    return (await this.find(row.id))!;
  }

  async find(id: string): Promise<ChangeRequest | null> {
    const [row] = await this.db.query<RequestRow>(`SELECT ${COLUMNS} FROM change_requests r WHERE r.id = $1::bigint`, [id]);
    return row ? fromRow(row) : null;
  }

  /** Requests, newest first, at most MAX_REQUESTS_LISTED. */
  async list(filter: ListRequestsFilter): Promise<ChangeRequest[]> {
    await this.settleAbandonedApplies();
    const states = filter.states?.length ? filter.states : ['open'];
    const rows = await this.db.query<RequestRow>(
      `SELECT * FROM (SELECT ${COLUMNS} FROM change_requests r
          WHERE ($1::text IS NULL OR r.service_name = $1) AND ($2::text IS NULL OR r.environment = $2)
            AND ($3::text[] IS NULL OR r.service_name = ANY($3)) AND ($4::text[] IS NULL OR r.environment = ANY($4))) listed
        WHERE state = ANY($5::text[]) ORDER BY id::bigint DESC LIMIT ${MAX_REQUESTS_LISTED}`,
      [filter.service ?? null, filter.environment ?? null, filter.services ?? null, filter.environments ?? null, states],
    );
    return rows.map(fromRow);
  }

  /**
   * A review by `reviewer`: an approval or a rejection by anyone but the author of an open request, or a
   * comment by anyone. Returns the request as it is after it (the approval that completes the count applies it).
   */
  async review(id: string, reviewer: string, verdict: Verdict, comment?: string | null): Promise<ChangeRequest> {
    requireTexts([{ text: comment, pointer: '/comment', maxBytes: MAX_COMMENT_BYTES }]);
    await this.settleAbandonedApplies();
    const request = await this.required(id);
    if (verdict !== 'comment') {
      if (request.author === reviewer) throw new ChangeRequestError(id, `the author of change request ${id} cannot ${verdict} it: another principal must`);
      this.requireOpen(request);
      if (verdict === 'approve' && approvalsOf(request).some((review) => review.reviewer === reviewer)) {
        throw new ChangeRequestError(id, `"${reviewer}" has already approved change request ${id}`);
      }
    }
    // The state is checked again in the statement: a request closed meanwhile takes no approval or rejection.
    const [added] = await this.db.query<{ id: string }>(
      `INSERT INTO change_request_reviews (request_id, reviewer, verdict, comment)
       SELECT id, $2, $3, $4 FROM change_requests WHERE id = $1::bigint AND ($3 = 'comment' OR (state = 'open' AND expires_at > now()))
          AND (SELECT count(*) FROM change_request_reviews WHERE request_id = $1::bigint) < ${MAX_REVIEWS}
       ON CONFLICT DO NOTHING RETURNING id::text AS id`,
      [id, reviewer, verdict, comment ?? null],
    );
    if (!added) {
      throw new ChangeRequestError(id, `change request ${id} is no longer open, "${reviewer}" has already approved it, or it has ${MAX_REVIEWS} reviews already`);
    }
    if (verdict === 'reject') return this.close(id, 'rejected', `rejected by ${reviewer}`);
    const reviewed = (await this.find(id))!;
    if (verdict === 'approve' && approvalsOf(reviewed).length >= reviewed.requiredApprovals) return this.apply(reviewed);
    return reviewed;
  }

  /** Withdraws an open request (its author, or an admin as the caller decides). */
  async withdraw(id: string, actor: string): Promise<ChangeRequest> {
    const request = await this.required(id);
    this.requireOpen(request);
    return this.close(id, 'withdrawn', `withdrawn by ${actor}`);
  }

  /**
   * Applies an approved request once: claimed first (one gateway wins), rebased if its base moved and it
   * still applies cleanly, written as its author's change, then closed with the version it wrote.
   */
  async apply(request: ChangeRequest): Promise<ChangeRequest> {
    const [claimed] = await this.db.query(
      `UPDATE change_requests SET state = 'applying', claimed_at = now() WHERE id = $1::bigint AND state = 'open' AND expires_at > now() RETURNING id`,
      [request.id],
    );
    if (!claimed) return (await this.find(request.id))!;
    try {
      const now = await this.onCurrent(request);
      if ('refused' in now) return await this.close(request.id, 'stale', now.refused);
      const { document, currentVersion } = now;
      if (currentVersion !== request.baseVersion) {
        const outcome = `rebased from version ${request.baseVersion} onto ${currentVersion}`;
        // Recorded before the write: a gateway that dies now leaves a claim whose base is the one written on.
        await this.db.query(`UPDATE change_requests SET base_version = $2, proposed = $3::jsonb, outcome = $4 WHERE id = $1::bigint`, [
          request.id,
          currentVersion,
          JSON.stringify(document),
          outcome,
        ]);
      }
      const version = await this.writer.write(request, document, currentVersion);
      await this.db.query(`UPDATE change_requests SET state = 'applied', closed_at = now(), applied_version = $2 WHERE id = $1::bigint`, [request.id, version]);
      return (await this.find(request.id))!;
    } catch (error) {
      // Refused at the write (the document no longer passes the config's schema, the version moved under
      // it): the request closes as stale, with why; anything else leaves it open to be applied again.
      if (error instanceof ConfigError) return this.close(request.id, 'stale', error.message);
      await this.db.query(`UPDATE change_requests SET state = 'open', claimed_at = NULL WHERE id = $1::bigint AND state = 'applying'`, [request.id]);
      throw error;
    }
  }

  /**
   * What approving an open request would do now: null while its config is still at its base version;
   * otherwise whether it applies onto the current version (rebased) or closes as stale, and why.
   */
  async rebase(request: ChangeRequest): Promise<{ currentVersion: number; clean: boolean; detail: string } | null> {
    if (request.state !== 'open') return null;
    const now = await this.onCurrent(request);
    if (now.currentVersion === request.baseVersion && !('refused' in now)) return null;
    return 'refused' in now
      ? { currentVersion: now.currentVersion, clean: false, detail: now.refused }
      : { currentVersion: now.currentVersion, clean: true, detail: `the settings it changes did not move since version ${request.baseVersion}: it applies onto version ${now.currentVersion}` };
  }

  /** The document the request writes on the config as it is now, or why it can no longer be written. */
  private async onCurrent(request: ChangeRequest): Promise<{ currentVersion: number; document: JsonObject } | { currentVersion: number; refused: string }> {
    const key = { service: request.service, environment: request.environment };
    const current = await this.writer.current(key);
    if (!current || current.deleted) return { currentVersion: current?.version ?? request.baseVersion, refused: 'the config was deleted' };
    if (current.version === request.baseVersion) return { currentVersion: current.version, document: request.proposed };
    const base = await this.writer.contentAt(key, request.baseVersion);
    const next = base ? rebased(request, base, current.config) : { refused: 'its base version is gone' };
    if ('refused' in next) return { currentVersion: current.version, refused: `the config moved from version ${request.baseVersion} to ${current.version}: ${next.refused}` };
    return { currentVersion: current.version, document: next.document };
  }

  /**
   * Claims to apply left by a gateway that died: if the config is still at the request's base, nothing
   * was written and the request is open again; if the version after its base is the request's own write
   * (its author, its document), it is applied; otherwise it is stale. Run before each listing and review.
   */
  async settleAbandonedApplies(): Promise<void> {
    const abandoned = await this.db.query<{ id: string }>(
      `SELECT id::text AS id FROM change_requests WHERE state = 'applying' AND claimed_at < now() - interval '${STALE_CLAIM_SECONDS} seconds'`,
    );
    for (const { id } of abandoned) {
      const request = (await this.find(id))!;
      const key = { service: request.service, environment: request.environment };
      const current = await this.writer.current(key);
      const [next] = await this.db.query<{ changedBy: string; config: JsonObject }>(
        `SELECT changed_by AS "changedBy", new_config AS config FROM config_audit_log WHERE service_name = $1 AND environment = $2 AND version = $3`,
        [key.service, key.environment, request.baseVersion + 1],
      );
      if (current && current.version === request.baseVersion) {
        await this.db.query(`UPDATE change_requests SET state = 'open', claimed_at = NULL WHERE id = $1::bigint AND state = 'applying'`, [id]);
      } else if (next && next.changedBy === request.author && sameValue(next.config, request.proposed)) {
        await this.db.query(`UPDATE change_requests SET state = 'applied', closed_at = now(), applied_version = $2 WHERE id = $1::bigint AND state = 'applying'`, [
          id,
          request.baseVersion + 1,
        ]);
      } else {
        await this.close(id, 'stale', 'the gateway applying it stopped, and the config moved meanwhile');
      }
    }
  }

  /** Closes a request with its outcome: rejected or withdrawn only while open; stale (its apply failed) whatever its state. */
  private async close(id: string, state: 'stale' | 'rejected' | 'withdrawn', outcome: string): Promise<ChangeRequest> {
    await this.db.query(`UPDATE change_requests SET state = $2, closed_at = now(), outcome = $3 WHERE id = $1::bigint AND ($2 = 'stale' OR state = 'open')`, [
      id,
      state,
      outcome,
    ]);
    return (await this.find(id))!;
  }

  private async required(id: string): Promise<ChangeRequest> {
    const request = await this.find(requestId(id));
    if (!request) throw new ChangeRequestError(id, `no change request ${id}`);
    return request;
  }

  private requireOpen(request: ChangeRequest): void {
    if (request.state !== 'open') throw new ChangeRequestError(request.id, `change request ${request.id} is ${request.state}${request.outcome ? ` (${request.outcome})` : ''}`);
  }
}

/** When a request asked for ends: now plus `expiresIn` (`2h`, `3d`; 7 days when not given; a minute to 30 days). */
export function requestExpiry(expiresIn: string | null | undefined, now = Date.now()): Date {
  const ms = expiresIn == null ? DEFAULT_REQUEST_MS : durationMs(expiresIn);
  if (Number.isNaN(ms)) throw ValidationError.at('/requestExpiresIn', 'a duration such as 90m, 2h or 3d');
  if (!(ms >= 60_000 && ms <= MAX_REQUEST_MS)) throw ValidationError.at('/requestExpiresIn', 'a change request may stay open from a minute to 30 days');
  return new Date(now + ms);
}
