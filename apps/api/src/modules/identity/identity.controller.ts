import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiQuery, ApiTags } from '@nestjs/swagger';
import { holdsGlobally, type Principal } from '../../common/auth/principal';
import { SessionsService, SessionView } from '../../common/auth/sessions.service';
import { ApiError } from '../../common/http/api-error';
import type { Page } from '../../common/http/pagination';
import { CurrentPrincipal } from '../../common/http/request';
import { bool, component, dateTime, int, objectOf, pageOf, Returns, str, strings } from '../../common/openapi/response-schemas';
import { CreateGroupRoleMappingDto, CreateOidcProviderDto, UpdateOidcProviderDto } from './dto/identity.dto';
import { OidcProvidersService, OidcProviderView } from './oidc-providers.service';
import { OidcSignInService } from './oidc-sign-in.service';
import { AUTHENTICATED, RequirePermission } from '../../common/auth/permission.decorator';

const OidcProviderSchema = component('OidcProvider', objectOf({
  id: str, name: str, issuer_url: str, client_id: str, has_client_secret: bool, redirect_uri: str, post_logout_redirect_uri: str, scopes: strings,
  groups_claim_path: str, fetch_userinfo: bool, allowed_email_domains: strings, iat_window_seconds: int, enabled: bool, created_at: dateTime, updated_at: dateTime,
}, ['id', 'name', 'issuer_url', 'client_id', 'has_client_secret', 'redirect_uri', 'scopes', 'groups_claim_path', 'fetch_userinfo', 'allowed_email_domains',
  'iat_window_seconds', 'enabled', 'created_at', 'updated_at']));
const GroupRoleMappingSchema = component('GroupRoleMapping', objectOf({
  id: str, provider_id: str, group_name: str, role: str, role_id: str, scope_type: { enum: ['global', 'team', 'issuer', 'profile'] }, scope_id: str,
  expires_at: dateTime, created_at: dateTime,
}, ['id', 'provider_id', 'group_name', 'role', 'role_id', 'scope_type', 'created_at']));
const UserSchema = component('User', objectOf({
  id: str, oidc_provider_id: str, oidc_subject: str, email: str, display_name: str, groups: strings, last_login_at: dateTime, deactivated_at: dateTime, created_at: dateTime,
}, ['id', 'oidc_provider_id', 'oidc_subject', 'groups', 'created_at']));
const SessionSchema = component('Session', objectOf({
  id: str, user_id: str, email: str, ip: str, user_agent: str, created_at: dateTime, last_seen_at: dateTime, idle_expires_at: dateTime,
  absolute_expires_at: dateTime, revoked_at: dateTime, revoked_reason: str,
}, ['id', 'user_id', 'created_at', 'last_seen_at', 'idle_expires_at', 'absolute_expires_at']));

function page<T>(data: T[]): Page<T> {
  return { data, total: data.length, page: 1, per_page: data.length };
}

/** OpenID providers, group → role mappings, users and sessions: an admin's (a user lists and ends their own sessions). */
@ApiTags('auth')
@ApiBearerAuth()
@Controller('auth')
export class IdentityController {
  constructor(
    private readonly providers: OidcProvidersService,
    private readonly signIn: OidcSignInService,
    private readonly sessions: SessionsService,
  ) {}

  @Get('oidc/providers')
  @Returns(pageOf(OidcProviderSchema))
  @RequirePermission('auth.oidc.list')
  async listProviders(): Promise<Page<OidcProviderView>> {
    return page(await this.providers.list());
  }

  /** Discovery runs at create, through the outbound policy: an unreachable or refused issuer is a 400 on issuer_url. */
  @Post('oidc/providers')
  @Returns(OidcProviderSchema, 201)
  @RequirePermission('auth.oidc.create')
  createProvider(@CurrentPrincipal() actor: Principal, @Body() body: CreateOidcProviderDto): Promise<OidcProviderView> {
    return this.providers.create(actor, body);
  }

