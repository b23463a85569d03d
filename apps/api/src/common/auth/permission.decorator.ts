import { SetMetadata } from '@nestjs/common';
import type { Permission } from '@certctl/contracts';

export const PERMISSION_KEY = 'certctl:permission';

/** Any caller with a valid credential, whatever it may do (who-am-I, one's own sessions, signing out). */
export const AUTHENTICATED = 'authenticated';

/** What a route needs: a permission (any of several, or just a valid credential), where, and for agents whose id. */
export interface PermissionRequirement {
  permission: Permission | readonly Permission[] | typeof AUTHENTICATED;
  /**
   * Where the permission must be held. Omitted: globally (a team-scoped grant does not reach routes whose effect is
   * not confined to a team). `rows`: in any scope, because the route's service limits the rows it reads or writes
   * to the caller's teams/issuers/profiles (visibilityOf). `{type, param}`: the route acts on one issuer or profile
   * named by a path parameter, so globally or for that issuer/profile (certctl's rbacGateScoped). `reference`: in
   * any scope, and answered whole: reference data a scoped caller needs to fill in its own rows (the issuers and
   * profiles it may pick when creating a certificate).
   */
  scope?: 'rows' | 'reference' | { type: 'issuer' | 'profile'; param: string };
  /** An agent key may call this route only for its own agent id (this path parameter). */
  agentSelf?: string;
}

/** Declares the permission a route (or every route of a controller) needs; a list means any one of them. */
export const RequirePermission = (permission: PermissionRequirement['permission'], options: Omit<PermissionRequirement, 'permission'> = {}) =>
  SetMetadata(PERMISSION_KEY, { permission, ...options } satisfies PermissionRequirement);

/** The permissions that satisfy a requirement (empty for AUTHENTICATED). */
export function requiredPermissions(requirement: PermissionRequirement): string[] {
  if (requirement.permission === AUTHENTICATED) return [];
  return typeof requirement.permission === 'string' ? [requirement.permission] : [...requirement.permission];
}

/** The requirement as docs/permissions.md writes it. */
export function describeRequirement(requirement: PermissionRequirement): { permission: string; scope: string } {
  const permission = requirement.permission === AUTHENTICATED ? '(any authenticated caller)' : requiredPermissions(requirement).join(' or ');
  const where = requirement.scope === 'rows' ? 'any (rows filtered)'
    : requirement.scope === 'reference' ? 'any (reference data, listed whole)'
    : requirement.scope ? `global or ${requirement.scope.type} {${requirement.scope.param}}` : 'global';
  const scope = [
    where,
    requirement.agentSelf ? `agent keys: own {${requirement.agentSelf}} only` : '',
  ].filter(Boolean).join('; ');
  return { permission, scope: requirement.permission === AUTHENTICATED ? '-' : scope };
}
