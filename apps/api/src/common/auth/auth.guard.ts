import { CanActivate, ExecutionContext, HttpStatus, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { ApiError } from '../http/api-error';
import type { ApiRequest } from '../http/request';
import { ACCESS_KEY } from './access.decorator';
import { ApiKeysService } from './api-keys.service';
import { Access, Principal, ROLE_ACCESS } from './principal';

const DEMO_PRINCIPAL: Principal = { actor: 'actor-demo-anon', actor_type: 'Anonymous', role: 'admin' };

/**
 * Global guard: `Authorization: Bearer <key>`. 401 when the key is missing or unknown, 403 when the key's role
 * lacks what the route needs. Agent keys may only use the agent protocol for their own agent id.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeysService,
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
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw new ApiError(HttpStatus.UNAUTHORIZED, 'UNAUTHENTICATED', 'missing bearer API key');
    const principal = await this.keys.resolve(match[1]!);
    if (!principal) throw new ApiError(HttpStatus.UNAUTHORIZED, 'UNAUTHENTICATED', 'unknown, revoked or expired API key');
    return principal;
  }
}

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
