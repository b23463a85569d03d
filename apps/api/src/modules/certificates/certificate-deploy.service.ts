import { HttpStatus, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, In } from 'typeorm';
import { deployQueueJobs } from '@certctl/contracts';
import { AgentWorkSignal, CertificateVersionEntity, DeploymentTargetEntity, JobEntity, JobProducer, ManagedCertificateEntity, newId } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { ApiError } from '../../common/http/api-error';
import { checkCertificate } from './certificate-scope';

export interface DeploymentTriggered {
  status: 'deployment_triggered';
  certificate_id: string;
  version_id: string;
  jobs: Array<{ job_id: string; target_id: string; agent_id: string | null }>;
}

/**
 * `POST /certificates/{id}/deploy`: one Deployment job per chosen (or every mapped, enabled) target for the
 * current version. Agentless targets are queued for the orchestrator after commit; agent targets wait for
 * their agent's poll. 409 before the first issuance and for a disabled or retired target.
 */
@Injectable()
export class CertificateDeployService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly producer: JobProducer,
    private readonly agentWork: AgentWorkSignal,
  ) {}

  async deploy(actor: Principal, certificateId: string, targetIds: string[] | undefined, correlationId: string): Promise<DeploymentTriggered> {
    const triggered = await this.dataSource.transaction(async (tx) => {
      const cert = await tx.findOne(ManagedCertificateEntity, { where: { id: certificateId }, lock: { mode: 'pessimistic_write' } });
      if (!cert) throw ApiError.notFound('certificate', certificateId);
      checkCertificate(actor, cert, 'cert.edit');
      if (cert.status === 'Archived' || cert.status === 'Revoked') {
        throw ApiError.conflict('CERTIFICATE_NOT_DEPLOYABLE', `certificate ${certificateId} is ${cert.status}`);
      }
      const version = await tx.findOne(CertificateVersionEntity, { where: { certificate_id: certificateId }, order: { created_at: 'DESC', id: 'DESC' } });
      if (!version) throw ApiError.conflict('CERTIFICATE_NOT_ISSUED', `certificate ${certificateId} has no issued version yet`);

      const mapped: DeploymentTargetEntity[] = await tx.query(
        `SELECT t.* FROM certificate_target_mappings m JOIN deployment_targets t ON t.id = m.target_id WHERE m.certificate_id = $1 ORDER BY t.id`,
        [certificateId],
      );
      let targets: DeploymentTargetEntity[];
      if (targetIds?.length) {
        const wanted = [...new Set(targetIds)];
        const found = await tx.find(DeploymentTargetEntity, { where: { id: In(wanted) } });
        const byId = new Map(found.map((t) => [t.id, t]));
        const mappedIds = new Set(mapped.map((t) => t.id));
        for (const id of wanted) {
          if (!byId.has(id)) throw ApiError.missingReference('target_ids', id);
          if (!mappedIds.has(id)) throw ApiError.invalidField('target_ids', `target ${id} is not mapped to certificate ${certificateId}`);
        }
        targets = wanted.map((id) => byId.get(id)!);
        const unusable = targets.find((t) => t.retired_at || !t.enabled);
        if (unusable) {
          throw ApiError.conflict(unusable.retired_at ? 'TARGET_RETIRED' : 'TARGET_DISABLED', `target ${unusable.id} is ${unusable.retired_at ? 'retired' : 'disabled'}`);
        }
      } else {
        targets = mapped.filter((t) => t.enabled && !t.retired_at);
        if (!targets.length) {
          throw new ApiError(HttpStatus.CONFLICT, 'NO_DEPLOYABLE_TARGETS', `certificate ${certificateId} has no enabled target (${mapped.length} mapped)`);
        }
      }

      const jobs = targets.map((t) => ({ job_id: newId('job'), target_id: t.id, agent_id: t.agent_id }));
      await tx.insert(JobEntity, jobs.map((j) => ({
        id: j.job_id, type: 'Deployment' as const, certificate_id: certificateId, target_id: j.target_id, agent_id: j.agent_id,
        status: 'Pending' as const, requested_by: actor.actor,
      })));
      await this.audit.record({
        actor, action: 'deployment_triggered', resource_type: 'certificate', resource_id: certificateId,
        details: { version_id: version.id, job_ids: jobs.map((j) => j.job_id), target_ids: jobs.map((j) => j.target_id) },
      }, tx);
      return { status: 'deployment_triggered' as const, certificate_id: certificateId, version_id: version.id, jobs };
    });
    // Agent rows wait for their agent's /work: its held request (long-poll) answers now.
    await this.agentWork.notify(triggered.jobs.map((j) => j.agent_id));
    // The agentless rows go as batch jobs (one queue job per DEPLOY_BATCH_MAX_ROWS rows), a lone row as its own job.
    for (const job of deployQueueJobs(triggered.jobs.filter((j) => !j.agent_id).map((j) => j.job_id), correlationId)) {
      await this.producer.enqueue(job.name, job.data, job.rowId);
    }
    return triggered;
  }
}
