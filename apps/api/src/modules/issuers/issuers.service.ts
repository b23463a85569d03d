import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { IssuerEntity } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import { CrudResource } from '../../common/crud-resource';

@Injectable()
export class IssuersService {
  readonly crud: CrudResource<IssuerEntity>;

  constructor(@InjectDataSource() dataSource: DataSource, audit: AuditService) {
    this.crud = new CrudResource(dataSource, audit, {
      entity: IssuerEntity, table: 'issuers', resource: 'issuer', idKind: 'issuer', category: 'config',
      actions: { created: 'create_issuer', updated: 'update_issuer', deleted: 'delete_issuer' },
      filters: ['type'], sortable: ['name', 'type', 'updated_at'], searchable: ['name'],
    });
  }
}
