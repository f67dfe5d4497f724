import { ValidationError, type ValidationIssue } from './errors.ts';

/** Service and environment names: lower case, digits, `.`, `_`, `-`; at most 128 characters. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,127}$/;

export const DEFAULT_ENVIRONMENT = 'production';

/** Identifies one config. */
export interface ConfigKey {
  service: string;
  environment: string;
}

function nameIssue(field: string, value: unknown): ValidationIssue | null {
  if (typeof value === 'string' && NAME_PATTERN.test(value)) return null;
  return {
    pointer: `/${field}`,
    message: `${field} must match ${NAME_PATTERN.source} (lower case letters, digits, ".", "_", "-"; at most 128 characters)`,
  };
}

/** Checks a service and environment name; the environment defaults to "production". */
export function configKey(service: unknown, environment: unknown = DEFAULT_ENVIRONMENT): ConfigKey {
  const env = environment ?? DEFAULT_ENVIRONMENT;
  const issues = [nameIssue('service', service), nameIssue('environment', env)].filter((issue) => issue !== null);
  if (issues.length > 0) throw new ValidationError(issues);
  return { service: service as string, environment: env as string };
}

/** Checks an environment name alone. */
export function environmentName(environment: unknown): string {
  const issue = nameIssue('environment', environment);
  if (issue) throw new ValidationError([issue]);
  return environment as string;
}

export const keyString = (key: ConfigKey) => `${key.service}\u0000${key.environment}`;

/** `rows` grouped by config (`keyOf` gives a row's key string), in the order of `keys`; an empty list where none. */
export function groupByConfig<T>(keys: readonly ConfigKey[], rows: readonly T[], keyOf: (row: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const key = keyOf(row);
    (groups.get(key) ?? groups.set(key, []).get(key)!).push(row);
  }
  return keys.map((key) => groups.get(keyString(key)) ?? []);
}

export const parseKeyString = (key: string): ConfigKey => {
  const [service, environment] = key.split('\u0000') as [string, string];
  return { service, environment };
};
