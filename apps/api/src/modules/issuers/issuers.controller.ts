import { Get, HttpCode, Param, Post } from '@nestjs/common';
import { Returns, dateTime, int, objectOf, str } from '../../common/openapi/response-schemas';
import type { Principal } from '../../common/auth/principal';
import { CrudController } from '../../common/crud.controller';
import { CurrentPrincipal } from '../../common/http/request';
import { CreateIssuerDto, IssuerQuery, UpdateIssuerDto } from './dto/issuer.dto';
import { IssuerBudgetView, IssuersService, IssuerTestResult } from './issuers.service';
import { Schemas } from '../../common/openapi/resources';
import { RequirePermission } from '../../common/auth/permission.decorator';

export class IssuersController extends CrudController({
  path: 'issuers', tag: 'issuers', service: IssuersService,
  createDto: CreateIssuerDto, updateDto: UpdateIssuerDto, queryDto: IssuerQuery, resource: Schemas.Issuer,
  permissions: { read: 'issuer.read', edit: 'issuer.edit', delete: 'issuer.delete' }, scope: 'issuer', referenceList: true,
}) {
  declare readonly service: IssuersService;

  /** Connectivity and material check of the issuer; updates test_status. */
  @Post(':id/test')
  @HttpCode(200)
  @Returns(objectOf({ status: { enum: ['success', 'failed'] }, message: str, tested_at: dateTime }))
  @RequirePermission('issuer.edit', { scope: { type: 'issuer', param: 'id' } })
  test(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<IssuerTestResult> {
    return this.service.test(actor, id);
  }

  /** The rate limits the orchestrators hold this issuer to (declared or its CA's defaults) and what is left of each now. */
  @Get(':id/budget')
  @Returns(objectOf({
    issuer_id: str,
    source: { enum: ['declared', 'ca_default', 'none'] },
    limits: { type: 'array', items: objectOf({ name: str, limit: int, window_seconds: int, per: { enum: ['account', 'registered_domain', 'exact_names'] }, remaining: int }) },
    measured_at: dateTime,
  }))
  @RequirePermission('issuer.read', { scope: { type: 'issuer', param: 'id' } })
  budget(@Param('id') id: string): Promise<IssuerBudgetView> {
    return this.service.budget(id);
  }
}
