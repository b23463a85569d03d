import type { ActorType, ApiKeyRole } from '@certctl/contracts';
import type { Grant } from './visibility';

/** The authenticated caller. `actor` is the key's name, which the audit trail records. */
export interface Principal {
  actor: string;
  actor_type: ActorType;
  role: ApiKeyRole;
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
   * ones). Absent = judged by `role` alone (see visibility.ts).
   */
  grants?: Grant[];
}

export const SYSTEM_PRINCIPAL: Principal = { actor: 'system', actor_type: 'System', role: 'admin' };

/**
 * What a route needs. `read` = any GET of the inventory; `write` = changes; `admin` = key management;
 * `audit` = the audit trail; `agent-self` = the agent protocol, for the agent's own id (or an operator);
 * `agent-self-or-read` = a read of an agent's own data, also open to anyone who may read the inventory;
 * `authenticated` = any valid key; `public` = no key.
 */
export type Access = 'public' | 'authenticated' | 'read' | 'write' | 'admin' | 'audit' | 'agent-self' | 'agent-self-or-read';

export const ROLE_ACCESS: Record<ApiKeyRole, ReadonlySet<Access>> = {
  admin: new Set<Access>(['authenticated', 'read', 'write', 'admin', 'audit', 'agent-self']),
  operator: new Set<Access>(['authenticated', 'read', 'write', 'audit', 'agent-self']),
  viewer: new Set<Access>(['authenticated', 'read', 'audit']),
  auditor: new Set<Access>(['authenticated', 'audit']),
  agent: new Set<Access>(['authenticated', 'agent-self']),
};

/** certctl's permission names for what each of our access levels allows (its RBAC catalogue, §2.2). */
const CERTCTL_PERMISSIONS: Partial<Record<Access, readonly string[]>> = {
  read: [
    'cert.read', 'profile.read', 'issuer.read', 'target.read', 'agent.read', 'job.read', 'policy.read', 'team.read', 'owner.read',
    'notification.read', 'discovery.read', 'network_scan.read', 'stats.read', 'metrics.read', 'verification.read', 'digest.read',
    'approval.read',
  ],
  write: [
    'cert.issue', 'cert.edit', 'cert.revoke', 'cert.delete', 'cert.bulk_revoke', 'profile.edit', 'profile.delete', 'issuer.edit',
    'issuer.delete', 'target.edit', 'target.delete', 'agent.edit', 'agent.retire', 'job.cancel', 'approval.approve', 'approval.reject',
    'policy.edit', 'policy.delete', 'team.edit', 'team.delete', 'owner.edit', 'owner.delete', 'notification.edit', 'discovery.run',
    'discovery.claim', 'network_scan.edit', 'network_scan.run', 'digest.send', 'verification.run',
  ],
  audit: ['audit.read', 'audit.export'],
  admin: ['auth.key.list', 'auth.key.create', 'auth.key.delete'],
  'agent-self': ['agent.heartbeat', 'agent.job.poll', 'agent.job.complete', 'agent.job.report'],
};

/** The effective certctl permissions of one of our roles, sorted. */
export function permissionsOf(role: ApiKeyRole): string[] {
  return [...ROLE_ACCESS[role]].flatMap((access) => CERTCTL_PERMISSIONS[access] ?? []).sort();
}

/** certctl's role id (`r-admin`, `r-viewer`, …) for one of our roles. */
export function certctlRoleOf(role: ApiKeyRole): string {
  return `r-${role}`;
}
