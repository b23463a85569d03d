import { CrudController } from '../../common/crud.controller';
import { SearchPageQuery } from '../../common/http/list-query';
import { CreateRenewalPolicyDto, UpdateRenewalPolicyDto } from './dto/renewal-policy.dto';
import { RenewalPoliciesService } from './renewal-policies.service';
import { Schemas } from '../../common/openapi/resources';

export class RenewalPoliciesController extends CrudController({
  path: 'renewal-policies', tag: 'renewal-policies', service: RenewalPoliciesService,
  createDto: CreateRenewalPolicyDto, updateDto: UpdateRenewalPolicyDto, queryDto: SearchPageQuery, resource: Schemas.RenewalPolicy,
  permissions: { read: 'policy.read', edit: 'policy.edit', delete: 'policy.delete' },
}) {}
