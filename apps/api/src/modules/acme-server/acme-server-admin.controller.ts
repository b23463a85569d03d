import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../../common/auth/principal';
import type { Page } from '../../common/http/pagination';
import { CurrentPrincipal } from '../../common/http/request';
import { Returns, bool, component, dateTime, objectOf, pageOf, str, strings } from '../../common/openapi/response-schemas';

const arrayOf = (items: object) => ({ type: 'array' as const, items });
import { AcmeAccountQuery, AcmeOrderQuery, CreateEabKeyDto, EabKeyQuery } from './dto/acme-server.dto';
import { AcmeServerAdminService, EabKeyView } from './acme-server-admin.service';
import { RequirePermission } from '../../common/auth/permission.decorator';

const EAB_FIELDS = {
  id: str, profile_id: str, team_id: str, owner_id: str, expires_at: dateTime, revoked_at: dateTime, account_id: str, created_by: str, created_at: dateTime,
  status: { enum: ['active', 'bound', 'expired', 'revoked'] },
};
const EAB_REQUIRED = ['id', 'profile_id', 'owner_id', 'created_by', 'created_at', 'status'];
const EabKey = component('AcmeEabKey', objectOf(EAB_FIELDS, EAB_REQUIRED));
const CreatedEabKey = component('CreatedAcmeEabKey', objectOf({ ...EAB_FIELDS, hmac_key: str }, [...EAB_REQUIRED, 'hmac_key']));
const AcmeAccount = component('AcmeAccount', objectOf({
  id: str, profile_id: str, jwk_thumbprint: str, contact: strings, status: { enum: ['valid', 'deactivated', 'revoked'] }, eab_key_id: str, team_id: str, owner_id: str,
  created_at: dateTime, updated_at: dateTime,
}, ['id', 'profile_id', 'jwk_thumbprint', 'contact', 'status', 'created_at', 'updated_at']));
const AcmeIdentifier = objectOf({ type: { enum: ['dns', 'ip'] }, value: str }, ['type', 'value']);
const AcmeOrder = component('AcmeOrder', objectOf({
  id: str, account_id: str, profile_id: str, status: { enum: ['pending', 'ready', 'processing', 'valid', 'invalid'] }, identifiers: arrayOf(AcmeIdentifier),
  expires_at: dateTime, certificate_id: str, job_id: str, certificate_version_id: str, replaces: str, error: { type: 'object' },
  authorizations: arrayOf(objectOf({
    id: str, identifier: AcmeIdentifier, status: str, wildcard: bool,
    challenges: arrayOf(objectOf({ id: str, type: { enum: ['http-01', 'dns-01', 'tls-alpn-01'] }, status: str, error: { type: 'object' }, validated_at: dateTime }, ['id', 'type', 'status'])),
  }, ['id', 'identifier', 'status', 'wildcard', 'challenges'])),
  created_at: dateTime, updated_at: dateTime,
}, ['id', 'account_id', 'profile_id', 'status', 'identifiers', 'expires_at', 'created_at', 'updated_at']));

/** The ACME server's administration: EAB keys, and the accounts and orders ACME clients made (for the console). */
@ApiTags('acme')
@ApiBearerAuth()
@Controller('acme')
export class AcmeServerAdminController {
  constructor(private readonly admin: AcmeServerAdminService) {}

  /** A key that registers one ACME account on the profile, bound to the owner and team; `hmac_key` is shown this once. */
  @Post('eab-keys')
  @Returns(CreatedEabKey, 201)
  @RequirePermission('acme.eab.manage')
  createEabKey(@CurrentPrincipal() actor: Principal, @Body() body: CreateEabKeyDto): Promise<EabKeyView & { hmac_key: string }> {
    return this.admin.createEabKey(actor, body);
  }

  @Get('eab-keys')
  @Returns(pageOf(EabKey))
  @RequirePermission('acme.read')
  listEabKeys(@Query() q: EabKeyQuery): Promise<Page<EabKeyView>> {
    return this.admin.listEabKeys(q);
  }

  /** The key no longer registers an account (an account it already bound stays). */
  @Delete('eab-keys/:id')
  @Returns(EabKey)
  @RequirePermission('acme.eab.manage')
  deleteEabKey(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<EabKeyView> {
    return this.admin.revokeEabKey(actor, id);
  }

  @Post('eab-keys/:id/revoke')
  @HttpCode(200)
  @Returns(EabKey)
  @RequirePermission('acme.eab.manage')
  revokeEabKey(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<EabKeyView> {
    return this.admin.revokeEabKey(actor, id);
  }

  @Get('accounts')
  @Returns(pageOf(AcmeAccount))
  @RequirePermission('acme.read')
  listAccounts(@Query() q: AcmeAccountQuery): Promise<Page<Record<string, unknown>>> {
    return this.admin.listAccounts(q);
  }

  @Get('orders')
  @Returns(pageOf(AcmeOrder))
  @RequirePermission('acme.read')
  listOrders(@Query() q: AcmeOrderQuery): Promise<Page<Record<string, unknown>>> {
    return this.admin.listOrders(q);
  }
}
