import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { enqueueNotifications, JobProducer, newId, recordNotifications } from '@certctl/db';

/**
 * Jobs that wait on someone who may never come back:
 *  - AwaitingCSR longer than CERTCTL_JOB_AWAITING_CSR_TIMEOUT fails (no agent sent a CSR);
 *  - a deployment Running on an agent that stopped heartbeating goes back to Pending for the next poll, or
 *    fails when its attempts are spent — never stranded (upstream hazard §13.2).
 */
@Injectable()
export class JobTimeoutsService {
  private readonly logger = new Logger(JobTimeoutsService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly producer: JobProducer,
  ) {}

  async sweep(): Promise<{ csrTimeouts: number; requeued: number; failed: number }> {
    const csrTimeouts = await this.failStaleCsrWaits();
    const { requeued, failed } = await this.reclaimFromSilentAgents();
    if (csrTimeouts || requeued || failed) this.logger.log({ csrTimeouts, requeued, failed }, 'job timeouts');
    return { csrTimeouts, requeued, failed };
  }

  private async failStaleCsrWaits(): Promise<number> {
    const notificationIds: string[] = [];
    const count = await this.dataSource.transaction(async (tx) => {
      // TypeORM answers an UPDATE with [rows, affected].
      const [rows]: [Array<{ id: string; certificate_id: string }>, number] = await tx.query(
        `UPDATE jobs SET status = 'Failed', completed_at = now(), updated_at = now(),
                last_error = 'no agent submitted a CSR within ' || $1 || ' ms'
          WHERE status = 'AwaitingCSR' AND updated_at < now() - make_interval(secs => $1::numeric / 1000)
          RETURNING id, certificate_id`,
        [this.config.scheduler.awaitingCsrTimeoutMs],
      );
      for (const row of rows) {
        await tx.query(`UPDATE managed_certificates SET status = 'Failed', updated_at = now() WHERE id = $1 AND status = 'RenewalInProgress'`, [row.certificate_id]);
        await tx.query(
          `INSERT INTO audit_events (id, actor, actor_type, action, resource_type, resource_id, details)
           VALUES ($1, 'scheduler', 'System', 'job_timeout', 'job', $2, $3)`,
          [newId('audit'), row.id, JSON.stringify({ reason: 'awaiting CSR' })],
        );
        notificationIds.push(...(await recordNotifications(tx, { type: 'RenewalFailure', certificate_id: row.certificate_id, message: 'renewal failed: no agent submitted a CSR in time' })));
      }
      return rows.length;
    });
    await enqueueNotifications(this.producer, notificationIds);
    return count;
  }

  private async reclaimFromSilentAgents(): Promise<{ requeued: number; failed: number }> {
    const [rows]: [Array<{ id: string; status: string }>, number] = await this.dataSource.query(
      `UPDATE jobs j SET
          status = CASE WHEN j.attempts >= j.max_attempts THEN 'Failed' ELSE 'Pending' END,
          completed_at = CASE WHEN j.attempts >= j.max_attempts THEN now() ELSE NULL END,
          last_error = 'agent ' || j.agent_id || ' went silent while the job was running',
          updated_at = now()
        FROM agents a
       WHERE j.agent_id = a.id AND j.status = 'Running' AND j.type = 'Deployment'
         AND (a.last_heartbeat_at IS NULL OR a.last_heartbeat_at < now() - make_interval(secs => $1::numeric / 1000))
       RETURNING j.id, j.status`,
      [this.config.scheduler.agentOfflineAfterMs],
    );
    return { requeued: rows.filter((r) => r.status === 'Pending').length, failed: rows.filter((r) => r.status === 'Failed').length };
  }
}
