import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { OwnerEntity } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { visibilityOf } from '../../common/auth/visibility';
import { CrudResource } from '../../common/crud-resource';
import { PageQuery } from '../../common/http/pagination';
import { rowCondition } from '../../common/scope';

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

  /** A team-scoped caller lists the owners of its teams only (an issuer- or profile-scoped one, none); others, every row. */
  list(actor: Principal, query: PageQuery & { search?: string }) {
    return this.crud.list(query, {}, rowCondition(visibilityOf(actor, 'owner.read'), { team: 'r.team_id' }));
  }

  /** 404 for a row outside the caller's teams, as for an unknown id. */
  get(actor: Principal, id: string) {
    return this.crud.get(id, undefined, rowCondition(visibilityOf(actor, 'owner.read'), { team: 'r.team_id' }));
  }
}
