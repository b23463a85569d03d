import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { OwnerEntity } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import { CrudResource } from '../../common/crud-resource';

@Injectable()
export class OwnersService {
  readonly crud: CrudResource<OwnerEntity>;

  constructor(@InjectDataSource() dataSource: DataSource, audit: AuditService) {
    this.crud = new CrudResource(dataSource, audit, {
      entity: OwnerEntity, table: 'owners', resource: 'owner', idKind: 'owner', category: 'config',
      actions: { created: 'create_owner', updated: 'update_owner', deleted: 'delete_owner' },
      filters: ['team_id'], sortable: ['name', 'email', 'updated_at'], searchable: ['name', 'email'],
    });
  }
}