  @Get('oidc/providers/:id')
  @Returns(OidcProviderSchema)
  @RequirePermission('auth.oidc.list')
  getProvider(@Param('id') id: string): Promise<OidcProviderView> {
    return this.providers.get(id);
  }

  @Put('oidc/providers/:id')
  @Returns(OidcProviderSchema)
  @RequirePermission('auth.oidc.edit')
  updateProvider(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: UpdateOidcProviderDto): Promise<OidcProviderView> {
    return this.providers.update(actor, id, body);
  }

  /** Deleting a provider ends its users' sessions. */
  @Delete('oidc/providers/:id')
  @HttpCode(204)
  @RequirePermission('auth.oidc.delete')
  async deleteProvider(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<void> {
    await this.providers.remove(actor, id);
  }

  @Get('oidc/group-mappings')
  @ApiQuery({ name: 'provider_id', required: false })
  @Returns(pageOf(GroupRoleMappingSchema))
  @RequirePermission('auth.oidc.list')
  async listMappings(@Query('provider_id') providerId?: string): Promise<Page<unknown>> {
    return page(await this.providers.listMappings(typeof providerId === 'string' ? providerId : undefined));
  }

  @Post('oidc/group-mappings')
  @Returns(GroupRoleMappingSchema, 201)
  @RequirePermission('auth.role.assign')
  createMapping(@CurrentPrincipal() actor: Principal, @Body() body: CreateGroupRoleMappingDto): Promise<unknown> {
    return this.providers.createMapping(actor, body);
  }

  /** The sessions that held their role only through this mapping end on their next request. */
  @Delete('oidc/group-mappings/:id')
  @HttpCode(204)
  @RequirePermission('auth.role.revoke')
  async deleteMapping(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<void> {
    await this.providers.removeMapping(actor, id);
  }

  @Get('users')
  @Returns(pageOf(UserSchema))
  @RequirePermission('auth.user.read')
  async listUsers(): Promise<Page<unknown>> {
    return page(await this.signIn.listUsers());
  }

  /** Deactivates the user (certctl's DELETE): their sessions end at once; the row stays for the audit trail. */
  @Delete('users/:id')
  @HttpCode(204)
  @RequirePermission('auth.user.deactivate')
  async deactivateUser(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<void> {
    await this.signIn.deactivateUser(actor, id);
  }

  @Post('users/:id/reactivate')
  @HttpCode(204)
  @RequirePermission('auth.user.deactivate')
  async reactivateUser(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<void> {
    await this.signIn.reactivateUser(actor, id);
  }

  /** A signed-in user's own live sessions; with auth.session.list.all everyone's (or one user's with ?user_id=). */
  @Get('sessions')
  @ApiQuery({ name: 'user_id', required: false })
  @Returns(pageOf(SessionSchema))
  @RequirePermission(AUTHENTICATED)
  async listSessions(@CurrentPrincipal() p: Principal, @Query('user_id') userId?: string): Promise<Page<SessionView>> {
    // A signed-in user sees its own sessions; a key (which has none) an empty list, unless it may list everyone's.
    if (!holdsGlobally(p, 'auth.session.list.all')) return page(p.user_id ? await this.sessions.list({ userId: p.user_id }) : []);
    return page(await this.sessions.list({ userId: typeof userId === 'string' ? userId : undefined }));
  }

  /** Ends a session: one's own, or any for an admin. */
  @Delete('sessions/:id')
  @HttpCode(204)
  @RequirePermission(AUTHENTICATED)
  async revokeSession(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<void> {
    const session = await this.sessions.get(id);
    if (!session || (!holdsGlobally(p, 'auth.session.revoke') && session.user_id !== p.user_id)) throw ApiError.notFound('session', id);
    await this.sessions.revokeWhere('id = $1', [id], `revoked by ${p.actor}`);
  }
}

