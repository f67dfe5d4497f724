import { serviceMatches } from '../protocol/serviceGlobs.ts';
import type { ConfigKey } from '../store/names.ts';

/** What a token may do: readers read, editors also write configs, admins also manage tokens and schemas. */
export type Role = 'reader' | 'editor' | 'admin';

export const ROLES: readonly Role[] = ['reader', 'editor', 'admin'];

const RANK: Record<Role, number> = { reader: 0, editor: 1, admin: 2 };

/** Who is asking: the token a request carried, as the hub knows it. */
export interface Principal {
  id: string;
  /** Recorded as actor in the audit log. */
  name: string;
  role: Role;
  /** Services it may touch: exact names or globs such as `polygon-*`; null is all. */
  services: readonly string[] | null;
  /** Environments it may touch; null is all. */
  environments: readonly string[] | null;
  expiresAt: Date | null;
}

const hasRole = (principal: Principal, role: Role) => RANK[principal.role] >= RANK[role];

/** Whether the principal's scope covers a service (in any environment it may touch). */
export function coversService(principal: Principal, service: string): boolean {
  return principal.services === null || serviceMatches(principal.services, service);
}

/** Whether the principal's scope covers one config. */
export function coversConfig(principal: Principal, key: ConfigKey): boolean {
  return (
    coversService(principal, key.service) &&
    (principal.environments === null || principal.environments.includes(key.environment))
  );
}

/** Reading a config, its history and its live changes. */
export const mayRead = (principal: Principal, key: ConfigKey) => coversConfig(principal, key);

/** Creating, updating, rolling back, deleting and restoring a config. */
export const mayWrite = (principal: Principal, key: ConfigKey) => hasRole(principal, 'editor') && coversConfig(principal, key);

/** Setting a service's schema (it applies to every environment, so the scope must cover them all). */
export const mayManageSchema = (principal: Principal, service: string) =>
  hasRole(principal, 'admin') && coversService(principal, service) && principal.environments === null;

/** Managing tokens: only an admin without restrictions, so no token can grant more than its maker has. */
export const mayManageTokens = (principal: Principal) =>
  hasRole(principal, 'admin') && principal.services === null && principal.environments === null;

/** Protecting environments (changes there need approvals): an admin without restrictions, as for tokens. */
export const mayProtectEnvironments = mayManageTokens;

/** Writing a config of a protected environment at once, without approvals: an admin whose scope covers it. */
export const mayBreakGlass = (principal: Principal, key: ConfigKey) => hasRole(principal, 'admin') && coversConfig(principal, key);

/**
 * Acting on a change request: seeing it (and commenting) needs read access to its config; approving or
 * rejecting needs write access; withdrawing it is its author's, or an admin's without restrictions.
 */
export function mayActOnRequest(principal: Principal, request: ConfigKey & { author: string }, action: 'see' | 'review' | 'withdraw'): boolean {
  if (!mayRead(principal, request)) return false;
  if (action === 'review') return mayWrite(principal, request);
  if (action === 'withdraw') return principal.name === request.author || mayManageTokens(principal);
  return true;
}

/** The services and environments a principal may see, as a listing filter (null: all); reads the names only when it must. */
export async function visibleScope(principal: Principal, serviceNames: () => Promise<readonly string[]>) {
  const services = principal.services === null ? null : (await serviceNames()).filter((service) => coversService(principal, service));
  return { services, environments: principal.environments };
}
