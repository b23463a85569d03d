import { CanActivate, ExecutionContext, HttpStatus, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { ApiError } from '../http/api-error';
import type { ApiRequest } from '../http/request';
import { ACCESS_KEY } from './access.decorator';
import { ApiKeysService } from './api-keys.service';
import { AUTHENTICATED, PERMISSION_KEY, PermissionRequirement, requiredPermissions } from './permission.decorator';
import { ADMIN_ROLE_GRANT, adminGrants, holds, Principal } from './principal';
import { cookieValue, CSRF_HEADER, SESSION_COOKIE, SessionsService } from './sessions.service';

/** Demo mode (CERTCTL_AUTH_TYPE=none): certctl's anonymous actor, granted r-admin. */
const DEMO_PRINCIPAL: Principal = { actor: 'actor-demo-anon', actor_type: 'Anonymous', role: 'admin', grants: adminGrants(), roles: [ADMIN_ROLE_GRANT] };

/**
 * Global guard: `Authorization: Bearer <key>`, or (without that header) the console's session cookie after an
 * OpenID sign-in. 401 when the key or session is missing or unknown; 403 naming the permission when the caller's
 * grants lack the one the route declares (@RequirePermission). A grant in any scope lets a route through (its
 * service then limits the rows to the caller's teams/issuers/profiles); a route about one issuer or profile needs
 * the permission globally or for that one. A route that declares nothing is refused: no route is open by omission.
 * A state-changing request made with the cookie must carry the session's CSRF token in X-CSRF-Token (403
 * otherwise); a key in a header cannot be sent by another site, so key requests need none. Agent keys may only
 * use the agent protocol for their own agent id.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeysService,
    private readonly sessions: SessionsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<ApiRequest>();
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<string | undefined>(ACCESS_KEY, targets) === 'public') return true;
    const requirement = this.reflector.getAllAndOverride<PermissionRequirement | undefined>(PERMISSION_KEY, targets);

    const principal = this.config.auth.type === 'none' ? DEMO_PRINCIPAL : await this.authenticate(req);
    req.principal = principal;
    if (!requirement) throw new ApiError(HttpStatus.FORBIDDEN, 'FORBIDDEN', 'this route declares no permission, so it is closed');
    authorize(principal, requirement, (req.params ?? {}) as Record<string, unknown>);
    return true;
  }

  private async authenticate(req: ApiRequest): Promise<Principal> {
    const header = req.headers.authorization;
    const sessionToken = header === undefined ? cookieValue(req.headers.cookie, SESSION_COOKIE) : undefined;
    if (sessionToken !== undefined) return this.authenticateSession(req, sessionToken);
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw new ApiError(HttpStatus.UNAUTHORIZED, 'UNAUTHENTICATED', 'missing bearer API key');
    const principal = await this.keys.resolve(match[1]!);
    if (!principal) throw new ApiError(HttpStatus.UNAUTHORIZED, 'UNAUTHENTICATED', 'unknown, revoked or expired API key');
    return principal;
  }

  private async authenticateSession(req: ApiRequest, token: string): Promise<Principal> {
    const found = await this.sessions.resolve(token);
    if (!found.ok) throw new ApiError(HttpStatus.UNAUTHORIZED, 'UNAUTHENTICATED', found.reason);
    if (!SAFE_METHODS.has(req.method)) {
      const presented = req.headers[CSRF_HEADER];
      if (!this.sessions.csrfMatches(found.session, typeof presented === 'string' ? presented : undefined)) {
        throw new ApiError(HttpStatus.FORBIDDEN, 'CSRF_TOKEN_INVALID', `a request made with the session cookie must carry its CSRF token in ${CSRF_HEADER}`);
      }
    }
    return found.session.principal;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function forbidden(message: string): ApiError {
  return new ApiError(HttpStatus.FORBIDDEN, 'FORBIDDEN', message);
}

/** Throws 403 unless the principal meets the requirement for a request with these path parameters. */
export function authorize(principal: Principal, requirement: PermissionRequirement, params: Record<string, unknown>): void {
  if (requirement.permission === AUTHENTICATED) return;
  const permissions = requiredPermissions(requirement);
  const needed = permissions.join(' or ');
  const scope = requirement.scope;
  if (scope === 'rows' || scope === 'reference') {
    if (!holds(principal, permissions, 'anywhere')) throw forbidden(`missing permission ${needed}`);
  } else if (scope) {
    const id = params[scope.param];
    if (typeof id !== 'string' || !holds(principal, permissions, { type: scope.type, id })) {
      throw forbidden(`missing permission ${needed} (globally or for ${scope.type} ${String(id)})`);
    }
  } else if (!holds(principal, permissions, 'global')) {
    throw forbidden(holds(principal, permissions, 'anywhere')
      ? `missing permission ${needed} globally (a grant scoped to a team, issuer or profile does not reach this route)`
      : `missing permission ${needed}`);
  }
  if (requirement.agentSelf && principal.actor_type === 'Agent' && params[requirement.agentSelf] !== principal.agent_id) {
    throw new ApiError(HttpStatus.FORBIDDEN, 'FORBIDDEN', 'an agent key may only act for its own agent');
  }
}
