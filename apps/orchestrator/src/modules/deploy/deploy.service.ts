import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { UnrecoverableError } from 'bullmq';
import { DataSource, EntityManager, IsNull } from 'typeorm';
import { APP_CONFIG, AppConfig, DeployConfig, loadDeployConfig } from '@certctl/config';
import {
  AuditEventEntity, DeploymentTargetEntity, enqueueNotifications, JobEntity, JobProducer, ManagedCertificateEntity, newId, recordNotifications,
} from '@certctl/db';
import {
  connectorFor, DeployError, deployCounterIncrements, openTargetConfig, DeployMaterial, DeployOutcome, DeployReport, lockAll, messageOf, PostVerifyFailedError,
  TargetConfigError,
} from '@certctl/deploy';
import { ClusterCounters } from '@certctl/observability';
import { decryptSecret, splitPemChain } from '@certctl/pki';
import { RedisLocks } from './redis-locks';

interface VersionRow {
  id: string;
  pem_chain: string;
  fingerprint_sha256: string;
  encrypted_private_key: Buffer | null;
}

/** A permanent failure that is not a DeployError (no version, target gone or disabled). */
class DeploymentRefused extends Error {}

/**
 * Runs agentless Deployment jobs: claims the row, loads the target and the certificate's current version (and
 * its server-generated key), and deploys through the target type's connector under a per-target lock held
 * across replicas. The outcome goes on the job row, the certificate's last_deployment_at, a
 * DeploymentSuccess/DeploymentFailure notification, the audit trail and the cluster-wide deploy counters.
 */
