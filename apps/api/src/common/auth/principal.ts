import type { ActorType } from '@certctl/contracts';
import { BUILT_IN_ROLE_PERMISSIONS } from '@certctl/contracts';
import type { Grant } from './visibility';

/** A role the caller holds, where, and until when (GET /auth/me lists these). */
export interface RoleGrant {
  role_id: string;
  role_name: string;
  scope_type: Grant['scope_type'];
  scope_id: string | null;
  expires_at: Date | null;
  /** How the caller holds it: granted to itself, or through a provider group mapping. */
  via: 'direct' | 'group';
}

/** The authenticated caller. `actor` is the key's name (or the user's e-mail), which the audit trail records. */
export interface Principal {
  actor: string;
  actor_type: ActorType;
  /**
   * The primary role's name (an API key's `role`; for a user the strongest built-in role it holds): for display
   * and the fields older clients read. What the caller may do is `grants`, never this.
   */
  role: string;
  key_id?: string;
  /** Set for agent keys: the only agent this key may speak for. */
  agent_id?: string;
  /** Set for a person signed in through an OpenID provider: the user and the console session. */
  user_id?: string;
  session_id?: string;
  /** The signed-in person's e-mail and OpenID provider (absent for break-glass), for the audit trail. */
  email?: string;
  provider_id?: string;
  /**
   * Every permission the caller holds and where (from its roles' grants, its groups' mappings, minus expired
   * ones). Absent only for the system principal (see visibility.ts: judged as seeing everything).
   */
  grants?: Grant[];
  /** The role grants behind `grants`. */
  roles?: RoleGrant[];
}

/** Every permission, everywhere: the bootstrap key and demo mode (certctl grants the demo actor `r-admin`). */
export function adminGrants(): Grant[] {
  return BUILT_IN_ROLE_PERMISSIONS.admin.map((permission) => ({ permission, scope_type: 'global', scope_id: null }));
}

export const ADMIN_ROLE_GRANT: RoleGrant = { role_id: 'r-admin', role_name: 'admin', scope_type: 'global', scope_id: null, expires_at: null, via: 'direct' };

export const SYSTEM_PRINCIPAL: Principal = { actor: 'system', actor_type: 'System', role: 'admin' };

/**
 * Whether the caller holds any of `permissions`: `anywhere` (in any scope), `global`ly, or globally or for one
 * issuer/profile/team.
 */
export function holds(principal: Principal, permissions: readonly string[], where: 'anywhere' | 'global' | { type: Grant['scope_type']; id: string } = 'anywhere'): boolean {
  const grants = principal.grants ?? adminGrants();
  return grants.some((g) => permissions.includes(g.permission)
    && (where === 'anywhere' || g.scope_type === 'global' || (where !== 'global' && g.scope_type === where.type && g.scope_id === where.id)));
}

/** Whether the caller holds the permission globally (routes that act outside any team/issuer/profile). */
export function holdsGlobally(principal: Principal, permission: string): boolean {
  return holds(principal, [permission], 'global');
}

/** The distinct permissions with their scopes, sorted (GET /auth/me's effective_permissions). */
export function effectivePermissions(principal: Principal): Grant[] {
  const seen = new Map<string, Grant>();
  for (const g of principal.grants ?? adminGrants()) seen.set(`${g.permission}\0${g.scope_type}\0${g.scope_id ?? ''}`, g);
  return [...seen.values()].sort((a, b) => a.permission.localeCompare(b.permission) || a.scope_type.localeCompare(b.scope_type)
    || (a.scope_id ?? '').localeCompare(b.scope_id ?? ''));
}

/** Built-in roles from strongest to weakest, to name a user's primary role. */
const ROLE_STRENGTH = ['admin', 'cli', 'operator', 'mcp', 'viewer', 'auditor', 'agent'];

export function primaryRoleOf(roles: readonly RoleGrant[]): string {
  return ROLE_STRENGTH.find((name) => roles.some((r) => r.role_name === name && r.role_id === `r-${name}`)) ?? roles[0]?.role_name ?? 'none';
}
