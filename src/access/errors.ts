import { ConfigError } from '../store/errors.ts';
import type { ConfigKey } from '../store/names.ts';
import { type Principal, mayActOnRequest } from './principal.ts';

/** No token, or one the hub does not accept (unknown, expired, revoked). Nothing was written. */
export class UnauthenticatedError extends ConfigError {
  override name = 'UnauthenticatedError';
  constructor(message = 'authentication required: send "Authorization: Bearer <token>"') {
    super(message);
  }
}

/** A valid token whose role or scope does not allow the request. Nothing was written. */
export class ForbiddenError extends ConfigError {
  override name = 'ForbiddenError';
  /** `what` completes "token "x" (its grant) may not …". */
  constructor(principal: Principal, what: string) {
    const services = principal.services ? `services ${principal.services.join(', ')}` : 'all services';
    const environments = principal.environments ? `environments ${principal.environments.join(', ')}` : 'all environments';
    super(`token "${principal.name}" (${principal.role}; ${services}; ${environments}) may not ${what}`);
  }
}

/** What a refused read or write of a config was, as ForbiddenError's `what`: `read config "x" in "y"`. */
export const configAction = (action: 'read' | 'write', key: ConfigKey) => `${action} config "${key.service}" in "${key.environment}"`;

/** Refuses an action on a change request the principal may not take (see mayActOnRequest). */
export function requireRequestAccess(principal: Principal, request: ConfigKey & { id: string; author: string }, action: 'see' | 'review' | 'withdraw'): void {
  if (!mayActOnRequest(principal, request, action)) throw new ForbiddenError(principal, `${action} change request ${request.id} (of config "${request.service}" in "${request.environment}")`);
}
