import type { ActorType, ApiKeyRole } from '@certctl/contracts';

/** The authenticated caller. `actor` is the key's name, which the audit trail records. */
export interface Principal {
  actor: string;
  actor_type: ActorType;
  role: ApiKeyRole;
  key_id?: string;
  /** Set for agent keys: the only agent this key may speak for. */
  agent_id?: string;
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
