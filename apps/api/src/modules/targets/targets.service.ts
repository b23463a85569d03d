import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { DeploymentTargetEntity } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import { CrudResource } from '../../common/crud-resource';

@Injectable()
export class TargetsService {
  readonly crud: CrudResource<DeploymentTargetEntity>;

  constructor(@InjectDataSource() dataSource: DataSource, audit: AuditService) {
    this.crud = new CrudResource(dataSource, audit, {
      entity: DeploymentTargetEntity, table: 'deployment_targets', resource: 'target', idKind: 'target', category: 'config',
      actions: { created: 'create_target', updated: 'update_target', deleted: 'delete_target' },
      filters: ['type', 'agent_id'], sortable: ['name', 'type', 'updated_at'], searchable: ['name'],
    });
  }
}
