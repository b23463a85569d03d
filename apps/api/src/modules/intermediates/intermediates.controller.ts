import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../../common/auth/principal';
import { CurrentPrincipal } from '../../common/http/request';
import { Returns, component, dateTime, int, objectOf, str } from '../../common/openapi/response-schemas';
import { CreateIntermediateDto } from './dto/intermediate.dto';
import { IntermediateCa, IntermediatesService } from './intermediates.service';
import { RequirePermission } from '../../common/auth/permission.decorator';

/** An intermediate CA as the API sends it: unset fields (parent, path length, OCSP URL) are omitted. */
const Intermediate = component('IntermediateCa', objectOf({
  id: str, owning_issuer_id: str, parent_ca_id: str, name: str, subject: str, state: str, cert_pem: str, key_driver_id: str,
  not_before: dateTime, not_after: dateTime, path_len_constraint: int, name_constraints: { type: 'object' }, ocsp_responder_url: str,
  created_at: dateTime, updated_at: dateTime,
}, ['id', 'owning_issuer_id', 'name', 'subject', 'state', 'cert_pem', 'key_driver_id', 'not_before', 'not_after', 'name_constraints', 'created_at', 'updated_at']));

@ApiTags('intermediates')
@ApiBearerAuth()
@Controller()
export class IntermediatesController {
  constructor(private readonly intermediates: IntermediatesService) {}

  /** A CA under the issuer's root (or under `parent_ca_id`), signed now; 400 naming the field a tree rule refuses. */
  @Post('issuers/:id/intermediates')
  @Returns(Intermediate, 201)
  @RequirePermission('ca.hierarchy.manage', { scope: { type: 'issuer', param: 'id' } })
  create(@CurrentPrincipal() actor: Principal, @Param('id') issuerId: string, @Body() body: CreateIntermediateDto): Promise<IntermediateCa> {
    return this.intermediates.create(actor, issuerId, body);
  }

  @Get('issuers/:id/intermediates')
  @Returns(objectOf({ data: { type: 'array', items: Intermediate }, total: int }))
  @RequirePermission('issuer.read', { scope: { type: 'issuer', param: 'id' } })
  list(@Param('id') issuerId: string): Promise<{ data: IntermediateCa[]; total: number }> {
    return this.intermediates.list(issuerId);
  }

  @Get('intermediates/:id')
  @Returns(Intermediate)
  @RequirePermission('issuer.read')
  get(@Param('id') id: string): Promise<IntermediateCa> {
    return this.intermediates.get(id);
  }

  @Post('intermediates/:id/retire')
  @HttpCode(200)
  @Returns(Intermediate)
  @RequirePermission('ca.hierarchy.manage')
  retire(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<IntermediateCa> {
    return this.intermediates.retire(actor, id);
  }
}
