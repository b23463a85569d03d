import { Body, Controller, Delete, Get, Inject, Param, Post } from '@nestjs/common';
import { Schemas } from '../../common/openapi/resources';
import { Returns, bool, int, objectOf, str } from '../../common/openapi/response-schemas';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { BUILT_IN_ROLE_PERMISSIONS, type ApiKeyRole, type BuiltInRoleName } from '@certctl/contracts';
import type { ApiKeyEntity } from '@certctl/db';
import { Public } from '../../common/auth/access.decorator';
import { ApiKeysService } from '../../common/auth/api-keys.service';
import { AUTHENTICATED, RequirePermission } from '../../common/auth/permission.decorator';
import { effectivePermissions, holds, Principal, RoleGrant } from '../../common/auth/principal';
import type { Grant } from '../../common/auth/visibility';
import { ApiError } from '../../common/http/api-error';
import { CurrentPrincipal } from '../../common/http/request';
import { CreateApiKeyDto } from './dto/api-key.dto';
import { OidcProvidersService } from '../identity/oidc-providers.service';

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(
    private readonly keys: ApiKeysService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly oidcProviders: OidcProvidersService,
  ) {}

  /** How to authenticate (for login pages and clients), with the OpenID providers to sign in with; no key needed. */
  @Get('info')
  @Public()
  @Returns(objectOf({ auth_type: str, required: bool, oidc_providers: { type: 'array', items: objectOf({ id: str, name: str, login_url: str }) } }))
  async info(): Promise<{ auth_type: string; required: boolean; oidc_providers: Array<{ id: string; name: string; login_url: string }> }> {
    const providers = this.config.auth.type === 'oidc' ? await this.oidcProviders.signInChoices() : [];
    return {
      auth_type: this.config.auth.type,
      required: this.config.auth.type !== 'none',
      oidc_providers: providers.map((p) => ({ ...p, login_url: `/auth/oidc/login?provider=${encodeURIComponent(p.id)}` })),
    };
  }

  /** Validates the caller's credential and says what it may do (the same view as /auth/me). */
  @Get('check')
  @ApiBearerAuth()
  @RequirePermission(AUTHENTICATED)
  @Returns(Schemas.CallerView)
  check(@CurrentPrincipal() p: Principal): CallerView {
    return callerView(p);
  }

  /**
   * The current caller and what it may do, where: certctl's fields (actor_id, actor_type, tenant_id, admin, roles,
   * effective_permissions) and the ones our console and CLI read (user, actor, role, permissions, access).
   */
  @Get('me')
  @ApiBearerAuth()
  @RequirePermission(AUTHENTICATED)
  @Returns(Schemas.CallerView)
  me(@CurrentPrincipal() p: Principal): CallerView {
    return callerView(p);
  }

  /** Every key (never a secret or hash): certctl's `{keys}`, and the list envelope earlier clients read. */
  @Get('keys')
  @ApiBearerAuth()
  @RequirePermission('auth.key.list')
  @Returns(objectOf({ keys: { type: 'array', items: Schemas.ApiKey }, data: { type: 'array', items: Schemas.ApiKey }, total: int, page: int, per_page: int }))
  async list(): Promise<{ keys: ApiKeyEntity[]; data: ApiKeyEntity[]; total: number; page: number; per_page: number }> {
    const data = await this.keys.list();
    return { keys: data, data, total: data.length, page: 1, per_page: data.length };
  }

  /**
   * Creates a key holding `role` globally (more grants with POST /auth/keys/{id}/roles); `api_key` in the response
   * is the secret (the name POST /agents uses), shown this once and stored only as a hash. `key` carries the same
   * value for clients written against the first version of this route.
   */
  @Post('keys')
  @ApiBearerAuth()
  @RequirePermission('auth.key.create')
  @Returns(Schemas.CreatedApiKey, 201)
  async create(@CurrentPrincipal() actor: Principal, @Body() body: CreateApiKeyDto): Promise<ApiKeyEntity & { api_key: string; key: string }> {
    // Minting a key that holds a role is granting that role: without auth.role.assign, only a role whose every
    // permission the caller holds globally (a `cli` key mints operators and viewers, not admins).
    const rolePermissions = BUILT_IN_ROLE_PERMISSIONS[body.role as BuiltInRoleName];
    if (!holds(actor, ['auth.role.assign'], 'global') && !rolePermissions.every((p) => holds(actor, [p], 'global'))) {
      throw new ApiError(403, 'FORBIDDEN', `missing permission auth.role.assign (or every permission of ${body.role}) to mint a ${body.role} key`);
    }
    const { key, secret } = await this.keys.create(actor, { name: body.name, role: body.role as ApiKeyRole, expires_at: body.expires_at });
    return { ...key, api_key: secret, key: secret };
  }

  @Delete('keys/:id')
  @ApiBearerAuth()
  @RequirePermission('auth.key.delete')
  @Returns(Schemas.ApiKey)
  async revoke(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<ApiKeyEntity> {
    if (actor.key_id === id) throw ApiError.conflict('SELF_REVOKE', 'a key cannot revoke itself');
    return this.keys.revoke(actor, id);
  }
}

