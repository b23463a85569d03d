import { expect } from 'vitest';
import type { Grant, ScopeType } from '../../apps/api/src/common/auth/visibility';
import type { ApiHarness } from './api-harness';
import { post, unique } from './fixtures';

/**
 * A key holding exactly `grants`, made through the API as an admin would: a key, its primary role taken back, and
 * for each scope a custom role with that scope's permissions granted to the key there. Returns the key's secret.
 */
export async function keyWithGrants(api: ApiHarness, label: string, grants: readonly Grant[]): Promise<string> {
  const key = await post(api, '/api/v1/auth/keys', { name: unique(`scoped-${label}`), role: 'viewer' });
  await api.http.delete(`/api/v1/auth/keys/${key.id as string}/roles/r-viewer`).set(api.auth()).expect(204);
  const byScope = new Map<string, { scope_type: ScopeType; scope_id: string | null; permissions: string[] }>();
  for (const g of grants) {
    const scopeKey = `${g.scope_type}:${g.scope_id ?? ''}`;
    const entry = byScope.get(scopeKey) ?? { scope_type: g.scope_type, scope_id: g.scope_id, permissions: [] };
    entry.permissions.push(g.permission);
    byScope.set(scopeKey, entry);
  }
  for (const scope of byScope.values()) {
    const role = await post(api, '/api/v1/auth/roles', { name: unique(`scoped-${label}`), permissions: scope.permissions });
    const granted = await api.http.post(`/api/v1/auth/keys/${key.id as string}/roles`).set(api.auth())
      .send({ role_id: role.id, scope_type: scope.scope_type, ...(scope.scope_id ? { scope_id: scope.scope_id } : {}) });
    expect(granted.status, JSON.stringify(granted.body)).toBe(201);
  }
  return key.key as string;
}

/** Every listed permission, granted within one scope. */
export function grantsIn(scope_type: ScopeType, scope_id: string, permissions: readonly string[]): Grant[] {
  return permissions.map((permission) => ({ permission, scope_type, scope_id }));
}

/** What an operator of one team holds (the operator role's permissions that rows are scoped by). */
export const OPERATOR_PERMISSIONS = [
  'cert.read', 'cert.issue', 'cert.edit', 'cert.revoke', 'cert.delete', 'cert.bulk_revoke', 'target.read', 'target.edit', 'target.delete',
  'job.read', 'job.cancel', 'notification.read', 'notification.edit', 'audit.read', 'audit.export', 'agent.read', 'stats.read',
  'approval.read', 'approval.approve', 'approval.reject', 'team.read', 'owner.read', 'issuer.read', 'profile.read',
] as const;
