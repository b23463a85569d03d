import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { CANCELLABLE_JOB_STATUSES } from '@certctl/contracts';
import { JobEntity } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { CrudResource } from '../../common/crud-resource';
import { ApiError } from '../../common/http/api-error';

@Injectable()
export class JobsService {
  readonly crud: CrudResource<JobEntity>;

  constructor(@InjectDataSource() private readonly dataSource: DataSource, private readonly audit: AuditService) {
    this.crud = new CrudResource(dataSource, audit, {
      entity: JobEntity, table: 'jobs', resource: 'job', idKind: 'job', category: 'cert_lifecycle',
      actions: { created: 'job_created', updated: 'job_updated', deleted: 'job_deleted' },
      filters: ['status', 'type', 'certificate_id', 'agent_id', 'target_id'],
      sortable: ['status', 'type', 'scheduled_at', 'updated_at'],
    });
  }

  /** Cancels a job that has not finished; 409 for one that has. A running worker sees the status and stops. */
  async cancel(actor: Principal, id: string): Promise<JobEntity> {
    return this.dataSource.transaction(async (tx) => {
      const job = await this.crud.lock(tx, id);
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
}
