import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import type { JobType } from 'bullmq';
import { JobMap, JobName, queueJobId } from '@certctl/contracts';
import { issuanceJobOptions, JobEntity, JobProducer, REVOKE_AT_CA_JOB_OPTIONS } from '@certctl/db';

const LIVE_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/**
 * Postgres is the truth; Redis only carries work. Rows that are due (Pending issuance jobs, Pending agentless
 * deployments) but have no live queue job — Redis flushed, a crash between commit and enqueue — are enqueued
 * again. A queue job left completed or failed while its row is still Pending is replaced. Revocations the CA has
 * not been told of (an ACME issuer's certificate_revocations rows with issuer_notified = false) get a new
 * `certificate.revoke` job when theirs is gone or has used up its attempts: a revocation is never dropped.
 */
@Injectable()
export class ReconcilerService {
  private readonly logger = new Logger(ReconcilerService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly producer: JobProducer,
  ) {}

  async reconcile(minAgeMs = 5_000): Promise<number> {
    const rows: JobEntity[] = await this.dataSource.query(
      `SELECT * FROM jobs
        WHERE status = 'Pending' AND updated_at < now() - make_interval(secs => $1::numeric / 1000)
          AND (type IN ('Issuance', 'Renewal') OR (type = 'Deployment' AND agent_id IS NULL))
        ORDER BY scheduled_at LIMIT 1000`,
      [minAgeMs],
    );
    let enqueued = 0;
    const inLiveBatch = rows.some((r) => r.type === 'Deployment') ? await this.rowsOfLiveDeployBatches() : new Set<string>();
    for (const row of rows) {
      const deploy = row.type === 'Deployment';
      // A row waiting in a batch job (e.g. one delayed for its retry) has its queue job already.
      if (deploy && inLiveBatch.has(row.id)) continue;
      const names: JobName[] = deploy ? ['certificate.deploy'] : ['certificate.issue', 'certificate.renew', 'csr.sign'];
      const queue = this.producer.queue(deploy ? 'deploy' : 'issuance');
      let live = false;
      for (const name of names) {
        const existing = await queue.getJob(queueJobId(name, row.id));
        if (!existing) continue;
        const state = await existing.getState();
        if (LIVE_STATES.has(state)) live = true;
        else await existing.remove().catch(() => undefined); // finished in Redis but not in Postgres: run again
      }
      if (live) continue;
      const name: JobName = deploy ? 'certificate.deploy' : row.csr_pem ? 'csr.sign' : row.type === 'Issuance' ? 'certificate.issue' : 'certificate.renew';
      await this.producer.enqueue(name, { jobId: row.id }, row.id, deploy ? {} : issuanceJobOptions(this.config, row));
      enqueued++;
    }
    enqueued += await this.untoldRevocations(minAgeMs);
    enqueued += await this.orphanedAcmeValidations(minAgeMs);
    await this.expireAcmeOrders();
    if (enqueued) this.logger.warn({ enqueued }, 'reconciler re-enqueued due jobs that had no live queue job');
    return enqueued;
  }

  /** Certificates with a revocation the CA has not acknowledged and no live `certificate.revoke` job: queued again. */
  private async untoldRevocations(minAgeMs: number): Promise<number> {
    const rows: Array<{ certificate_id: string }> = await this.dataSource.query(
      `SELECT certificate_id FROM certificate_revocations
        WHERE NOT issuer_notified AND revoked_at < now() - make_interval(secs => $1::numeric / 1000)
        GROUP BY certificate_id ORDER BY min(revoked_at) LIMIT 1000`,
      [minAgeMs],
    );
    let enqueued = 0;
    const queue = this.producer.queue('issuance');
    for (const { certificate_id: certificateId } of rows) {
      const existing = await queue.getJob(queueJobId('certificate.revoke', certificateId));
      if (existing) {
        if (LIVE_STATES.has(await existing.getState())) continue;
        await existing.remove().catch(() => undefined); // out of attempts (the row says why): a new round
      }
      await this.producer.enqueue('certificate.revoke', { certificateId }, certificateId, REVOKE_AT_CA_JOB_OPTIONS);
      enqueued++;
    }
    return enqueued;
  }

  /** ACME orders and authorizations past their expiry that nobody read since: invalid and expired (RFC 8555 §7.1.6). */
  async expireAcmeOrders(): Promise<void> {
    await this.dataSource.query(`UPDATE acme_authorizations SET status = 'expired', updated_at = now() WHERE status = 'pending' AND expires_at <= now()`);
    await this.dataSource.query(
      `UPDATE acme_orders SET status = 'invalid', updated_at = now(),
              error = '{"type": "urn:ietf:params:acme:error:malformed", "detail": "the order expired before it was finalized"}'::jsonb
        WHERE status IN ('pending', 'ready') AND expires_at <= now()`,
    );
  }

  /** ACME challenges left `processing` (the client answered) with no live acme.validate job: queued again. */
  private async orphanedAcmeValidations(minAgeMs: number): Promise<number> {
    const rows: Array<{ id: string }> = await this.dataSource.query(
      `SELECT id FROM acme_challenges WHERE status = 'processing' AND updated_at < now() - make_interval(secs => $1::numeric / 1000)
        ORDER BY updated_at LIMIT 1000`,
      [minAgeMs],
    );
    let enqueued = 0;
    const queue = this.producer.queue('acme-validation');
    for (const { id } of rows) {
      const existing = await queue.getJob(queueJobId('acme.validate', id));
      if (existing) {
        if (LIVE_STATES.has(await existing.getState())) continue;
        await existing.remove().catch(() => undefined);
      }
      await this.producer.enqueue('acme.validate', { challengeId: id }, id);
      enqueued++;
    }
    return enqueued;
  }

  /** The Deployment rows carried by `certificate.deploy.batch` jobs not yet finished in Redis. */
  private async rowsOfLiveDeployBatches(): Promise<Set<string>> {
    const jobs = await this.producer.queue('deploy').getJobs([...LIVE_STATES] as JobType[]);
    const ids = new Set<string>();
    for (const job of jobs) {
      if (job?.name === 'certificate.deploy.batch') for (const id of (job.data as JobMap['certificate.deploy.batch']).jobIds) ids.add(id);
    }
    return ids;
  }
}
