import { ForbiddenError, UnauthenticatedError } from '../access/errors.ts';
import { AlreadyExistsError, ChangeRequestError, ConfigError, NotFoundError, PageTooLargeError, RolloutError, SecretRejectedError, ValidationError, VersionConflictError } from '../store/errors.ts';

/** An HTTP-facing description of a refused request, shared by GraphQL (extensions) and REST (body). */
export interface Failure {
  code: string;
  status: number;
  message: string;
  details?: Record<string, unknown>;
  /** HTTP headers the response carries (WWW-Authenticate, Retry-After). */
  headers?: Record<string, string>;
}

/** Thrown at the HTTP edge for requests refused before they reach the store. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

/** Maps known failures to a code and status; anything else is an internal error and is not described. */
export function describeFailure(error: unknown): Failure | null {
  if (error instanceof RequestError) return { code: error.code, status: error.status, message: error.message, headers: error.headers };
  if (!(error instanceof ConfigError)) return null;
  if (error instanceof UnauthenticatedError) {
    return { code: 'UNAUTHENTICATED', status: 401, message: error.message, headers: { 'www-authenticate': 'Bearer realm="confighub"' } };
  }
  if (error instanceof ForbiddenError) return { code: 'FORBIDDEN', status: 403, message: error.message };
  if (error instanceof ValidationError) {
    return { code: 'VALIDATION_FAILED', status: 422, message: error.message, details: { issues: error.issues } };
  }
  if (error instanceof SecretRejectedError) {
    return { code: 'SECRET_REJECTED', status: 422, message: error.message, details: { issues: error.issues, advice: error.advice } };
  }
  if (error instanceof NotFoundError) {
    return { code: 'NOT_FOUND', status: 404, message: error.message, details: { service: error.service, environment: error.environment, version: error.version } };
  }
  if (error instanceof VersionConflictError) {
    return { code: 'VERSION_CONFLICT', status: 409, message: error.message, details: { currentVersion: error.currentVersion, expectedVersion: error.expectedVersion } };
  }
  if (error instanceof PageTooLargeError) {
    return { code: 'PAGE_TOO_LARGE', status: 400, message: error.message, details: { bytes: error.bytes, limit: error.limit, fits: error.fits } };
  }
  if (error instanceof AlreadyExistsError) {
    return { code: 'ALREADY_EXISTS', status: 409, message: error.message, details: { deleted: error.deleted } };
  }
  if (error instanceof ChangeRequestError) {
    return { code: 'CHANGE_REQUEST', status: 409, message: error.message, details: { requestId: error.requestId } };
  }
  if (error instanceof RolloutError) {
    return { code: 'ROLLOUT', status: 409, message: error.message, details: { rolloutId: error.rolloutId } };
  }
  return { code: 'REFUSED', status: 400, message: error.message };
}
