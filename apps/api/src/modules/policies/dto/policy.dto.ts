import { OmitType, PartialType } from '@nestjs/swagger';
import { POLICY_RULE_TYPES, POLICY_SEVERITIES } from '@certctl/contracts';
import { BoolField, EnumField, IdField, NameField, ObjectField } from '../../../common/http/dto-fields';
import { SearchPageQuery } from '../../../common/http/list-query';

export class CreatePolicyDto {
  @IdField({ optional: true }) id?: string;
  @NameField() name: string;
  @EnumField(POLICY_RULE_TYPES) type: string;
  @ObjectField({
    description: 'AllowedIssuers {issuer_ids}, AllowedDomains {domains}, RequiredMetadata {keys}, AllowedEnvironments ' +
      '{environments}, RenewalLeadTime {min_days}, CertificateLifetime {max_days}',
  })
  config: Record<string, unknown>;
  @BoolField({ optional: true }) enabled?: boolean;
  @EnumField(POLICY_SEVERITIES, { optional: true }) severity?: string;
}

export class UpdatePolicyDto extends PartialType(OmitType(CreatePolicyDto, ['id'] as const)) {}

export class PolicyQuery extends SearchPageQuery {
  @EnumField(POLICY_RULE_TYPES, { optional: true }) type?: string;
  @EnumField(POLICY_SEVERITIES, { optional: true }) severity?: string;
}
