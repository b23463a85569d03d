import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { NOTIFICATION_CHANNELS } from '@certctl/contracts';
import { RenewalPolicyEntity } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { CrudResource } from '../../common/crud-resource';
import { ApiError } from '../../common/http/api-error';
import { CreateRenewalPolicyDto, UpdateRenewalPolicyDto } from './dto/renewal-policy.dto';

@Injectable()
export class RenewalPoliciesService {
  readonly crud: CrudResource<RenewalPolicyEntity>;

  constructor(@InjectDataSource() dataSource: DataSource, audit: AuditService) {
    this.crud = new CrudResource(dataSource, audit, {
      entity: RenewalPolicyEntity, table: 'renewal_policies', resource: 'renewal policy', idKind: 'renewalPolicy',
      category: 'config',
      actions: { created: 'renewal_policy_created', updated: 'renewal_policy_updated', deleted: 'renewal_policy_deleted' },
      sortable: ['name', 'renewal_window_days', 'updated_at'], searchable: ['name'],
    });
  }

  create(actor: Principal, body: CreateRenewalPolicyDto): Promise<RenewalPolicyEntity> {
    checkAlerting(body);
    return this.crud.create(actor, body);
  }

  update(actor: Principal, id: string, body: UpdateRenewalPolicyDto): Promise<RenewalPolicyEntity> {
    checkAlerting(body);
    return this.crud.update(actor, id, body);
  }
}

/** alert_channels maps tiers to known channels; alert_severity_map maps day thresholds to tiers. */
function checkAlerting(body: UpdateRenewalPolicyDto): void {
  for (const [tier, channels] of Object.entries(body.alert_channels ?? {})) {
    if (!Array.isArray(channels) || channels.some((c) => !(NOTIFICATION_CHANNELS as readonly string[]).includes(c))) {
      throw ApiError.invalidField(`alert_channels.${tier}`, `must be a list of ${NOTIFICATION_CHANNELS.join(', ')}`);
    }
  }
  for (const [days, tier] of Object.entries(body.alert_severity_map ?? {})) {
    if (!/^\d{1,4}$/.test(days) || typeof tier !== 'string' || !tier) {
      throw ApiError.invalidField(`alert_severity_map.${days}`, 'keys must be day counts and values tier names');
    }
  }
}
