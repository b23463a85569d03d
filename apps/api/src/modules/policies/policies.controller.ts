import { Get, Param, Query } from '@nestjs/common';
import { Returns, pageOf } from '../../common/openapi/response-schemas';
import type { PolicyViolationEntity } from '@certctl/db';
import type { Principal } from '../../common/auth/principal';
import { CrudController } from '../../common/crud.controller';
import { CurrentPrincipal } from '../../common/http/request';
import { Page, PageQuery } from '../../common/http/pagination';
import { CreatePolicyDto, PolicyQuery, UpdatePolicyDto } from './dto/policy.dto';
import { PoliciesService } from './policies.service';
import { Schemas } from '../../common/openapi/resources';
import { RequirePermission } from '../../common/auth/permission.decorator';

export class PoliciesController extends CrudController({
  path: 'policies', tag: 'policies', service: PoliciesService,
  createDto: CreatePolicyDto, updateDto: UpdatePolicyDto, queryDto: PolicyQuery, resource: Schemas.PolicyRule,
  permissions: { read: 'policy.read', edit: 'policy.edit', delete: 'policy.delete' },
}) {
  declare readonly service: PoliciesService;

  /** Violations this rule found, newest first. */
  @Get(':id/violations')
  @Returns(pageOf(Schemas.PolicyViolation))
  @RequirePermission('policy.read', { scope: 'rows' })
  violations(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Query() query: PageQuery): Promise<Page<PolicyViolationEntity>> {
    return this.service.violations(actor, id, query);
  }
}
