import { CanActivate, ExecutionContext, HttpStatus, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { ApiError } from '../http/api-error';
import type { ApiRequest } from '../http/request';
import { ACCESS_KEY } from './access.decorator';
import { ApiKeysService } from './api-keys.service';
import { Access, Principal, ROLE_ACCESS } from './principal';
import { cookieValue, CSRF_HEADER, SESSION_COOKIE, SessionsService } from './sessions.service';

const DEMO_PRINCIPAL: Principal = { actor: 'actor-demo-anon', actor_type: 'Anonymous', role: 'admin' };

/**
 * Global guard: `Authorization: Bearer <key>`, or (without that header) the console's session cookie after an
 * OpenID sign-in. 401 when the key or session is missing or unknown, 403 when the role lacks what the route needs.
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
    const access = this.accessOf(context, req.method);
    if (access === 'public') return true;

    const principal = this.config.auth.type === 'none' ? DEMO_PRINCIPAL : await this.authenticate(req);
    req.principal = principal;

    const granted = ROLE_ACCESS[principal.role];
    const allowed = access === 'agent-self-or-read' ? granted.has('read') || granted.has('agent-self') : granted.has(access);
    if (!allowed) {
      throw new ApiError(HttpStatus.FORBIDDEN, 'FORBIDDEN', `role ${principal.role} may not ${describe(access)}`);
    }
    if ((access === 'agent-self' || access === 'agent-self-or-read') && principal.role === 'agent' && req.params.id !== principal.agent_id) {
      throw new ApiError(HttpStatus.FORBIDDEN, 'FORBIDDEN', 'an agent key may only act for its own agent');
    }
    return true;
  }

  private accessOf(context: ExecutionContext, method: string): Access {
    const declared = this.reflector.getAllAndOverride<Access | undefined>(ACCESS_KEY, [context.getHandler(), context.getClass()]);
    if (declared) return declared;
    return method === 'GET' || method === 'HEAD' ? 'read' : 'write';
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

function describe(access: Access): string {
  switch (access) {
    case 'read': return 'read the inventory';
    case 'write': return 'change the inventory';
    case 'admin': return 'manage API keys';
    case 'audit': return 'read the audit trail';
    case 'agent-self': return 'use the agent protocol';
    default: return 'call this endpoint';
  }
}
