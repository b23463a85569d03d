import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, In, SelectQueryBuilder } from 'typeorm';
import { ManagedCertificateEntity } from '@certctl/db';
import { applySort, escapeLike } from '../../common/crud-resource';
import { Page, pageOf } from '../../common/http/pagination';
import { CertificateQuery } from './dto/certificate.dto';

const SORTABLE = ['name', 'common_name', 'expires_at', 'status', 'updated_at', 'environment'] as const;

/** The certificate inventory's queries; the one place with SQL for managed_certificates (STYLE C6). */
@Injectable()
export class CertificatesRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * One page of certificates. The page's ids come from an index-ordered query first and the rows are fetched
   * by id afterwards (a "deferred join"), so a deep page does not read every skipped row in full.
   */
  async list(query: CertificateQuery): Promise<Page<ManagedCertificateEntity>> {
    const { page, perPage, offset } = pageOf(query);
    const filtered = () => this.filtered(query);
    const idQuery = filtered().select('c.id', 'id');
    applySort(idQuery, query.sort, SORTABLE);
    const [idRows, total] = await Promise.all([
      idQuery.offset(offset).limit(perPage).getRawMany<{ id: string }>(),
      filtered().getCount(),
    ]);
    const ids = idRows.map((r) => r.id);
    const rows = ids.length ? await this.dataSource.manager.findBy(ManagedCertificateEntity, { id: In(ids) }) : [];
    const byId = new Map(rows.map((r) => [r.id, r]));
    return { data: ids.map((id) => byId.get(id)!).filter(Boolean), total, page, per_page: perPage };
  }

  private filtered(query: CertificateQuery): SelectQueryBuilder<ManagedCertificateEntity> {
    const qb = this.dataSource.createQueryBuilder(ManagedCertificateEntity, 'c');
    const equal: Array<[keyof CertificateQuery, string]> = [
      ['status', 'status'], ['owner_id', 'owner_id'], ['team_id', 'team_id'], ['issuer_id', 'issuer_id'],
      ['environment', 'environment'], ['profile_id', 'certificate_profile_id'],
    ];
    for (const [param, column] of equal) {
      if (query[param] !== undefined) qb.andWhere(`c.${column} = :${param}`, { [param]: query[param] });
    }
    if (query.expires_before) qb.andWhere('c.expires_at < :before', { before: query.expires_before });
    if (query.expires_after) qb.andWhere('c.expires_at > :after', { after: query.expires_after });
    if (query.search) {
      qb.andWhere('c.search_text LIKE :search', { search: `%${escapeLike(query.search.toLowerCase())}%` });
    }
    return qb;
  }

  async targetIds(certificateId: string): Promise<string[]> {
    const rows: Array<{ target_id: string }> = await this.dataSource.query(
      'SELECT target_id FROM certificate_target_mappings WHERE certificate_id = $1 ORDER BY target_id',
      [certificateId],
    );
    return rows.map((r) => r.target_id);
  }
}
