import { Body, Controller, Get, HttpCode, HttpStatus, Injectable, Param, Post } from '@nestjs/common';
import { Schemas } from '../../common/openapi/resources';
import { Returns, bool, dateTime, objectOf, str } from '../../common/openapi/response-schemas';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { JobEntity } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import { holds, Principal } from '../../common/auth/principal';
import { ApiError } from '../../common/http/api-error';
import { checkOwningCertificate } from '../certificates/certificate-scope';
import { BoolField, IdField, TextField } from '../../common/http/dto-fields';
import { CurrentPrincipal } from '../../common/http/request';
import { RequirePermission } from '../../common/auth/permission.decorator';

/** certctl's verification report: what the agent's post-deploy TLS handshake saw. */
export class VerifyJobDto {
  @BoolField({ description: 'The served leaf is the deployed one' }) verified: boolean;
  @IdField({ optional: true }) target_id?: string;
  @TextField({ optional: true, max: 128, description: 'SHA-256 of the deployed leaf' }) expected_fingerprint?: string;
  @TextField({ optional: true, max: 128, description: 'SHA-256 of the leaf the endpoint served' }) actual_fingerprint?: string;
  @TextField({ optional: true, max: 4000 }) error?: string;
}

@Injectable()
export class JobVerificationService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource, private readonly audit: AuditService) {}

  /** Records the verification on a Deployment job: the agent that owns the job, or an operator, may report it. */
  async record(actor: Principal, id: string, body: VerifyJobDto): Promise<JobEntity> {
    return this.dataSource.transaction(async (tx) => {
      const job = await tx.findOne(JobEntity, { where: { id }, lock: { mode: 'pessimistic_write' } });
      const isAgent = actor.actor_type === 'Agent';
      if (!job || (isAgent && job.agent_id !== actor.agent_id)) throw ApiError.notFound('job', id);
      if (!isAgent) await checkOwningCertificate(tx, actor, 'job', id, job.certificate_id, 'job.read');
      if (!isAgent && !holds(actor, ['verification.run'])) throw new ApiError(HttpStatus.FORBIDDEN, 'FORBIDDEN', 'missing permission verification.run');
      if (job.type !== 'Deployment') throw ApiError.conflict('NOT_A_DEPLOYMENT', `job ${id} is a ${job.type} job`);
      if (body.target_id && body.target_id !== job.target_id) throw ApiError.invalidField('target_id', `job ${id} deploys to ${job.target_id}`);
      await tx.update(JobEntity, { id }, {
        verification_status: body.verified ? 'success' : 'failed', verified_at: new Date(),
        verification_fingerprint: body.actual_fingerprint ?? null, verification_error: body.verified ? null : (body.error ?? 'verification failed'),
      });
      await this.audit.record({ actor, action: 'deployment_verified', resource_type: 'job', resource_id: id, details: { ...body } }, tx);
      return tx.findOneByOrFail(JobEntity, { id });
    });
  }

  /** certctl's VerificationResult of a job: what the post-deploy check saw (unset fields omitted). */
  async result(actor: Principal, id: string): Promise<VerificationView> {
    const job = await this.dataSource.manager.findOne(JobEntity, { where: { id } });
    if (!job || (actor.actor_type === 'Agent' && job.agent_id !== actor.agent_id)) throw ApiError.notFound('job', id);
    if (actor.actor_type !== 'Agent') await checkOwningCertificate(this.dataSource.manager, actor, 'job', id, job.certificate_id, 'job.read');
    const [expected]: Array<{ fingerprint_sha256: string }> = job.type === 'Deployment' ? await this.dataSource.query(
      `SELECT fingerprint_sha256 FROM certificate_versions WHERE certificate_id = $1 AND created_at <= COALESCE($2, now())
        ORDER BY created_at DESC, id DESC LIMIT 1`, [job.certificate_id, job.completed_at ?? job.verified_at],
    ) : [];
    return {
      job_id: job.id, target_id: job.target_id, status: job.verification_status ?? 'pending',
      verified: job.verification_status === 'success', expected_fingerprint: expected?.fingerprint_sha256 ?? null,
      actual_fingerprint: job.verification_fingerprint, verified_at: job.verified_at, error: job.verification_error,
    };
  }
}

export interface VerificationView {
  job_id: string;
  target_id: string | null;
  /** pending (not verified yet), success, failed or skipped. */
  status: string;
  verified: boolean;
  expected_fingerprint: string | null;
  actual_fingerprint: string | null;
  verified_at: Date | null;
  error: string | null;
}

@ApiTags('jobs')
@ApiBearerAuth()
@Controller('jobs')
export class JobVerificationController {
  constructor(private readonly verifications: JobVerificationService) {}

  /** An agent's post-deploy TLS verification of one of its Deployment jobs. */
  @Post(':id/verify')
  @HttpCode(200)
  @Returns(Schemas.Job)
  @RequirePermission(['verification.run', 'agent.job.report'], { scope: 'rows' })
  verify(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: VerifyJobDto): Promise<JobEntity> {
    return this.verifications.record(actor, id, body);
  }

  /** The verification result of a job (the job's agent, or anyone who may read the inventory). */
  @Get(':id/verification')
  @Returns(objectOf({ job_id: str, target_id: str, status: { enum: ['pending', 'success', 'failed', 'skipped'] }, verified: bool, expected_fingerprint: str, actual_fingerprint: str, verified_at: dateTime, error: str }, ['job_id', 'status', 'verified']))
  @RequirePermission(['verification.read', 'agent.job.report'], { scope: 'rows' })
  verification(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<VerificationView> {
    if (actor.actor_type !== 'Agent' && !holds(actor, ['verification.read'])) {
      throw new ApiError(HttpStatus.FORBIDDEN, 'FORBIDDEN', 'missing permission verification.read');
    }
    return this.verifications.result(actor, id);
  }
}
