import { Body, Controller, Delete, Get, Inject, Param, Post } from '@nestjs/common';
import { Schemas } from '../../common/openapi/resources';
import { Returns, bool, objectOf, pageOf, str } from '../../common/openapi/response-schemas';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import type { ApiKeyRole } from '@certctl/contracts';
import type { ApiKeyEntity } from '@certctl/db';
import { Public, RequireAccess } from '../../common/auth/access.decorator';
import { ApiKeysService } from '../../common/auth/api-keys.service';
import { certctlRoleOf, permissionsOf, Principal, ROLE_ACCESS } from '../../common/auth/principal';
import type { Page } from '../../common/http/pagination';
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

  /** Validates the caller's key and says what it may do (certctl's shape, plus our role/access/actor). */
  @Get('check')
  @ApiBearerAuth()
  @RequireAccess('authenticated')
  @Returns(Schemas.CallerView)
  check(@CurrentPrincipal() p: Principal): CallerView {
    return callerView(p);
  }

  /** The current caller: the same view as /auth/check. */
  @Get('me')
  @ApiBearerAuth()
  @RequireAccess('authenticated')
  @Returns(Schemas.CallerView)
  me(@CurrentPrincipal() p: Principal): CallerView {
    return callerView(p);
  }

  /** Every key (never a secret or hash), in certctl's list envelope. */
  @Get('keys')
  @ApiBearerAuth()
  @RequireAccess('admin')
  @Returns(pageOf(Schemas.ApiKey))
  async list(): Promise<Page<ApiKeyEntity>> {
    const data = await this.keys.list();
    return { data, total: data.length, page: 1, per_page: data.length };
  }

  /**
   * Creates a key; `api_key` in the response is the secret (the name POST /agents uses), shown this once and stored
   * only as a hash. `key` carries the same value for clients written against the first version of this route.
   */
  @Post('keys')
  @ApiBearerAuth()
  @RequireAccess('admin')
  @Returns(Schemas.CreatedApiKey, 201)
  async create(@CurrentPrincipal() actor: Principal, @Body() body: CreateApiKeyDto): Promise<ApiKeyEntity & { api_key: string; key: string }> {
    const { key, secret } = await this.keys.create(actor, { name: body.name, role: body.role as ApiKeyRole, expires_at: body.expires_at });
    return { ...key, api_key: secret, key: secret };
  }

  @Delete('keys/:id')
  @ApiBearerAuth()
  @RequireAccess('admin')
  @Returns(Schemas.ApiKey)
  async revoke(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<ApiKeyEntity> {
    if (actor.key_id === id) throw ApiError.conflict('SELF_REVOKE', 'a key cannot revoke itself');
    return this.keys.revoke(actor, id);
  }
}

/** certctl's fields (`user`, `admin`, `roles`, `permissions`) and ours (`actor`, `actor_type`, `role`, `access`). */
export interface CallerView {
  status: 'authenticated';
  user: string;
  admin: boolean;
  roles: string[];
  permissions: string[];
  actor: string;
  actor_type: string;
  role: string;
  access: string[];
  agent_id?: string;
}

function callerView(p: Principal): CallerView {
  return {
    status: 'authenticated', user: p.actor, admin: p.role === 'admin', roles: [certctlRoleOf(p.role)], permissions: permissionsOf(p.role),
    actor: p.actor, actor_type: p.actor_type, role: p.role, access: [...ROLE_ACCESS[p.role]], ...(p.agent_id ? { agent_id: p.agent_id } : {}),
  };
}
