import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { CertificateProfileEntity, newId } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
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

const COLUMNS = `id, approval_kind, certificate_id, job_id, profile_id, requested_by, state, decided_by, decided_at, decision_note,
  payload, metadata, created_at, updated_at, created_at + make_interval(secs => $1::numeric / 1000) AS expires_at`;

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

  async list(query: ApprovalQuery): Promise<Page<ApprovalView>> {
    const { page, perPage, offset } = pageOf(query);
    const where = `($2::text IS NULL OR state = $2) AND ($3::text IS NULL OR approval_kind = $3)`;
    const params = [this.config.approvals.ttlMs, query.state ?? null, query.approval_kind ?? null];
    const [rows, [{ total }]] = await Promise.all([
      this.dataSource.query(`SELECT ${COLUMNS} FROM issuance_approval_requests WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5`,
        [...params, perPage, offset]) as Promise<ApprovalView[]>,
      this.dataSource.query(`SELECT count(*)::int AS total FROM issuance_approval_requests WHERE ${where.replaceAll('$2', '$1').replaceAll('$3', '$2')}`,
        params.slice(1)) as Promise<Array<{ total: number }>>,
    ]);
    return { data: rows, total, page, per_page: perPage };
  }

  async get(id: string, manager: EntityManager = this.dataSource.manager, lock = false): Promise<ApprovalView> {
    const rows: ApprovalView[] = await manager.query(
      `SELECT ${COLUMNS} FROM issuance_approval_requests WHERE id = $2${lock ? ' FOR UPDATE' : ''}`, [this.config.approvals.ttlMs, id],
    );
    if (!rows[0]) throw ApiError.notFound('approval', id);
    return rows[0];
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
    const request = await this.get(id);
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
