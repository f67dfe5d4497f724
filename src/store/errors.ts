/** One problem with an input, located by a JSON pointer (RFC 6901) into it. */
export interface ValidationIssue {
  /** Where the problem is, e.g. `/operational/batch_size`; `""` is the whole document. */
  pointer: string;
  message: string;
}

/** An expected failure: the request is refused, nothing is written. */
export abstract class ConfigError extends Error {}

/** The most issues one refusal lists; the rest are counted in a last one. */
export const MAX_ISSUES = 100;

/** `issues`, or the first MAX_ISSUES of them and a count of the others (a list so cut stays as it is). */
export function listed(issues: ValidationIssue[]): ValidationIssue[] {
  if (issues.length <= MAX_ISSUES + 1) return issues;
  return [...issues.slice(0, MAX_ISSUES), { pointer: '', message: `and ${issues.length - MAX_ISSUES} more issues like these` }];
}

export class NotFoundError extends ConfigError {
  override name = 'NotFoundError';
  constructor(
    readonly service: string,
    readonly environment: string,
    readonly version: number | null = null,
    message?: string,
  ) {
    super(
      message ??
        (version === null
          ? `no config for service "${service}" in environment "${environment}"`
          : `config "${service}" in "${environment}" has no version ${version}`),
    );
  }
}

export class AlreadyExistsError extends ConfigError {
  override name = 'AlreadyExistsError';
  constructor(
    readonly service: string,
    readonly environment: string,
    readonly deleted: boolean,
  ) {
    super(
      deleted
        ? `config "${service}" in "${environment}" exists but is deleted: restore it or roll it back`
        : `config "${service}" in "${environment}" already exists`,
    );
  }
}

export class VersionConflictError extends ConfigError {
  override name = 'VersionConflictError';
  constructor(
    readonly service: string,
    readonly environment: string,
    readonly expectedVersion: number,
    readonly currentVersion: number,
  ) {
    super(
      `config "${service}" in "${environment}" is at version ${currentVersion}, not ${expectedVersion}: re-read it and retry`,
    );
  }
}

/** A change request cannot be reviewed, withdrawn or applied as asked (see approvals.ts); or a change needs one. */
export class ChangeRequestError extends ConfigError {
  override name = 'ChangeRequestError';
  constructor(
    readonly requestId: string | null,
    message: string,
  ) {
    super(message);
  }
}

/** A rollout cannot be promoted or aborted as asked, or a change waits for one to end (see rollouts.ts). */
export class RolloutError extends ConfigError {
  override name = 'RolloutError';
  constructor(
    readonly rolloutId: string | null,
    message: string,
  ) {
    super(message);
  }
}

export class ValidationError extends ConfigError {
  override name = 'ValidationError';
  readonly issues: ValidationIssue[];
  constructor(issues: ValidationIssue[]) {
    const shown = listed(issues);
    super(shown.map((issue) => `${issue.pointer || '(document)'}: ${issue.message}`).join('; '));
    this.issues = shown;
  }

  static at(pointer: string, message: string): ValidationError {
    return new ValidationError([{ pointer, message }]);
  }
}

/** The document holds what looks like a secret; secrets belong in the service's environment. */
export class SecretRejectedError extends ConfigError {
  override name = 'SecretRejectedError';
  readonly issues: ValidationIssue[];
  constructor(
    issues: ValidationIssue[],
    readonly advice: string,
  ) {
    const shown = listed(issues);
    super(`refused: ${shown.map((issue) => `${issue.pointer}: ${issue.message}`).join('; ')}. ${advice}`);
    this.issues = shown;
  }
}

/** A read would bring more config documents than one answer may carry; the caller asks for fewer. */
export class PageTooLargeError extends ConfigError {
  override name = 'PageTooLargeError';
  constructor(
    readonly bytes: number,
    readonly limit: number,
    /** How many changes would fit. */
    readonly fits: number,
  ) {
    super(`the page would carry ${bytes} bytes of config documents; the limit is ${limit} (1 MiB): ask for at most ${fits} changes at a time`);
  }
}
