import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TeamEntity } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import { CrudResource } from '../../common/crud-resource';

@Injectable()
export class TeamsService {
  readonly crud: CrudResource<TeamEntity>;

  constructor(@InjectDataSource() dataSource: DataSource, audit: AuditService) {
    this.crud = new CrudResource(dataSource, audit, {
      entity: TeamEntity, table: 'teams', resource: 'team', idKind: 'team', category: 'config',
      actions: { created: 'create_team', updated: 'update_team', deleted: 'delete_team' },
      sortable: ['name', 'updated_at'], searchable: ['name', 'description'],
    });
  }
}
