import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { CertificateProfileEntity, newId } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { positionalBinder, visibilityOf, visibilitySql } from '../../common/auth/visibility';
import { ApiError } from '../../common/http/api-error';
import { Page, pageOf } from '../../common/http/pagination';
import { translateWriteError } from '../../common/http/write-errors';
import { JobsService } from '../jobs/jobs.service';
import type { ApprovalKind, ApprovalQuery, ApprovalState } from './dto/approval.dto';

/** One four-eyes request, as GET /approvals answers it (certctl's `issuance_approval_requests` row, plus its deadline). */
export interface ApprovalView {
  id: string;
  approval_kind: ApprovalKind;
  certificate_id: string | null;
  job_id: string | null;
  profile_id: string | null;
  requested_by: string;
  state: ApprovalState;
  decided_by: string | null;
  decided_at: Date | null;
  decision_note: string | null;
  payload: Record<string, unknown> | null;
  metadata: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
  /** When a pending request expires (created_at + CERTCTL_APPROVAL_TTL). */
  expires_at: Date;
}

const COLUMNS = `a.id, a.approval_kind, a.certificate_id, a.job_id, a.profile_id, a.requested_by, a.state, a.decided_by, a.decided_at,
  a.decision_note, a.payload, a.metadata, a.created_at, a.updated_at, a.created_at + make_interval(secs => $1::numeric / 1000) AS expires_at`;
/** A request with its certificate (absent for profile edits), whose team, issuer and profile scope it. */
const FROM = 'issuance_approval_requests a LEFT JOIN managed_certificates c ON c.id = a.certificate_id';

/** Appends LIMIT/OFFSET parameters and returns their placeholders. */
function limitParams(params: unknown[], limit: number, offset: number): string {
  params.push(limit, offset);
  return `$${params.length - 1} OFFSET $${params.length}`;
}

/**
 * The approval queue. An issuance request follows its job (the jobs table's trigger opens and settles it), so
 * deciding one decides the job through JobsService; a profile edit is applied here, in the decision's
 * transaction. Whoever asked may not decide (403), and a request past its deadline can no longer be decided.
 */
