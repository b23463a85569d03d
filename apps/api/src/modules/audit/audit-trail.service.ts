import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditEventEntity } from '@certctl/db';
import type { Principal } from '../../common/auth/principal';
import { visibilityOf } from '../../common/auth/visibility';
import { ApiError } from '../../common/http/api-error';
import { rowCondition, RowCondition } from '../../common/scope';
import { Page, pageOf } from '../../common/http/pagination';
import { AuditCheckpointService } from './audit-checkpoints.service';
import { AuditQuery } from './dto/audit.dto';

export interface ChainVerification {
  intact: boolean;
  rows_checked: number;
  first_break: { seq: number | null; id: string | null; reason: string } | null;
  /** Whether the chain is vouched for by checkpoints signed with CERTCTL_AUDIT_HMAC_KEY. */
  keyed: boolean;
  /** Signed checkpoints checked, and the newest (seq, row_hash, mac) to keep outside the database. */
  checkpoints_checked: number;
  latest_checkpoint: { seq: number; row_hash: string; mac: string } | null;
  /** Rows newer than the latest checkpoint: not yet covered by a signature. */
  unsigned_rows: number;
  /** Present when the answer is weaker than it looks (no key configured). */
  warning?: string;
  verified_at: string;
}

const UNKEYED_WARNING =
  'CERTCTL_AUDIT_HMAC_KEY is not set: the chain is an unkeyed hash, which anyone who can write the database can re-seal';

/** Reading and verifying the audit trail (writing is AuditService's). */
@Injectable()
export class AuditTrailService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly checkpoints: AuditCheckpointService,
  ) {}

  /**
   * A team-scoped reader sees the events of its teams' resources (audit_events.team_id, filled on insert); issuer
   * and profile grants do not reach audit rows. The same condition bounds `total`.
   */
  async list(actor: Principal, query: AuditQuery): Promise<Page<AuditEventEntity>> {
    const { page, perPage, offset } = pageOf(query);
    const qb = this.dataSource.createQueryBuilder(AuditEventEntity, 'a');
    const scope = auditScope(actor);
    if (scope) qb.andWhere(scope.sql, scope.params);
    const equal = ['actor', 'actor_type', 'action', 'resource_type', 'resource_id'] as const;
    for (const column of equal) if (query[column] !== undefined) qb.andWhere(`a.${column} = :${column}`, { [column]: query[column] });
    if (query.category) qb.andWhere('a.event_category = :category', { category: query.category });
    if (query.since) qb.andWhere('a.timestamp >= :since', { since: query.since });
    if (query.until) qb.andWhere('a.timestamp < :until', { until: query.until });
    const [data, total] = await qb.orderBy('a.seq', 'DESC').offset(offset).limit(perPage).getManyAndCount();
    return { data, total, page, per_page: perPage };
  }

  async get(actor: Principal, id: string): Promise<AuditEventEntity> {
    const scope = auditScope(actor);
    const qb = this.dataSource.createQueryBuilder(AuditEventEntity, 'a').where('a.id = :id', { id });
    if (scope) qb.andWhere(scope.sql, scope.params);
    const event = await qb.getOne();
    if (!event) throw ApiError.notFound('audit event', id);
    return event;
  }

  /**
   * Walks the hash chain in the database and reports the first row that does not match; then, with a key, checks
   * every signed checkpoint (a chain re-sealed after an edit is intact as a hash chain, but not against them).
   */
  async verify(): Promise<ChainVerification> {
    const [row] = await this.dataSource.query<Array<{ rows_checked: string; broken_seq: string | null; broken_id: string | null; reason: string | null }>>(
      'SELECT * FROM audit_events_verify_chain()',
    );
    const rowsChecked = Number(row?.rows_checked ?? 0);
    const chainBreak = row?.reason ? { seq: row.broken_seq === null ? null : Number(row.broken_seq), id: row.broken_id, reason: row.reason } : null;
    const keyed = this.checkpoints.keyed;
    const signed = keyed ? await this.checkpoints.verify() : { checked: 0, latest: null, first_break: null };
    const firstBreak = chainBreak ?? signed.first_break;
    return {
      intact: firstBreak === null,
      rows_checked: rowsChecked,
      first_break: firstBreak,
      keyed,
      checkpoints_checked: signed.checked,
      latest_checkpoint: signed.latest,
      unsigned_rows: keyed ? Math.max(0, rowsChecked - (signed.latest?.seq ?? 0)) : rowsChecked,
      ...(keyed ? {} : { warning: UNKEYED_WARNING }),
      verified_at: new Date().toISOString(),
    };
  }
}

function auditScope(actor: Principal): RowCondition | undefined {
  return rowCondition(visibilityOf(actor, 'audit.read'), { team: 'a.team_id' });
}
