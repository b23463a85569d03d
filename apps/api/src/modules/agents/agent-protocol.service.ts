import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import type { AgentCsrAnswer, AgentWorkAnswer, IssuedCertificate, WorkItem } from '@certctl/contracts';
import {
  AgentEntity, CertificateVersionEntity, enqueueNotifications, issuanceJobOptions, JobEntity, JobProducer, ManagedCertificateEntity,
  profileOf, recordNotifications,
} from '@certctl/db';
import { deployCounterIncrements, DeployReport } from '@certctl/deploy';
import { profileViolation } from '@certctl/issuers';
import { ClusterCounters } from '@certctl/observability';
import { namesMismatch, parseCsr, PkiError, splitPemChain } from '@certctl/pki';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { ApiError } from '../../common/http/api-error';
import { AgentWorkHub } from './agent-work-hub';
import { JobStatusDto, SubmitCsrDto } from './dto/agent.dto';

/**
 * The agent side of the pull model: an agent polls for its work, submits CSRs for keys it made itself, picks
 * up its certificates and reports deployment outcomes. Every call is for the agent's own id (the guard checks
 * agent keys), and a retired agent is answered 410.
 */
@Injectable()
export class AgentProtocolService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly producer: JobProducer,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly counters: ClusterCounters,
    private readonly hub: AgentWorkHub,
  ) {}

  /**
   * Its Pending deployments, claimed atomically (Running, so two polls never hand out the same job), and the
   * AwaitingCSR issuance jobs of certificates mapped to its targets. With `resume` (the agent has just started,
   * or lost its previous answer) its Running deployments come again too: a claim whose answer never reached the
   * agent's journal (killed -9 in between, the answer cut off) is otherwise stranded while the agent keeps
   * heartbeating. The agent skips those it still has in its journal.
   */
  work(agentId: string, resume = false): Promise<AgentWorkAnswer> {
    return this.claimWork(agentId, resume);
  }

  /**
   * The long-poll: work() at once when there is some, else the request is held up to `waitMs` and answers as
   * soon as AgentWorkSignal says work for this agent appeared (each wake-up reads the database again: the
   * signal only says "look now"). Ends with no jobs at its timeout, when the agent's newer request replaces
   * it, at shutdown, or when `gone` fires (the client left: nothing is claimed for a closed connection).
   */
  async waitForWork(agentId: string, resume: boolean, waitMs: number, gone: AbortSignal): Promise<AgentWorkAnswer> {
    // Registered before the first read (which also answers 404/410 for an unknown or retired agent), so work
    // created while it runs wakes the wait that follows.
    const held = waitMs > 0 ? this.hub.hold(agentId) : undefined;
    if (!held) return this.claimWork(agentId, resume);
    const endWhenGone = () => held.end('gone');
    gone.addEventListener('abort', endWhenGone);
    try {
      const deadline = Date.now() + waitMs;
      let answer = await this.claimWork(agentId, resume);
      while (answer.count === 0 && !gone.aborted) {
        if ((await held.next(deadline - Date.now())) !== 'work') break;
        answer = await this.claimWork(agentId, false);
      }
      return answer;
    } finally {
      gone.removeEventListener('abort', endWhenGone);
      this.hub.release(held);
    }
  }

  /**
   * One statement (atomic on its own): every agent polls this every 30 s, so round trips are what a fleet costs
   * (on loopback the api's CPU per poll is mostly the write of each query to PostgreSQL). It checks the agent
   * too: 404 when unknown, 410 when retired, and nothing is claimed for either. The `running` part reads the
   * snapshot from before `claimed` ran, so a job is never in both.
   */
  private async claimWork(agentId: string, resume: boolean): Promise<AgentWorkAnswer> {
    const rows: Array<Partial<WorkItem> & { part: number | null; agent_active: boolean }> = await this.dataSource.query(
      `WITH agent AS (SELECT retired_at IS NULL AS active FROM agents WHERE id = $1
       ), claimed AS (
         UPDATE jobs j SET status = 'Running', started_at = now(), attempts = attempts + 1, updated_at = now()
           FROM deployment_targets t, managed_certificates c
          WHERE (SELECT active FROM agent)
            AND j.id IN (SELECT id FROM jobs WHERE agent_id = $1 AND type = 'Deployment' AND status = 'Pending'
                          ORDER BY scheduled_at LIMIT 100 FOR UPDATE SKIP LOCKED)
            AND t.id = j.target_id AND c.id = j.certificate_id
         RETURNING j.id, j.type, j.certificate_id, c.common_name, c.sans, j.target_id, t.type AS target_type, t.config AS target_config, j.status
       ), running AS (
         SELECT j.id, j.type, j.certificate_id, c.common_name, c.sans, j.target_id, t.type AS target_type, t.config AS target_config, j.status
           FROM jobs j JOIN deployment_targets t ON t.id = j.target_id JOIN managed_certificates c ON c.id = j.certificate_id
          WHERE $2 AND (SELECT active FROM agent) AND j.agent_id = $1 AND j.type = 'Deployment' AND j.status = 'Running'
          ORDER BY j.started_at LIMIT 100
       ), awaiting AS (
         SELECT DISTINCT ON (j.id) j.id, j.type, j.certificate_id, c.common_name, c.sans, t.id AS target_id, t.type AS target_type,
                t.config AS target_config, j.status
           FROM jobs j JOIN managed_certificates c ON c.id = j.certificate_id
           JOIN certificate_target_mappings m ON m.certificate_id = j.certificate_id
           JOIN deployment_targets t ON t.id = m.target_id AND t.agent_id = $1
          WHERE (SELECT active FROM agent) AND j.status = 'AwaitingCSR'
          ORDER BY j.id, t.id
       ), work AS (
         SELECT 0 AS part, * FROM running UNION ALL SELECT 1 AS part, * FROM claimed UNION ALL SELECT 2 AS part, * FROM awaiting
       )
       SELECT agent.active AS agent_active, work.* FROM agent LEFT JOIN work ON true ORDER BY work.part`,
      [agentId, resume],
    );
    if (!rows.length) throw ApiError.notFound('agent', agentId);
    if (!rows[0]!.agent_active) throw new ApiError(HttpStatus.GONE, 'AGENT_RETIRED', `agent ${agentId} is retired`);
    // Part 0 is the resume part: deployments claimed by an earlier poll. Everything else was claimed just now.
    const jobs = rows.filter((row) => row.part !== null)
      .map(({ part, agent_active: _active, ...item }) => (part === 0 ? { ...item, redelivered: true } : item) as WorkItem);
    return { jobs, count: jobs.length };
  }

  /**
   * A CSR for an AwaitingCSR job: 400 when it is not a valid CSR, 422 when its names differ from the
   * certificate's or it breaks the profile, 409 when no job is waiting for it. The job is then queued for signing.
   */
  async submitCsr(actor: Principal, agentId: string, body: SubmitCsrDto, correlationId: string): Promise<AgentCsrAnswer> {
    await this.activeAgent(agentId);
    let csr;
    try {
      csr = await parseCsr(body.csr_pem);
    } catch (err) {
      if (err instanceof PkiError) throw ApiError.invalidField('csr_pem', err.message);
      throw err;
    }
    const job = await this.dataSource.transaction(async (tx) => {
      const cert = await this.agentCertificate(tx, agentId, body.certificate_id);
      const waiting = await tx.findOne(JobEntity, { where: { certificate_id: cert.id, status: 'AwaitingCSR' }, lock: { mode: 'pessimistic_write' } });
      if (!waiting) throw ApiError.conflict('NO_CSR_EXPECTED', `no job of certificate ${cert.id} is waiting for a CSR`);
      const problem = namesMismatch(csr, { commonName: cert.common_name, sans: cert.sans }) ?? profileViolation(csr, await profileOf(tx, cert));
      if (problem) throw new ApiError(HttpStatus.UNPROCESSABLE_ENTITY, 'CSR_REJECTED', problem);
      await tx.update(JobEntity, { id: waiting.id }, { status: 'Pending', csr_pem: body.csr_pem, agent_id: agentId });
      await this.audit.record({ actor, action: 'csr_submitted', resource_type: 'job', resource_id: waiting.id, details: { certificate_id: cert.id, agent_id: agentId } }, tx);
      return tx.findOneByOrFail(JobEntity, { id: waiting.id });
    });
    await this.producer.enqueue('csr.sign', { jobId: job.id, correlationId }, job.id, issuanceJobOptions(this.config, job));
    return { status: 'csr_accepted', job_id: job.id };
  }

  /** The current certificate (leaf + chain) of a certificate deployed by this agent. */
  async certificate(agentId: string, certificateId: string): Promise<IssuedCertificate & { not_after: Date }> {
    await this.activeAgent(agentId);
    const cert = await this.agentCertificate(this.dataSource.manager, agentId, certificateId);
    const version = await this.dataSource.manager.findOne(CertificateVersionEntity, { where: { certificate_id: cert.id }, order: { created_at: 'DESC', id: 'DESC' } });
    if (!version) throw ApiError.conflict('CERTIFICATE_NOT_ISSUED', `certificate ${cert.id} has no issued version yet`);
    const [, ...chain] = splitPemChain(version.pem_chain);
    return { certificate_id: cert.id, certificate_pem: version.pem_chain, chain_pem: chain.join(''), serial_number: version.serial_number, not_after: version.not_after };
  }

  /**
   * The agent's report on one of its jobs. Completed/Failed are final; a finished job cannot be reopened (409).
   * An AwaitingCSR issuance job of a certificate deployed by this agent may be reported Failed (see failAwaitingCsr).
   */
  async reportStatus(actor: Principal, agentId: string, jobId: string, body: JobStatusDto): Promise<JobEntity> {
    await this.activeAgent(agentId);
    const { job, notificationIds, deployReport } = await this.dataSource.transaction(async (tx) => {
      const job = await tx.findOne(JobEntity, { where: { id: jobId }, lock: { mode: 'pessimistic_write' } });
      if (job?.status === 'AwaitingCSR') return this.failAwaitingCsr(tx, actor, agentId, job, body);
      if (!job || job.agent_id !== agentId) throw ApiError.notFound('job', jobId);
      if (!['Pending', 'Running'].includes(job.status)) throw ApiError.conflict('JOB_FINISHED', `job ${jobId} is already ${job.status}`);
      const now = new Date();
      const final = body.status !== 'Running';
      await tx.update(JobEntity, { id: jobId }, {
        status: body.status as JobEntity['status'],
        last_error: body.status === 'Failed' ? (body.error ?? 'failed without a reason') : null,
        completed_at: final ? now : null,
        started_at: job.started_at ?? now,
      });
      let notificationIds: string[] = [];
      let deployReport: DeployReport | undefined;
      if (final && job.type === 'Deployment') {
        deployReport = await this.recordDeploymentResult(tx, job, body);
        if (body.status === 'Completed') await tx.update(ManagedCertificateEntity, { id: job.certificate_id }, { last_deployment_at: now });
        notificationIds = await recordNotifications(tx, {
          type: body.status === 'Completed' ? 'DeploymentSuccess' : 'DeploymentFailure', certificate_id: job.certificate_id,
          message: body.status === 'Completed' ? `deployed to target ${job.target_id} by agent ${agentId}` : `deployment to target ${job.target_id} failed: ${body.error ?? 'no reason given'}`,
        });
      }
      await this.audit.record({ actor, action: final ? 'deployment_job_completed' : 'deployment_job_running', resource_type: 'job', resource_id: jobId,
        details: { status: body.status, agent_id: agentId, error: body.error ?? null } }, tx);
      return { job: await tx.findOneByOrFail(JobEntity, { id: jobId }), notificationIds, deployReport };
    });
    await enqueueNotifications(this.producer, notificationIds);
    // Agent deployments count in the same cluster-wide deploy counters as the orchestrator's.
    if (deployReport) await Promise.all(deployCounterIncrements(deployReport).map((c) => this.counters.increment(c.name, c.labels)));
    return job;
  }

  /**
   * An agent gives up on an issuance job waiting for its CSR (the server refused the CSR with a 422, or the agent
   * cannot make a key): the job fails with the agent's reason at once, instead of waiting for the AwaitingCSR
   * timeout while the agent would otherwise send the same refused CSR again and again.
   */
  private async failAwaitingCsr(tx: EntityManager, actor: Principal, agentId: string, job: JobEntity, body: JobStatusDto) {
    await this.agentCertificate(tx, agentId, job.certificate_id).catch(() => {
      throw ApiError.notFound('job', job.id);
    });
    if (body.status !== 'Failed') throw ApiError.conflict('JOB_AWAITING_CSR', `job ${job.id} waits for a CSR: send one to /agents/${agentId}/csr, or report Failed`);
    const error = `agent ${agentId} gave up: ${body.error ?? 'no reason given'}`;
    await tx.update(JobEntity, { id: job.id }, { status: 'Failed', last_error: error, completed_at: new Date(), agent_id: agentId });
    await tx.query(`UPDATE managed_certificates SET status = 'Failed', updated_at = now() WHERE id = $1 AND status = 'RenewalInProgress'`, [job.certificate_id]);
    const notificationIds = await recordNotifications(tx, { type: 'RenewalFailure', certificate_id: job.certificate_id, message: `renewal failed: ${error}` });
    await this.audit.record({ actor, action: 'csr_job_failed_by_agent', resource_type: 'job', resource_id: job.id,
      details: { agent_id: agentId, certificate_id: job.certificate_id, error: body.error ?? null } }, tx);
    return { job: await tx.findOneByOrFail(JobEntity, { id: job.id }), notificationIds, deployReport: undefined };
  }

  /** The agent's deployment result on the job row, and what it adds to the deploy counters. */
  private async recordDeploymentResult(tx: EntityManager, job: JobEntity, body: JobStatusDto): Promise<DeployReport> {
    const success = body.status === 'Completed';
    const failedStage = success ? null : ((body.failed_stage ?? 'other') as DeployReport['failedStage']);
    const rollback = success ? null : ((body.rollback ?? null) as DeployReport['rollback']);
    const result = {
      outcome: success ? (body.skipped_as_idempotent ? 'idempotent_skip' : 'deployed') : 'failed', reported_by: 'agent',
      skipped_as_idempotent: Boolean(body.skipped_as_idempotent), failed_stage: failedStage, rollback,
      rolled_back: rollback === 'restored', backup_paths: body.backup_paths ?? [],
    };
    await tx.update(JobEntity, { id: job.id }, {
      deployment_result: result as never,
      ...(body.verification_status ? {
        verification_status: body.verification_status as JobEntity['verification_status'], verified_at: new Date(),
        verification_fingerprint: body.verification_fingerprint ?? null, verification_error: body.verification_error ?? null,
      } : {}),
    });
    const [target]: Array<{ type: string }> = await tx.query('SELECT type FROM deployment_targets WHERE id = $1', [job.target_id]);
    return { targetType: target?.type ?? 'unknown', success, skippedAsIdempotent: Boolean(body.skipped_as_idempotent), failedStage, rollback };
  }

  private async activeAgent(agentId: string): Promise<AgentEntity> {
    const agent = await this.dataSource.manager.findOne(AgentEntity, { where: { id: agentId } });
    if (!agent) throw ApiError.notFound('agent', agentId);
    if (agent.retired_at) throw new ApiError(HttpStatus.GONE, 'AGENT_RETIRED', `agent ${agentId} is retired`);
    return agent;
  }

  /** A certificate mapped to one of this agent's targets; others are 404 to the agent (not its business). */
  private async agentCertificate(tx: EntityManager, agentId: string, certificateId: string): Promise<ManagedCertificateEntity> {
    const rows: ManagedCertificateEntity[] = await tx.query(
      `SELECT c.* FROM managed_certificates c WHERE c.id = $1 AND EXISTS (
         SELECT 1 FROM certificate_target_mappings m JOIN deployment_targets t ON t.id = m.target_id
          WHERE m.certificate_id = c.id AND t.agent_id = $2)`,
      [certificateId, agentId],
    );
    if (!rows[0]) throw ApiError.notFound('certificate', certificateId);
    return tx.create(ManagedCertificateEntity, rows[0]);
  }
}