@Injectable()
export class ApprovalsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly jobs: JobsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * The requests the caller may see: a scoped caller (`approval.read` within teams, issuers or profiles) sees those
   * whose certificate is in its scope, and profile edits of profiles in its scope; the rest stay hidden (404 by id).
   */
  async list(query: ApprovalQuery, principal?: Principal): Promise<Page<ApprovalView>> {
    const { page, perPage, offset } = pageOf(query);
    const params: unknown[] = [this.config.approvals.ttlMs, query.state ?? null, query.approval_kind ?? null];
    const where = `($2::text IS NULL OR a.state = $2) AND ($3::text IS NULL OR a.approval_kind = $3)${this.scopeCondition(principal, params)}`;
    const countParams = [...params];
    const limit = limitParams(params, perPage, offset);
    const [rows, [{ total }]] = await Promise.all([
      this.dataSource.query(`SELECT ${COLUMNS} FROM ${FROM} WHERE ${where} ORDER BY a.created_at DESC, a.id DESC LIMIT ${limit}`, params) as Promise<ApprovalView[]>,
      // $1 (the TTL) is only used by COLUMNS; the count names it too so the placeholders stay the same.
      this.dataSource.query(`SELECT count(*)::int AS total FROM ${FROM} WHERE $1::numeric IS NOT NULL AND ${where}`, countParams) as Promise<Array<{ total: number }>>,
    ]);
    return { data: rows, total, page, per_page: perPage };
  }

  async get(id: string, manager: EntityManager = this.dataSource.manager, lock = false, principal?: Principal): Promise<ApprovalView> {
    const params: unknown[] = [this.config.approvals.ttlMs, id];
    const scope = lock ? '' : this.scopeCondition(principal, params);
    const rows: ApprovalView[] = await manager.query(
      `SELECT ${COLUMNS} FROM ${FROM} WHERE a.id = $2${scope}${lock ? ' FOR UPDATE OF a' : ''}`, params,
    );
    if (!rows[0]) throw ApiError.notFound('approval', id);
    return rows[0];
  }

  /** ` AND <condition>` narrowing to what `approval.read` reaches for this caller, or '' when it reaches everything. */
  private scopeCondition(principal: Principal | undefined, params: unknown[]): string {
    const sql = visibilitySql(visibilityOf(principal, 'approval.read'),
      { team: 'c.team_id', issuer: 'c.issuer_id', profile: 'COALESCE(c.certificate_profile_id, a.profile_id)' }, positionalBinder(params));
    return sql === undefined ? '' : ` AND ${sql}`;
  }

  /** A PUT to a profile whose edits need four eyes: the edit is kept as a `profile_edit` request, not applied. */
  async requestProfileEdit(actor: Principal, profile: CertificateProfileEntity, edit: Record<string, unknown>): Promise<ApprovalView> {
    const payload = Object.fromEntries(Object.entries(edit).filter(([, v]) => v !== undefined));
    const id = newId('approvalRequest');
    await this.dataSource.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO issuance_approval_requests (id, approval_kind, profile_id, requested_by, payload, metadata)
         VALUES ($1, 'profile_edit', $2, $3, $4, $5)`,
        [id, profile.id, actor.actor, JSON.stringify(payload), JSON.stringify({ profile_name: profile.name, changed_fields: Object.keys(payload) })],
      );
      await this.audit.record({
        actor, action: 'approval_requested', resource_type: 'approval', resource_id: id, event_category: 'config',
        details: { approval_kind: 'profile_edit', profile_id: profile.id, changed_fields: Object.keys(payload) },
      }, tx);
    });
    return this.get(id);
  }

  async decide(actor: Principal, id: string, approve: boolean, note: string | undefined, correlationId: string): Promise<ApprovalView> {
    const request = await this.get(id, undefined, false, actor);
    this.checkDecidable(actor, request);
    if (request.approval_kind === 'cert_issuance') {
      // The job decides: its trigger settles this request in the same transaction.
      await this.jobs.decide(actor, request.job_id!, approve, note, correlationId);
      return this.get(id);
    }
    try {
      await this.dataSource.transaction(async (tx) => {
        const locked = await this.get(id, tx, true);
        this.checkDecidable(actor, locked);
        await tx.query(
          `UPDATE issuance_approval_requests SET state = $2, decided_by = $3, decided_at = now(), decision_note = $4, updated_at = now() WHERE id = $1`,
          [id, approve ? 'approved' : 'rejected', actor.actor, note ?? null],
        );
        if (approve) {
          const changed = Object.keys(locked.payload ?? {});
          if (changed.length) await tx.update(CertificateProfileEntity, { id: locked.profile_id! }, locked.payload as never);
          await this.audit.record({
            actor, action: 'profile_updated', resource_type: 'certificate_profiles', resource_id: locked.profile_id!, event_category: 'config',
            details: { changed_fields: changed, approval_id: id, requested_by: locked.requested_by },
          }, tx);
        }
        await this.audit.record({
          actor, action: approve ? 'approval_approved' : 'approval_rejected', resource_type: 'approval', resource_id: id, event_category: 'config',
          details: { approval_kind: locked.approval_kind, profile_id: locked.profile_id, requested_by: locked.requested_by, note: note ?? null },
        }, tx);
      });
    } catch (err) {
      if (err instanceof ApiError) throw err;
      translateWriteError(err, 'certificate_profiles', 'profile');
    }
    return this.get(id);
  }

  private checkDecidable(actor: Principal, request: ApprovalView): void {
    if (request.state !== 'pending') {
      throw ApiError.conflict('APPROVAL_NOT_PENDING', `approval ${request.id} is ${request.state}, not pending`);
    }
    if (new Date(request.expires_at).getTime() <= Date.now()) {
      throw ApiError.conflict('APPROVAL_EXPIRED', `approval ${request.id} expired at ${new Date(request.expires_at).toISOString()}`);
    }
    if (request.requested_by === actor.actor) {
      throw new ApiError(HttpStatus.FORBIDDEN, 'SELF_APPROVAL', 'the requester cannot approve or reject their own request');
    }
  }
}
