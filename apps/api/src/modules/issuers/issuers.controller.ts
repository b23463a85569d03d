import { HttpCode, Param, Post } from '@nestjs/common';
import { Returns, dateTime, objectOf, str } from '../../common/openapi/response-schemas';
import type { Principal } from '../../common/auth/principal';
import { CrudController } from '../../common/crud.controller';
import { CurrentPrincipal } from '../../common/http/request';
import { CreateIssuerDto, IssuerQuery, UpdateIssuerDto } from './dto/issuer.dto';
import { IssuersService, IssuerTestResult } from './issuers.service';
import { Schemas } from '../../common/openapi/resources';

export class IssuersController extends CrudController({
  path: 'issuers', tag: 'issuers', service: IssuersService,
  createDto: CreateIssuerDto, updateDto: UpdateIssuerDto, queryDto: IssuerQuery, resource: Schemas.Issuer,
}) {
  declare readonly service: IssuersService;

  /** Connectivity and material check of the issuer; updates test_status. */
  @Post(':id/test')
  @HttpCode(200)
  @Returns(objectOf({ status: { enum: ['success', 'failed'] }, message: str, tested_at: dateTime }))
  test(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<IssuerTestResult> {
    return this.service.test(actor, id);
  }
}