@Injectable()
export class DeployService {
  private readonly logger = new Logger(DeployService.name);
  readonly settings: DeployConfig = loadDeployConfig();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly producer: JobProducer,
    private readonly counters: ClusterCounters,
    private readonly locks: RedisLocks,
  ) {}

  async run(jobId: string, correlationId?: string): Promise<void> {
    const job = await this.claim(jobId);
    if (!job) return;
    const target = await this.dataSource.manager.getRepository(DeploymentTargetEntity).createQueryBuilder('t')
      .addSelect('t.encrypted_config').where('t.id = :id', { id: job.target_id ?? '' }).getOne();
    const targetType = target?.type ?? 'unknown';
    try {
      if (!target) throw new DeploymentRefused(`target ${job.target_id} no longer exists`);
      if (!target.enabled || target.retired_at) throw new DeploymentRefused(`target ${target.id} is ${target.retired_at ? 'retired' : 'disabled'}`);
      const connector = connectorFor(target.type);
      if (!connector) throw new DeploymentRefused(`target type ${target.type} has no connector in this build`);
      // Secrets (an SSH password or key) are kept encrypted in the row and opened only here, in memory.
      const config = openTargetConfig(target.config, target.encrypted_config, this.config.pki.encryptionKey);
      connector.validateConfig(config);
      const material = await this.material(job.certificate_id);
      const outcome = await this.withTargetLock(target.id, () => connector.deploy(config, material, {
        commandTimeoutMs: this.settings.commandTimeoutMs,
        backupRetention: this.settings.backupRetention,
        crossProcessLock: (paths) => this.locks.acquire(paths.map((p) => `path:${p}`)),
      }));
      await this.succeeded(job, target, outcome, correlationId);
    } catch (err) {
      await this.failed(job, targetType, err, correlationId);
    }
  }

  /** Pending (or Running, when a previous worker died holding it) → Running, counting the attempt. Agent jobs are never taken. */
  private async claim(jobId: string): Promise<JobEntity | undefined> {
    const [rows]: [JobEntity[], number] = await this.dataSource.query(
      `UPDATE jobs SET status = 'Running', attempts = attempts + 1, started_at = COALESCE(started_at, now()), updated_at = now()
        WHERE id = $1 AND type = 'Deployment' AND agent_id IS NULL AND status IN ('Pending', 'Running')
        RETURNING *`,
      [jobId],
    );
    return rows[0] ? this.dataSource.manager.create(JobEntity, rows[0]) : undefined;
  }

  /** One deployment per target at a time, in this process and across replicas. */
  private async withTargetLock<T>(targetId: string, work: () => Promise<T>): Promise<T> {
    const releaseLocal = await lockAll([`target:${targetId}`]);
    try {
      const releaseRemote = await this.locks.acquire([`target:${targetId}`]);
      try {
        return await work();
      } finally {
        await releaseRemote();
      }
    } finally {
      releaseLocal();
    }
  }

  /** The newest version: leaf, chain and, when the key was generated here, the decrypted key (never logged). */
  private async material(certificateId: string): Promise<DeployMaterial> {
    const rows: VersionRow[] = await this.dataSource.query(
      `SELECT id, pem_chain, fingerprint_sha256, encrypted_private_key FROM certificate_versions
        WHERE certificate_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1`,
      [certificateId],
    );
    const version = rows[0];
    if (!version) throw new DeploymentRefused(`certificate ${certificateId} has no issued version`);
    const [leaf = '', ...chain] = splitPemChain(version.pem_chain);
    let keyPem: string | null = null;
    if (version.encrypted_private_key) {
      const secret = this.config.pki.encryptionKey;
      if (!secret) throw new DeploymentRefused('CERTCTL_CONFIG_ENCRYPTION_KEY is not set: the stored private key cannot be read');
      keyPem = decryptSecret(version.encrypted_private_key, secret).toString('utf8');
    }
    return { certPem: leaf, chainPem: chain.join(''), keyPem, certificateId };
  }

  private async succeeded(job: JobEntity, target: DeploymentTargetEntity, outcome: DeployOutcome, correlationId?: string): Promise<void> {
    const now = new Date();
    const result = {
      outcome: outcome.skippedAsIdempotent ? 'idempotent_skip' : 'deployed', skipped_as_idempotent: outcome.skippedAsIdempotent,
      validate_ok: outcome.validateOk, reloaded: outcome.reloaded, rolled_back: false, backup_paths: outcome.backupPaths,
      duration_ms: Math.round(outcome.durationMs), verification_note: outcome.verification.note ?? null,
    };
    const notificationIds = await this.dataSource.transaction(async (tx) => {
      const updated = await tx.update(JobEntity, { id: job.id, status: 'Running' }, {
        status: 'Completed', completed_at: now, last_error: null, deployment_result: result as never,
        verification_status: outcome.verification.status, verified_at: outcome.verification.verifiedAt,
        verification_fingerprint: outcome.verification.fingerprint, verification_error: null,
      });
      if (!updated.affected) return [];
      const ids = await recordNotifications(tx, {
        type: 'DeploymentSuccess', certificate_id: job.certificate_id,
        message: outcome.skippedAsIdempotent ? `target ${target.name} already serves the current version (no change)` : `deployed to target ${target.name} (${target.type})`,
      });
      // Row locks shared by every deployment (the certificate, the audit chain head) are taken last, so they are held briefly.
      await tx.update(ManagedCertificateEntity, { id: job.certificate_id }, { last_deployment_at: now });
      await audit(tx, 'deployment_job_completed', job.id, { certificate_id: job.certificate_id, target_id: target.id, ...result });
      return ids;
    });
    await enqueueNotifications(this.producer, notificationIds, correlationId);
    await this.count({ targetType: target.type, success: true, skippedAsIdempotent: outcome.skippedAsIdempotent });
  }

  /**
   * Records a failed attempt. Validate, reload, verification and config failures are final (another attempt would
   * do the same, and the files were restored); transport errors go back to Pending and are retried by BullMQ.
   */
  private async failed(job: JobEntity, targetType: string, err: unknown, correlationId?: string): Promise<never> {
    const message = messageOf(err).slice(0, 2000);
    const deployError = err instanceof DeployError ? err : null;
    const stage = deployError?.stage;
    const report: DeployReport = {
      targetType, success: false, rollback: deployError?.rollback ?? null,
      failedStage: stage === 'validate' || stage === 'reload' || stage === 'post_verify' ? stage : 'other',
    };
    await this.count(report);
    const permanent = err instanceof DeploymentRefused || err instanceof TargetConfigError || Boolean(deployError && (deployError.permanent || deployError.rollback));
    const final = permanent || job.attempts >= job.max_attempts;
    if (!final) {
      await this.dataSource.manager.update(JobEntity, { id: job.id, status: 'Running' }, { status: 'Pending', last_error: message });
      this.logger.warn({ jobId: job.id, attempt: job.attempts, err: message }, 'deployment attempt failed; will retry');
      throw err instanceof Error ? err : new Error(message);
    }
    const result = {
      outcome: 'failed', failed_stage: report.failedStage, rolled_back: deployError?.rollback === 'restored',
      rollback: deployError?.rollback ?? null, backup_paths: deployError?.backupPaths ?? [],
    };
    const notificationIds = await this.dataSource.transaction(async (tx) => {
      const updated = await tx.update(JobEntity, { id: job.id, completed_at: IsNull() }, {
        status: 'Failed', last_error: message, completed_at: new Date(), deployment_result: result as never,
        ...(err instanceof PostVerifyFailedError || stage === 'post_verify'
          ? { verification_status: 'failed' as const, verification_error: message, verification_fingerprint: (err as PostVerifyFailedError).servedFingerprint ?? null }
          : {}),
      });
      if (!updated.affected) return [];
      const ids = await recordNotifications(tx, { type: 'DeploymentFailure', certificate_id: job.certificate_id, message: `deployment to target ${job.target_id} failed: ${message}` });
      await audit(tx, 'deployment_job_failed', job.id, { certificate_id: job.certificate_id, target_id: job.target_id, attempts: job.attempts, error: message, ...result });
      return ids;
    });
    await enqueueNotifications(this.producer, notificationIds, correlationId);
    this.logger.warn({ jobId: job.id, targetType, stage: report.failedStage, err: message }, 'deployment failed');
    throw new UnrecoverableError(message);
  }

  private async count(report: DeployReport): Promise<void> {
    await Promise.all(deployCounterIncrements(report).map((c) => this.counters.increment(c.name, c.labels)));
  }
}

async function audit(tx: EntityManager, action: string, jobId: string, details: Record<string, unknown>): Promise<void> {
  await tx.insert(AuditEventEntity, {
    id: newId('audit'), actor: 'orchestrator', actor_type: 'System', action, resource_type: 'job', resource_id: jobId,
    event_category: 'cert_lifecycle', details: details as never,
  });
}