/** certctl's /auth/me fields and ours (`user`, `actor`, `role`, `permissions`, `access`), one view for /auth/check too. */
export interface CallerView {
  status: 'authenticated';
  actor_id: string;
  actor_type: string;
  tenant_id: 't-default';
  admin: boolean;
  /** The ids of the roles the caller holds (in any scope). */
  roles: string[];
  /** Each role grant: which role, where, until when, and whether it comes through a provider group. */
  role_grants: Array<{ role_id: string; role_name: string; scope_type: string; scope_id?: string; expires_at?: Date; via: string }>;
  effective_permissions: Array<{ permission: string; scope_type: string; scope_id?: string }>;
  user: string;
  /** The distinct permission names, in any scope. */
  permissions: string[];
  actor: string;
  role: string;
  /** The console's coarse levels (read, write, audit, admin, agent-self, authenticated), from the permissions. */
  access: string[];
  agent_id?: string;
  user_id?: string;
}

export function callerView(p: Principal): CallerView {
  const effective = effectivePermissions(p);
  const roles: RoleGrant[] = p.roles ?? [];
  return {
    status: 'authenticated',
    actor_id: p.key_id ?? p.user_id ?? p.actor,
    actor_type: p.actor_type,
    tenant_id: 't-default',
    admin: roles.some((r) => r.role_id === 'r-admin' && r.scope_type === 'global'),
    roles: [...new Set(roles.map((r) => r.role_id))],
    role_grants: roles.map((r) => ({
      role_id: r.role_id, role_name: r.role_name, scope_type: r.scope_type, ...(r.scope_id ? { scope_id: r.scope_id } : {}),
      ...(r.expires_at ? { expires_at: r.expires_at } : {}), via: r.via,
    })),
    effective_permissions: effective.map((g) => ({ permission: g.permission, scope_type: g.scope_type, ...(g.scope_id ? { scope_id: g.scope_id } : {}) })),
    user: p.actor,
    permissions: [...new Set(effective.map((g) => g.permission))].sort(),
    actor: p.actor,
    role: p.role,
    access: accessLevels(effective),
    ...(p.agent_id ? { agent_id: p.agent_id } : {}),
    ...(p.user_id ? { user_id: p.user_id } : {}),
  };
}

/** The console's coarse levels from permissions: what its menus and buttons ask before showing themselves. */
function accessLevels(grants: Grant[]): string[] {
  const has = (...names: string[]) => grants.some((g) => names.includes(g.permission));
  const hasGlobally = (name: string) => grants.some((g) => g.permission === name && g.scope_type === 'global');
  return [
    'authenticated',
    ...(has('cert.read') ? ['read'] : []),
    ...(has('cert.issue', 'cert.edit') ? ['write'] : []),
    ...(has('audit.read') ? ['audit'] : []),
    ...(hasGlobally('auth.key.list') ? ['admin'] : []),
    ...(has('agent.heartbeat') ? ['agent-self'] : []),
  ];
}
