import { OmitType, PartialType } from '@nestjs/swagger';
import { BoolField, IdField, IntField, IntListField, NameField, ObjectField } from '../../../common/http/dto-fields';

export class CreateRenewalPolicyDto {
  @IdField({ optional: true }) id?: string;
  @NameField() name: string;
  @IntField(1, 3650, { optional: true, description: 'Renew this many days before expiry' }) renewal_window_days?: number;
  @BoolField({ optional: true }) auto_renew?: boolean;
  @IntField(0, 100, { optional: true }) max_retries?: number;
  @IntField(60, 86400, { optional: true }) retry_interval_seconds?: number;
  @IntListField(0, 3650, { optional: true, description: 'Days before expiry at which to alert' }) alert_thresholds_days?: number[];
  @IdField({ optional: true }) certificate_profile_id?: string | null;
  @IdField({ optional: true, description: 'Scope the policy to the agents of this agent group' }) agent_group_id?: string | null;
  @ObjectField({ optional: true, description: 'Channels per severity tier, e.g. {"critical":["PagerDuty"]}' })
  alert_channels?: Record<string, string[]>;
  @ObjectField({ optional: true, description: 'Severity tier per threshold in days, e.g. {"7":"critical"}' })
  alert_severity_map?: Record<string, string>;
}

export class UpdateRenewalPolicyDto extends PartialType(OmitType(CreateRenewalPolicyDto, ['id'] as const)) {}
