import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../../common/auth/principal';
import type { Page } from '../../common/http/pagination';
import { CurrentPrincipal } from '../../common/http/request';
import { component, dateTime, int, objectOf, pageOf, Returns, str } from '../../common/openapi/response-schemas';
import { BreakglassCredentialView, BreakglassService } from './breakglass.service';
import { CreateBreakglassCredentialDto } from './dto/identity.dto';
import { RequirePermission } from '../../common/auth/permission.decorator';

const BreakglassCredentialSchema = component('BreakglassCredential', objectOf({
  id: str, user_id: str, username: str, failed_attempts: int, locked_until: dateTime, last_used_at: dateTime, created_by: str, created_at: dateTime,
}, ['id', 'user_id', 'username', 'failed_attempts', 'created_by', 'created_at']));

/** Break-glass credentials (admin): never a password or hash in an answer. */
@ApiTags('auth')
@ApiBearerAuth()
@Controller('auth/breakglass/credentials')
export class BreakglassController {
  constructor(private readonly breakglass: BreakglassService) {}

  @Get()
  @Returns(pageOf(BreakglassCredentialSchema))
  @RequirePermission('auth.breakglass.admin')
  async list(): Promise<Page<BreakglassCredentialView>> {
    const data = await this.breakglass.list();
    return { data, total: data.length, page: 1, per_page: data.length };
  }

  @Post()
  @Returns(BreakglassCredentialSchema, 201)
  @RequirePermission('auth.breakglass.admin')
  create(@CurrentPrincipal() actor: Principal, @Body() body: CreateBreakglassCredentialDto): Promise<BreakglassCredentialView> {
    return this.breakglass.create(actor, body);
  }

  @Post(':id/unlock')
  @HttpCode(204)
  @RequirePermission('auth.breakglass.admin')
  async unlock(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<void> {
    await this.breakglass.unlock(actor, id);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission('auth.breakglass.admin')
  async remove(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<void> {
    await this.breakglass.remove(actor, id);
  }
}
