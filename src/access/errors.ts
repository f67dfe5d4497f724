import { ConfigError } from '../store/errors.ts';

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
  constructor(message: string) {
    super(message);
  }
}
