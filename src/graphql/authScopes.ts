import type { AuthFailure } from '@pothos/plugin-scope-auth';
import { ForbiddenError, UnauthenticatedError, configAction } from '../access/errors.ts';
import { type Principal, coversService, mayManageSchema, mayManageTokens, mayProtectEnvironments, mayRead, mayWrite } from '../access/principal.ts';
import { type ConfigKey, DEFAULT_ENVIRONMENT } from '../store/names.ts';
import type { Context } from './context.ts';

/** A config a field touches, as its arguments name it (the environment defaults to production). */
export interface ConfigScope {
  service: string;
  environment?: string | null;
}

/** The scopes fields ask for; each one is a rule of src/access/principal.ts. */
export interface AuthScopes {
  signedIn: boolean;
  read: ConfigScope;
  /** A service in any environment the token may touch (its schema). */
  readService: string;
  write: ConfigScope;
  manageSchema: string;
  manageTokens: boolean;
  protectEnvironments: boolean;
}

const keyOf = (scope: ConfigScope): ConfigKey => ({ service: scope.service, environment: scope.environment ?? DEFAULT_ENVIRONMENT });

const when = (viewer: Principal | null, rule: (viewer: Principal) => boolean) => viewer !== null && rule(viewer);

type ScopeRules = ReturnType<typeof scopesFor>;

function scopesFor(viewer: Principal | null) {
  return {
    signedIn: viewer !== null,
    read: (scope: ConfigScope) => when(viewer, (principal) => mayRead(principal, keyOf(scope))),
    readService: (service: string) => when(viewer, (principal) => coversService(principal, service)),
    write: (scope: ConfigScope) => when(viewer, (principal) => mayWrite(principal, keyOf(scope))),
    manageSchema: (service: string) => when(viewer, (principal) => mayManageSchema(principal, service)),
    manageTokens: when(viewer, mayManageTokens),
    protectEnvironments: when(viewer, mayProtectEnvironments),
  };
}

// The token cache hands out one Principal object per token, so its rules are built once, not per request.
const rulesOf = new WeakMap<Principal, ScopeRules>();
const anonymousRules = scopesFor(null);

export function authScopesOf(ctx: Context): ScopeRules {
  const { viewer } = ctx;
  if (!viewer) return anonymousRules;
  let rules = rulesOf.get(viewer);
  if (!rules) {
    rules = scopesFor(viewer);
    rulesOf.set(viewer, rules);
  }
  return rules;
}

/** No token: unauthenticated. A token without the right: forbidden, saying what was asked. */
export function unauthorizedError(ctx: Context, failure: AuthFailure): Error {
  if (!ctx.viewer) return new UnauthenticatedError();
  return new ForbiddenError(ctx.viewer, describeFailure(failure));
}

function describeFailure(failure: AuthFailure): string {
  if (failure.kind === 'AuthScope') {
    const parameter = failure.parameter as unknown;
    switch (failure.scope) {
      case 'read':
      case 'write':
        return configAction(failure.scope, keyOf(parameter as ConfigScope));
      case 'readService':
        return `read service "${String(parameter)}"`;
      case 'manageSchema':
        return `set the schema of "${String(parameter)}" (an admin whose scope covers the service in every environment)`;
      case 'manageTokens':
        return 'manage tokens (an admin without service or environment restrictions)';
      case 'protectEnvironments':
        return 'protect environments (an admin without service or environment restrictions)';
      default:
        return 'do this';
    }
  }
  if (failure.kind === 'AnyAuthScopes' || failure.kind === 'AllAuthScopes') {
    return failure.failures.map(describeFailure).join(failure.kind === 'AnyAuthScopes' ? ' or ' : ' and ');
  }
  return 'do this';
}
