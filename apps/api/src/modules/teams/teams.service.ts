import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TeamEntity } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { visibilityOf } from '../../common/auth/visibility';
import { CrudResource } from '../../common/crud-resource';
import { PageQuery } from '../../common/http/pagination';
import { rowCondition } from '../../common/scope';

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

  /** A team-scoped caller lists its own teams only (an issuer- or profile-scoped one, none); others, every row. */
  list(actor: Principal, query: PageQuery & { search?: string }) {
    return this.crud.list(query, {}, rowCondition(visibilityOf(actor, 'team.read'), { team: 'r.id' }));
  }

  /** 404 for a row outside the caller's teams, as for an unknown id. */
  get(actor: Principal, id: string) {
    return this.crud.get(id, undefined, rowCondition(visibilityOf(actor, 'team.read'), { team: 'r.id' }));
  }
}
