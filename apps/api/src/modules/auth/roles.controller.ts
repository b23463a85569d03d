import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiQuery, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { ApiKeysService } from '../../common/auth/api-keys.service';
import { RequirePermission } from '../../common/auth/permission.decorator';
import type { Principal } from '../../common/auth/principal';
import { GrantActorType, GrantView, RbacService, RoleView } from '../../common/auth/rbac.service';
import { ApiError } from '../../common/http/api-error';
import { CurrentPrincipal } from '../../common/http/request';
import { bool, component, dateTime, objectOf, Returns, str, strings } from '../../common/openapi/response-schemas';
import { AddRolePermissionDto, CreateRoleDto, GrantRoleDto, UpdateRoleDto } from './dto/rbac.dto';

const RoleSchema = component('Role', objectOf({ id: str, name: str, description: str, built_in: bool, permissions: strings, created_at: dateTime, updated_at: dateTime }));
const GrantSchema = component('RoleGrant', objectOf({
  id: str, actor_type: str, actor_id: str, role_id: str, role_name: str, scope_type: { enum: ['global', 'team', 'issuer', 'profile'] }, scope_id: str,
  expires_at: dateTime, granted_by: str, created_at: dateTime,
}, ['id', 'actor_type', 'actor_id', 'role_id', 'role_name', 'scope_type', 'granted_by', 'created_at']));
const PermissionSchema = component('Permission', objectOf({ name: str, description: str }));

/**
 * certctl's role management: the permission catalogue, custom roles (the seven built-ins are read-only: 409),
 * and the grants of roles to API keys and users, globally or within one team, issuer or profile, optionally
 * expiring. Unknown roles, permissions and scope ids are 400 naming the field; unknown keys/users 404; a grant
 * that already exists 409. Every change is audited and counts from the next request.
 */
@ApiTags('auth')
@ApiBearerAuth()
@Controller('auth')
export class RolesController {
  constructor(
    private readonly rbac: RbacService,
    private readonly keys: ApiKeysService,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  @Get('permissions')
  @RequirePermission('auth.role.list')
  @Returns(objectOf({ permissions: { type: 'array', items: PermissionSchema } }))
  async permissions(): Promise<{ permissions: Array<{ name: string; description: string }> }> {
    return { permissions: await this.rbac.listPermissions() };
  }

  @Get('roles')
  @RequirePermission('auth.role.list')
  @Returns(objectOf({ roles: { type: 'array', items: RoleSchema } }))
  async listRoles(): Promise<{ roles: RoleView[] }> {
    return { roles: await this.rbac.listRoles() };
  }

  @Post('roles')
  @RequirePermission('auth.role.create')
  @Returns(RoleSchema, 201)
  createRole(@CurrentPrincipal() actor: Principal, @Body() body: CreateRoleDto): Promise<RoleView> {
    return this.rbac.createRole(actor, body);
  }

  @Get('roles/:id')
  @RequirePermission('auth.role.list')
  @Returns(RoleSchema)
  getRole(@Param('id') id: string): Promise<RoleView> {
    return this.rbac.getRole(id);
  }

  @Put('roles/:id')
  @RequirePermission('auth.role.edit')
  @Returns(RoleSchema)
  updateRole(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: UpdateRoleDto): Promise<RoleView> {
    return this.rbac.updateRole(actor, id, body);
  }

  /** Deleting a custom role takes it back from every key, user and group that held it. */
  @Delete('roles/:id')
  @RequirePermission('auth.role.delete')
  @HttpCode(204)
  async deleteRole(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<void> {
    await this.rbac.deleteRole(actor, id);
  }

  @Post('roles/:id/permissions')
  @RequirePermission('auth.role.edit')
  @Returns(RoleSchema, 201)
  addPermission(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: AddRolePermissionDto): Promise<RoleView> {
    return this.rbac.addPermission(actor, id, body.permission);
  }

  @Delete('roles/:id/permissions/:permission')
  @RequirePermission('auth.role.edit')
  @Returns(RoleSchema)
  removePermission(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Param('permission') permission: string): Promise<RoleView> {
    return this.rbac.removePermission(actor, id, permission);
  }

  @Get('keys/:id/roles')
  @RequirePermission('auth.role.list')
  @Returns(objectOf({ grants: { type: 'array', items: GrantSchema } }))
  async keyGrants(@Param('id') id: string): Promise<{ grants: GrantView[] }> {
    await this.keys.get(id);
    return { grants: await this.rbac.listGrants('APIKey', id) };
  }

  @Post('keys/:id/roles')
  @RequirePermission('auth.role.assign')
  @Returns(GrantSchema, 201)
  async grantToKey(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: GrantRoleDto): Promise<GrantView> {
    const key = await this.keys.get(id);
    if (key.revoked_at) throw ApiError.conflict('ALREADY_REVOKED', `api key ${id} is revoked`);
    return this.rbac.grant(actor, 'APIKey', id, body);
  }

  /** Takes the role back in every scope, or only in the one named by ?scope_type=&scope_id=. */
  @Delete('keys/:id/roles/:role_id')
  @RequirePermission('auth.role.revoke')
  @ApiQuery({ name: 'scope_type', required: false })
  @ApiQuery({ name: 'scope_id', required: false })
  @HttpCode(204)
  async revokeFromKey(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Param('role_id') roleId: string,
    @Query('scope_type') scopeType?: string, @Query('scope_id') scopeId?: string): Promise<void> {
    await this.keys.get(id);
    await this.rbac.revoke(actor, 'APIKey', id, roleId, scopeOf(scopeType, scopeId));
  }

  @Get('users/:id/roles')
  @RequirePermission('auth.role.list')
  @Returns(objectOf({ grants: { type: 'array', items: GrantSchema } }))
  async userGrants(@Param('id') id: string): Promise<{ grants: GrantView[] }> {
    await this.userExists(id);
    return { grants: await this.rbac.listGrants('User', id) };
  }

  @Post('users/:id/roles')
  @RequirePermission('auth.role.assign')
  @Returns(GrantSchema, 201)
  async grantToUser(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: GrantRoleDto): Promise<GrantView> {
    await this.userExists(id);
    return this.rbac.grant(actor, 'User', id, body);
  }

  @Delete('users/:id/roles/:role_id')
  @RequirePermission('auth.role.revoke')
  @ApiQuery({ name: 'scope_type', required: false })
  @ApiQuery({ name: 'scope_id', required: false })
  @HttpCode(204)
  async revokeFromUser(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Param('role_id') roleId: string,
    @Query('scope_type') scopeType?: string, @Query('scope_id') scopeId?: string): Promise<void> {
    await this.userExists(id);
    await this.rbac.revoke(actor, 'User' satisfies GrantActorType, id, roleId, scopeOf(scopeType, scopeId));
  }

  private async userExists(id: string): Promise<void> {
    const rows: unknown[] = await this.dataSource.query('SELECT 1 FROM users WHERE id = $1', [id]);
    if (!rows.length) throw ApiError.notFound('user', id);
  }
}

function scopeOf(scopeType: unknown, scopeId: unknown): { scope_type?: string; scope_id?: string } | undefined {
  const type = typeof scopeType === 'string' && scopeType ? scopeType : undefined;
  const id = typeof scopeId === 'string' && scopeId ? scopeId : undefined;
  return type || id ? { scope_type: type, scope_id: id } : undefined;
}
