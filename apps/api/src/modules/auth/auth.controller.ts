import { Body, Controller, Delete, Get, Inject, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import type { ApiKeyRole } from '@certctl/contracts';
import type { ApiKeyEntity } from '@certctl/db';
import { Public, RequireAccess } from '../../common/auth/access.decorator';
import { ApiKeysService } from '../../common/auth/api-keys.service';
import { Principal, ROLE_ACCESS } from '../../common/auth/principal';
import { ApiError } from '../../common/http/api-error';
import { CurrentPrincipal } from '../../common/http/request';
import { CreateApiKeyDto } from './dto/api-key.dto';

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(private readonly keys: ApiKeysService, @Inject(APP_CONFIG) private readonly config: AppConfig) {}

  /** How to authenticate (for login pages and clients); no key needed. */
  @Get('info')
  @Public()
  info(): { auth_type: string; required: boolean } {
    return { auth_type: this.config.auth.type, required: this.config.auth.type !== 'none' };
  }

  /** Validates the caller's key and says what it may do. */
  @Get('check')
  @ApiBearerAuth()
  @RequireAccess('authenticated')
  check(@CurrentPrincipal() p: Principal): { status: string; actor: string; actor_type: string; role: string; agent_id: string | null; access: string[] } {
    return { status: 'authenticated', actor: p.actor, actor_type: p.actor_type, role: p.role, agent_id: p.agent_id ?? null, access: [...ROLE_ACCESS[p.role]] };
  }

  @Get('keys')
  @ApiBearerAuth()
  @RequireAccess('admin')
  async list(): Promise<{ data: ApiKeyEntity[]; total: number }> {
    const data = await this.keys.list();
    return { data, total: data.length };
  }

  /** Creates a key; `key` in the response is the secret, shown this once and stored only as a hash. */
  @Post('keys')
  @ApiBearerAuth()
  @RequireAccess('admin')
  async create(@CurrentPrincipal() actor: Principal, @Body() body: CreateApiKeyDto): Promise<ApiKeyEntity & { key: string }> {
    const { key, secret } = await this.keys.create(actor, { name: body.name, role: body.role as ApiKeyRole, expires_at: body.expires_at });
    return { ...key, key: secret };
  }

  @Delete('keys/:id')
  @ApiBearerAuth()
  @RequireAccess('admin')
  async revoke(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<ApiKeyEntity> {
    if (actor.key_id === id) throw ApiError.conflict('SELF_REVOKE', 'a key cannot revoke itself');
    return this.keys.revoke(actor, id);
  }
}
