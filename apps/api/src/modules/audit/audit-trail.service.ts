import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditEventEntity } from '@certctl/db';
import { ApiError } from '../../common/http/api-error';
import { Page, pageOf } from '../../common/http/pagination';
import { AuditQuery } from './dto/audit.dto';

export interface ChainVerification {
  intact: boolean;
  rows_checked: number;
  first_break: { seq: number | null; id: string | null; reason: string } | null;
  verified_at: string;
}

/** Reading and verifying the audit trail (writing is AuditService's). */
@Injectable()
export class AuditTrailService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async list(query: AuditQuery): Promise<Page<AuditEventEntity>> {
    const { page, perPage, offset } = pageOf(query);
    const qb = this.dataSource.createQueryBuilder(AuditEventEntity, 'a');
    const equal = ['actor', 'actor_type', 'action', 'resource_type', 'resource_id'] as const;
    for (const column of equal) if (query[column] !== undefined) qb.andWhere(`a.${column} = :${column}`, { [column]: query[column] });
    if (query.category) qb.andWhere('a.event_category = :category', { category: query.category });
    if (query.since) qb.andWhere('a.timestamp >= :since', { since: query.since });
    if (query.until) qb.andWhere('a.timestamp < :until', { until: query.until });
    const [data, total] = await qb.orderBy('a.seq', 'DESC').offset(offset).limit(perPage).getManyAndCount();
    return { data, total, page, per_page: perPage };
  }

  async get(id: string): Promise<AuditEventEntity> {
    const event = await this.dataSource.manager.findOne(AuditEventEntity, { where: { id } });
    if (!event) throw ApiError.notFound('audit event', id);
    return event;
  }

  /** Walks the hash chain in the database and reports the first row that does not match. */
  async verify(): Promise<ChainVerification> {
    const [row] = await this.dataSource.query<Array<{ rows_checked: string; broken_seq: string | null; broken_id: string | null; reason: string | null }>>(
      'SELECT * FROM audit_events_verify_chain()',
    );
    return {
      intact: !row?.reason,
      rows_checked: Number(row?.rows_checked ?? 0),
      first_break: row?.reason ? { seq: row.broken_seq === null ? null : Number(row.broken_seq), id: row.broken_id, reason: row.reason } : null,
      verified_at: new Date().toISOString(),
    };
  }
}
