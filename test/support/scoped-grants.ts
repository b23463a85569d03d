import type { ExecutionContext, INestApplication } from '@nestjs/common';
import { AuthGuard } from '../../apps/api/src/common/auth/auth.guard';
import type { Grant, ScopeType } from '../../apps/api/src/common/auth/visibility';
import type { ApiRequest } from '../../apps/api/src/common/http/request';

/**
 * STAND-IN for the scoped grants the auth guard will load (issue 23, roles with scoped grants): after the real
 * guard has authenticated a request, the principal of a key named in `grantsByActor` gets that grants list, as the
 * guard will set `principal.grants` from the roles granted to the key. The real authentication and role check run
 * unchanged. Once the guard loads grants itself, tests grant roles through the API instead and drop this.
 */
export function layerGrants(app: INestApplication, grantsByActor: Map<string, Grant[]>): void {
  const guard = app.get(AuthGuard);
  const authenticate = guard.canActivate.bind(guard);
  guard.canActivate = async (context: ExecutionContext) => {
    const allowed = await authenticate(context);
    const req = context.switchToHttp().getRequest<ApiRequest>();
    const grants = req.principal ? grantsByActor.get(req.principal.actor) : undefined;
    // A copy: the key's principal may be cached and shared between requests.
    if (grants && req.principal) req.principal = { ...req.principal, grants };
    return allowed;
  };
}

/** Every listed permission, granted within one scope. */
export function grantsIn(scope_type: ScopeType, scope_id: string, permissions: readonly string[]): Grant[] {
  return permissions.map((permission) => ({ permission, scope_type, scope_id }));
}

/** What an operator of one team holds (the operator role's permissions that rows are scoped by). */
export const OPERATOR_PERMISSIONS = [
  'cert.read', 'cert.issue', 'cert.edit', 'cert.revoke', 'cert.delete', 'cert.bulk_revoke', 'target.read', 'target.edit', 'target.delete',
  'job.read', 'job.cancel', 'notification.read', 'notification.edit', 'audit.read', 'audit.export', 'agent.read', 'stats.read',
] as const;
