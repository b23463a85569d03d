import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { CANCELLABLE_JOB_STATUSES } from '@certctl/contracts';
import { issuanceJobOptions, JobEntity, JobProducer, ManagedCertificateEntity } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { CrudResource } from '../../common/crud-resource';
import { ApiError } from '../../common/http/api-error';
import type { Page } from '../../common/http/pagination';
import { viaCertificate } from '../certificates/certificate-scope';
import type { JobQuery } from './dto/job.dto';

@Injectable()
export class JobsService {
  readonly crud: CrudResource<JobEntity>;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly producer: JobProducer,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.crud = new CrudResource(dataSource, audit, {
      entity: JobEntity, table: 'jobs', resource: 'job', idKind: 'job', category: 'cert_lifecycle',
      actions: { created: 'job_created', updated: 'job_updated', deleted: 'job_deleted' },
      filters: ['status', 'type', 'certificate_id', 'agent_id', 'target_id'],
      sortable: ['status', 'type', 'scheduled_at', 'updated_at'],
    });
  }

  /** The jobs of the certificates the caller may see (job.read), counted the same way. */
  list(actor: Principal, query: JobQuery): Promise<Page<JobEntity>> {
    return this.crud.list(query, {}, viaCertificate(actor, 'job.read'));
  }

  /** 404 for a job of a certificate outside the caller's scope, as for an unknown id. */
  get(actor: Principal, id: string): Promise<JobEntity> {
    return this.crud.get(id, undefined, viaCertificate(actor, 'job.read'));
  }

  /** Cancels a job that has not finished; 409 for one that has. A running worker sees the status and stops. */
  async cancel(actor: Principal, id: string): Promise<JobEntity> {
    return this.dataSource.transaction(async (tx) => {
      const job = await this.crud.lock(tx, id, viaCertificate(actor, 'job.read'));
      if (!(await this.crud.matches(tx, id, viaCertificate(actor, 'job.cancel')))) {
        throw new ApiError(HttpStatus.FORBIDDEN, 'FORBIDDEN', `job.cancel on job ${id} is outside your grants`);
      }
      if (!CANCELLABLE_JOB_STATUSES.includes(job.status)) {
        throw ApiError.conflict('JOB_NOT_CANCELLABLE', `job ${id} is ${job.status} and cannot be cancelled`);
      }
      await tx.update(JobEntity, { id }, { status: 'Cancelled', completed_at: new Date() });
      await this.audit.record(
        { actor, action: 'job_cancelled', resource_type: 'job', resource_id: id, details: { previous_status: job.status } },
        tx,
      );
      return this.crud.get(id, tx);
    });
  }

  /**
   * The approval gate: an AwaitingApproval job goes Pending and is queued (approve) or is Cancelled (reject).
   * Four eyes: whoever asked for the job may not decide it (403).
   */
  async decide(actor: Principal, id: string, approve: boolean, note: string | undefined, correlationId: string): Promise<JobEntity> {
    const job = await this.dataSource.transaction(async (tx) => {
      const current = await this.crud.lock(tx, id, viaCertificate(actor, 'job.read'));
      if (current.status !== 'AwaitingApproval') {
        throw ApiError.conflict('JOB_NOT_AWAITING_APPROVAL', `job ${id} is ${current.status}, not AwaitingApproval`);
      }
      if (current.requested_by === actor.actor) {
        throw new ApiError(HttpStatus.FORBIDDEN, 'SELF_APPROVAL', 'the requester of a job cannot approve or reject it');
      }
      // Past CERTCTL_APPROVAL_TTL the request is expired, even before the orchestrator's sweep marks it so.
      const [stale]: Array<{ id: string }> = await tx.query(
        `SELECT id FROM issuance_approval_requests WHERE job_id = $1 AND state = 'pending' AND created_at <= now() - make_interval(secs => $2::numeric / 1000)`,
        [id, this.config.approvals.ttlMs],
      );
      if (stale) throw ApiError.conflict('APPROVAL_EXPIRED', `the approval request ${stale.id} of job ${id} has expired`);
      await tx.update(JobEntity, { id }, approve
        ? { status: 'Pending', decided_by: actor.actor, decision_note: note ?? null }
        : { status: 'Cancelled', decided_by: actor.actor, decision_note: note ?? null, completed_at: new Date(), last_error: `rejected by ${actor.actor}${note ? `: ${note}` : ''}` });
      if (!approve) {
        await tx.update(ManagedCertificateEntity, { id: current.certificate_id, status: 'RenewalInProgress' }, { status: current.type === 'Issuance' ? 'Pending' : 'Active' });
      }
      await this.audit.record(
        { actor, action: approve ? 'approval_approved' : 'approval_rejected', resource_type: 'job', resource_id: id,
          details: { certificate_id: current.certificate_id, requested_by: current.requested_by, note: note ?? null } },
        tx,
      );
      return this.crud.get(id, tx);
    });
    if (approve) {
      const name = job.type === 'Issuance' ? 'certificate.issue' : job.type === 'Renewal' ? 'certificate.renew' : 'certificate.deploy';
      await this.producer.enqueue(name, { jobId: id, correlationId }, id, name === 'certificate.deploy' ? {} : issuanceJobOptions(this.config, job));
    }
    return job;
  }
}
