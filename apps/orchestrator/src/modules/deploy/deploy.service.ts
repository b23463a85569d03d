import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { UnrecoverableError } from 'bullmq';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig, DeployConfig, loadDeployConfig } from '@certctl/config';
import { enqueueNotifications, JobEntity, JobProducer, MicroBatcher } from '@certctl/db';
import type { TargetTestOutcome } from '@certctl/contracts';
import {
  CommandError, connectorFor, DeployError, deployCounterIncrements, deployPolicyOf, openTargetConfig, DeployMaterial, DeployOutcome, DeployReport, lockAll,
  messageOf, PostVerifyFailedError, TargetConfigError, useCommandSpawner, useDeployPolicy,
} from '@certctl/deploy';
import { ClusterCounters } from '@certctl/observability';
import { decryptSecret, splitPemChain } from '@certctl/pki';
import { CommandHelper } from './command-helper';
import { DeployStore, JobOutcome, TargetRow } from './deploy.store';
import { HeldLocks, RedisLocks } from './redis-locks';
import { Slots } from './slots';

interface VersionRow {
  pem_chain: string;
  encrypted_private_key: Buffer | null;
}

/** A permanent failure that is not a DeployError (no version, target gone or disabled). */
class DeploymentRefused extends Error {}

/** Versions whose material (leaf, chain, decrypted key) is kept in memory: a deploy wave uses one or a few. */
const MATERIAL_CACHE_SIZE = 16;

/**
 * Runs agentless Deployment jobs: claims the row, loads the target and the certificate's current version (and
 * its server-generated key), and deploys through the target type's connector under a per-target lock held
 * across replicas. The outcome goes on the job row, the certificate's last_deployment_at, a
 * DeploymentSuccess/DeploymentFailure notification, the audit trail and the cluster-wide deploy counters.
 *
 * The database work of jobs running at the same time is grouped (DeployStore): one claim statement and one
 * outcome transaction serve every job that reached that step meanwhile; notification jobs are enqueued in bulk.
 */
