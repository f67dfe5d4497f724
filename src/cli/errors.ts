/**
 * The exit codes of the `confighub` command (documented in `confighub --help` and the README);
 * scripts rely on them.
 */
export const ExitCode = {
  /** Done. */
  OK: 0,
  /** Bad usage (unknown command or option, malformed argument or file), or an unexpected failure. */
  USAGE: 1,
  /** The service, config, version or token does not exist. */
  NOT_FOUND: 2,
  /** Refused: a version conflict, a validation error or a suspected secret; nothing was written. */
  CONFLICT: 3,
  /** The hub refused the token (missing, unknown, expired, revoked or without the right). */
  AUTH: 4,
  /** The hub did not answer (down, unreachable, timed out). */
  UNREACHABLE: 5,
  /** A generated file no longer matches the hub (`types --check`). */
  OUT_OF_DATE: 6,
  /** Written, but instances running the config refused the new version (`set`, `patch`). */
  REFUSED_BY_INSTANCES: 7,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure the CLI reports on stderr and turns into its exit code. */
export class CliError extends Error {
  override name = 'CliError';

  constructor(
    message: string,
    readonly exitCode: ExitCode,
    /** A short machine-readable code, printed with `--json`. */
    readonly code: string,
    /** Extra lines for a person: each violation, the current version... */
    readonly details: string[] = [],
  ) {
    super(message);
  }
}

export const usageError = (message: string) => new CliError(message, ExitCode.USAGE, 'USAGE');

/** The typed failures of the GraphQL API (`... on Error` members of result unions). */
export interface ApiFailure {
  __typename: string;
  message?: string;
  currentVersion?: number;
  expectedVersion?: number;
  issues?: { pointer: string; message: string }[];
}

/** Turns a typed failure of a result union into a CliError with the right exit code. */
export function failureToError(failure: ApiFailure): CliError {
  const message = failure.message ?? failure.__typename;
  // Each issue once: the hub's message already is the issue when there is one.
  const issues = (failure.issues ?? []).map((issue) => `${issue.pointer || '(document)'}: ${issue.message}`).filter((line) => line !== message);
  switch (failure.__typename) {
    case 'NotFoundError':
      return new CliError(message, ExitCode.NOT_FOUND, 'NOT_FOUND');
    case 'VersionConflictError':
      return new CliError(message, ExitCode.CONFLICT, 'VERSION_CONFLICT', [
        `the config is at version ${failure.currentVersion}; read it again and retry`,
      ]);
    case 'ValidationError':
      return new CliError(message, ExitCode.CONFLICT, 'VALIDATION', issues);
    case 'SecretRejectedError':
      return new CliError(message, ExitCode.CONFLICT, 'SECRET_REJECTED', [
        ...issues,
        'secrets belong in the service environment, not in the hub',
      ]);
    case 'UnauthenticatedError':
      return new CliError(`the hub refused the token: ${message}`, ExitCode.AUTH, 'UNAUTHENTICATED', ['give a valid token with --token or CONFIGHUB_TOKEN']);
    case 'ForbiddenError':
      return new CliError(`the token may not do this: ${message}`, ExitCode.AUTH, 'FORBIDDEN');
    case 'AlreadyExistsError':
      return new CliError(message, ExitCode.CONFLICT, 'ALREADY_EXISTS');
    case 'ChangeRequestError':
      return new CliError(message, ExitCode.CONFLICT, 'CHANGE_REQUEST');
    case 'RolloutError':
      return new CliError(message, ExitCode.CONFLICT, 'ROLLOUT', ['confighub rollout status <service> shows the rollout under way']);
    default:
      return new CliError(message, ExitCode.USAGE, failure.__typename.replace(/Error$/, '').toUpperCase() || 'ERROR');
  }
}
