import { Get, Param, Query } from '@nestjs/common';
import type { PolicyViolationEntity } from '@certctl/db';
import { CrudController } from '../../common/crud.controller';
import { Page, PageQuery } from '../../common/http/pagination';
import { CreatePolicyDto, PolicyQuery, UpdatePolicyDto } from './dto/policy.dto';
import { PoliciesService } from './policies.service';

export class PoliciesController extends CrudController({
  path: 'policies', tag: 'policies', service: PoliciesService,
  createDto: CreatePolicyDto, updateDto: UpdatePolicyDto, queryDto: PolicyQuery,
}) {
  declare readonly service: PoliciesService;

  /** Violations this rule found, newest first. */
  @Get(':id/violations')
  violations(@Param('id') id: string, @Query() query: PageQuery): Promise<Page<PolicyViolationEntity>> {
    return this.service.violations(id, query);
  }
}