@Injectable()
export class DeployService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(DeployService.name);
  readonly settings: DeployConfig = loadDeployConfig();
  /** Version id and digest → material, most recently used last. Never logged: it holds private keys. */
  private readonly materials = new Map<string, Promise<DeployMaterial>>();
  /** `notification id \0 correlation id`: the ids of outcomes committed in the same turn go out in one addBulk. */
  private readonly notificationJobs = new MicroBatcher<string, true>((keys) => this.enqueue(keys), 500, true);
  private readonly commandHelper = CommandHelper.available() ? new CommandHelper() : undefined;
  /** Targets being deployed to by this process at once, whether their rows came as single jobs or in batches. */
  private readonly slots = new Slots(this.settings.concurrency);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly producer: JobProducer,
    private readonly counters: ClusterCounters,
    private readonly locks: RedisLocks,
    private readonly store: DeployStore,
  ) {}

  onModuleInit(): void {
    // Which commands and destination directories target configs may use here: the administrator's settings.
    useDeployPolicy(deployPolicyOf(this.settings));
    if (process.getuid?.() === 0 && !this.settings.commandUser) {
      this.logger.warn('running as root without CERTCTL_DEPLOY_COMMAND_USER: validate and reload commands run as root');
    }
    // Validate and reload commands are forked from a small helper process, not from this one (see CommandHelper).
    if (this.commandHelper) useCommandSpawner(this.commandHelper.spawn);
  }

  /**
   * POST /targets/{id}/test, run here rather than in the api: the config check and the connector's dry run (its
   * validate command against the live files). The message is what the api answers and audits: a command's
   * failure says how it ended, never what it printed (that goes to the debug log).
   */
  async testTarget(targetId: string): Promise<TargetTestOutcome> {
    const rows: Array<Pick<TargetRow, 'type' | 'config' | 'encrypted_config'>> = await this.dataSource.query(
      'SELECT type, config, encrypted_config FROM deployment_targets WHERE id = $1', [targetId]);
    const target = rows[0];
    if (!target) return { status: 'failed', message: `target ${targetId} no longer exists` };
    try {
      const connector = connectorFor(target.type);
      if (!connector) return { status: 'failed', message: `target type ${target.type} has no connector in this build` };
      const config = openTargetConfig(target.config, target.encrypted_config, this.config.pki.encryptionKey);
      connector.validateConfig(config);
      return { status: 'success', message: await connector.validateOnly(config, { commandTimeoutMs: this.settings.commandTimeoutMs }) };
    } catch (err) {
      this.logCommandOutput(targetId, err);
      return { status: 'failed', message: messageOf(err).slice(0, 2000) };
    }
  }

  /** A failed command's output, for whoever debugs this host; never in an answer, a job row or the audit trail. */
  private logCommandOutput(subject: string, err: unknown): void {
    let cause: unknown = err;
    while (cause && !(cause instanceof CommandError)) cause = (cause as { cause?: unknown }).cause;
    if (cause instanceof CommandError && cause.outputTail) this.logger.debug({ subject, command: cause.command, output: cause.outputTail }, 'command output');
  }

  onModuleDestroy(): void {
    useCommandSpawner();
    this.commandHelper?.close();
  }

  /** One Deployment row (a `certificate.deploy` job). */
  run(jobId: string, correlationId?: string): Promise<void> {
    return this.deploy(jobId, correlationId);
  }

  /**
   * The rows of a `certificate.deploy.batch` job, concurrently within this process's limit. Each row is claimed,
   * deployed and recorded exactly as a single job's. Rows already finished are skipped by the claim, so a retried
   * batch (or one taken over after a crash) deploys only the rest. When a row failed with a transport error (it went
   * back to Pending), the batch throws once all rows are done, and BullMQ retries it with backoff.
   */
  async runBatch(jobIds: string[], correlationId?: string): Promise<void> {
    const retried: string[] = [];
    let firstError: unknown;
    // Every row is claimed at once (one statement), then deployed as this process's slots free up.
    const claims = jobIds.map((id) => this.store.claim(id));
    // A claim that fails is awaited (and reported) in its row's turn; until then it must not count as unhandled.
    for (const claim of claims) claim.catch(() => undefined);
    await Promise.all(jobIds.map((id, i) => this.deploy(id, correlationId, claims[i]).catch((err: unknown) => {
      if (err instanceof UnrecoverableError) return; // final: recorded on the row, never retried
      retried.push(id);
      firstError ??= err;
    })));
    if (retried.length) throw new Error(`${retried.length} of ${jobIds.length} deployments will be retried (first: ${messageOf(firstError)})`);
  }

  private async deploy(jobId: string, correlationId?: string, claim = this.store.claim(jobId)): Promise<void> {
    const claimed = await claim;
    if (!claimed) return;
    const { job, target, versionId, versionDigest } = claimed;
    const targetType = target?.type ?? 'unknown';
    let outcome: DeployOutcome;
    try {
      if (!target) throw new DeploymentRefused(`target ${job.target_id} no longer exists`);
      if (!target.enabled || target.retired_at) throw new DeploymentRefused(`target ${target.id} is ${target.retired_at ? 'retired' : 'disabled'}`);
      const connector = connectorFor(target.type);
      if (!connector) throw new DeploymentRefused(`target type ${target.type} has no connector in this build`);
      // Secrets (an SSH password or key) are kept encrypted in the row and opened only here, in memory.
      const config = openTargetConfig(target.config, target.encrypted_config, this.config.pki.encryptionKey);
      connector.validateConfig(config);
      const material = await this.material(job.certificate_id, versionId, versionDigest);
      outcome = await this.withTargetLock(target.id, (crossProcessLock, fence) => connector.deploy(config, material, {
        commandTimeoutMs: this.settings.commandTimeoutMs,
        backupRetention: this.settings.backupRetention,
        crossProcessLock,
        fence,
      }));
    } catch (err) {
      return this.failed(job, targetType, err, correlationId);
    }
    await this.succeeded(job, target, outcome, correlationId);
  }

  /**
   * One deployment per target at a time, in this process and across replicas. The connector's own locks (its
   * destination paths) are taken under the same Redis token and released with the target's, in one round trip.
   * The work holds one of this process's slots from the Redis lock to the connector's end: waiting for the local
   * lock, releasing the Redis locks and recording the outcome (grouped with others') hold none. The Redis lock is a
   * lease renewed while the work runs; `fence` is its fencing check, which the connector asks before it commits.
   */
  private async withTargetLock<T>(
    targetId: string,
    work: (crossProcessLock: (names: string[]) => Promise<() => Promise<void>>, fence: () => Promise<void>) => Promise<T>,
  ): Promise<T> {
    const releaseLocal = await lockAll([`target:${targetId}`]);
    let remote: HeldLocks | undefined;
    try {
      return await this.slots.run(async () => {
        remote = await this.locks.acquire([`target:${targetId}`]);
        const held = remote;
        return work(async (names) => {
          await held.extend(names.map((p) => `path:${p}`));
          return async () => undefined;
        }, () => held.confirm());
      });
    } finally {
      try {
        await remote?.release();
      } finally {
        releaseLocal();
      }
    }
  }

  /** The newest version's leaf, chain and, when the key was generated here, the decrypted key; decrypted once per version. */
  private material(certificateId: string, versionId: string | null, digest: string | null): Promise<DeployMaterial> {
    if (!versionId) return Promise.reject(new DeploymentRefused(`certificate ${certificateId} has no issued version`));
    // The digest keeps a version whose row was rewritten (its key replaced) from being served from memory.
    const key = `${versionId}:${digest ?? ''}`;
    const cached = this.materials.get(key);
    if (cached) {
      this.materials.delete(key);
      this.materials.set(key, cached);
      return cached;
    }
    const loading = this.loadMaterial(certificateId, versionId);
    this.materials.set(key, loading);
    if (this.materials.size > MATERIAL_CACHE_SIZE) this.materials.delete(this.materials.keys().next().value!);
    loading.catch(() => {
      if (this.materials.get(key) === loading) this.materials.delete(key);
    });
    return loading;
  }

  private async loadMaterial(certificateId: string, versionId: string): Promise<DeployMaterial> {
    const rows: VersionRow[] = await this.dataSource.query(`SELECT pem_chain, encrypted_private_key FROM certificate_versions WHERE id = $1`, [versionId]);
    const version = rows[0];
    if (!version) throw new DeploymentRefused(`certificate ${certificateId} has no issued version`);
    const [leaf = '', ...chain] = splitPemChain(version.pem_chain);
    let keyPem: string | null = null;
    if (version.encrypted_private_key) {
      const secret = this.config.pki.encryptionKey;
      if (!secret) throw new DeploymentRefused('CERTCTL_CONFIG_ENCRYPTION_KEY is not set: the stored private key cannot be read');
      keyPem = decryptSecret(version.encrypted_private_key, secret).toString('utf8');
    }
    // Shared by every job of this version: frozen, so no connector can change it for the others.
    return Object.freeze({ certPem: leaf, chainPem: chain.join(''), keyPem, certificateId });
  }

  private async succeeded(job: JobEntity, target: TargetRow, outcome: DeployOutcome, correlationId?: string): Promise<void> {
    const now = new Date();
    const result = {
      outcome: outcome.skippedAsIdempotent ? 'idempotent_skip' : 'deployed', skipped_as_idempotent: outcome.skippedAsIdempotent,
      validate_ok: outcome.validateOk, reloaded: outcome.reloaded, rolled_back: false, backup_paths: outcome.backupPaths,
      duration_ms: Math.round(outcome.durationMs), verification_note: outcome.verification.note ?? null,
    };
    await this.commit({
      jobId: job.id, certificateId: job.certificate_id, onlyIfRunning: true, touchesCertificate: true,
      row: {
        status: 'Completed', completed_at: now, last_error: null, deployment_result: result,
        verification: {
          status: outcome.verification.status, verifiedAt: outcome.verification.verifiedAt,
          fingerprint: outcome.verification.fingerprint, error: null,
        },
      },
      notification: {
        type: 'DeploymentSuccess', certificate_id: job.certificate_id,
        message: outcome.skippedAsIdempotent ? `target ${target.name} already serves the current version (no change)` : `deployed to target ${target.name} (${target.type})`,
      },
      audit: { action: 'deployment_job_completed', details: { certificate_id: job.certificate_id, target_id: target.id, ...result } },
    }, correlationId);
    await this.count({ targetType: target.type, success: true, skippedAsIdempotent: outcome.skippedAsIdempotent });
  }

  /**
   * Records a failed attempt. Validate, reload, verification and config failures are final (another attempt would
   * do the same, and the files were restored); transport errors go back to Pending and are retried by BullMQ.
   */
  private async failed(job: JobEntity, targetType: string, err: unknown, correlationId?: string): Promise<never> {
    const message = messageOf(err).slice(0, 2000);
    this.logCommandOutput(job.id, err);
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
      await this.store.backToPending(job.id, message);
      this.logger.warn({ jobId: job.id, attempt: job.attempts, err: message }, 'deployment attempt failed; will retry');
      throw err instanceof Error ? err : new Error(message);
    }
    const result = {
      outcome: 'failed', failed_stage: report.failedStage, rolled_back: deployError?.rollback === 'restored',
      rollback: deployError?.rollback ?? null, backup_paths: deployError?.backupPaths ?? [],
    };
    const verifyFailed = err instanceof PostVerifyFailedError || stage === 'post_verify';
    await this.commit({
      jobId: job.id, certificateId: job.certificate_id, onlyIfRunning: false, touchesCertificate: false,
      row: {
        status: 'Failed', last_error: message, completed_at: new Date(), deployment_result: result,
        verification: verifyFailed
          ? { status: 'failed', error: message, fingerprint: (err as PostVerifyFailedError).servedFingerprint ?? null }
          : undefined,
      },
      notification: { type: 'DeploymentFailure', certificate_id: job.certificate_id, message: `deployment to target ${job.target_id} failed: ${message}` },
      audit: { action: 'deployment_job_failed', details: { certificate_id: job.certificate_id, target_id: job.target_id, attempts: job.attempts, error: message, ...result } },
    }, correlationId);
    this.logger.warn({ jobId: job.id, targetType, stage: report.failedStage, err: message }, 'deployment failed');
    throw new UnrecoverableError(message);
  }

  /** Writes the outcome (grouped with other jobs'), then enqueues its notifications once that has committed. */
  private async commit(outcome: JobOutcome, correlationId?: string): Promise<void> {
    const notificationIds = await this.store.record(outcome);
    await Promise.all(notificationIds.map((id) => this.notificationJobs.add(`${id}\0${correlationId ?? ''}`)));
  }

  private async enqueue(keys: string[]): Promise<Map<string, true>> {
    const byCorrelation = new Map<string, string[]>();
    for (const key of keys) {
      const [id = '', correlationId = ''] = key.split('\0');
      const ids = byCorrelation.get(correlationId) ?? [];
      ids.push(id);
      byCorrelation.set(correlationId, ids);
    }
    for (const [correlationId, ids] of byCorrelation) await enqueueNotifications(this.producer, ids, correlationId || undefined);
    return new Map(keys.map((k) => [k, true]));
  }

  private async count(report: DeployReport): Promise<void> {
    await Promise.all(deployCounterIncrements(report).map((c) => this.counters.increment(c.name, c.labels)));
  }
}
