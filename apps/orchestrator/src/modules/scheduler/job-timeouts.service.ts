import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { enqueueNotifications, JobProducer, newId, recordNotifications } from '@certctl/db';

/**
 * Jobs that wait on someone who may never come back:
 *  - AwaitingCSR longer than CERTCTL_JOB_AWAITING_CSR_TIMEOUT fails (no agent sent a CSR);
 *  - a deployment Running on an agent that stopped heartbeating goes back to Pending for the next poll, or
 *    fails when its attempts are spent — never stranded (upstream hazard §13.2);
 *  - an approval request nobody decided within CERTCTL_APPROVAL_TTL expires: its held job fails with that reason
 *    (the jobs trigger marks the request `expired`), a profile edit is dropped.
 */
@Injectable()
export class JobTimeoutsService {
  private readonly logger = new Logger(JobTimeoutsService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly producer: JobProducer,
  ) {}

  async sweep(): Promise<{ csrTimeouts: number; requeued: number; failed: number; approvalsExpired: number }> {
    const csrTimeouts = await this.failStaleCsrWaits();
    const { requeued, failed } = await this.reclaimFromSilentAgents();
    const approvalsExpired = await this.expireStaleApprovals();
    if (csrTimeouts || requeued || failed || approvalsExpired) this.logger.log({ csrTimeouts, requeued, failed, approvalsExpired }, 'job timeouts');
    return { csrTimeouts, requeued, failed, approvalsExpired };
  }

  private async expireStaleApprovals(): Promise<number> {
    const ttlMs = this.config.approvals.ttlMs;
    const reason = `approval expired: no decision within ${formatDuration(ttlMs)}`;
    return this.dataSource.transaction(async (tx) => {
      const [jobs]: [Array<{ id: string; certificate_id: string; type: string; approval_id: string }>, number] = await tx.query(
        `UPDATE jobs j SET status = 'Failed', completed_at = now(), updated_at = now(), last_error = $2
           FROM issuance_approval_requests a
          WHERE a.job_id = j.id AND a.state = 'pending' AND a.approval_kind = 'cert_issuance' AND j.status = 'AwaitingApproval'
            AND a.created_at < now() - make_interval(secs => $1::numeric / 1000)
          RETURNING j.id, j.certificate_id, j.type, a.id AS approval_id`,
        [ttlMs, reason],
      );
      // Nothing was attempted: the certificate goes back to where it was before the request.
      for (const job of jobs) {
        await tx.query(`UPDATE managed_certificates SET status = $2, updated_at = now() WHERE id = $1 AND status = 'RenewalInProgress'`,
          [job.certificate_id, job.type === 'Issuance' ? 'Pending' : 'Active']);
      }
      const [edits]: [Array<{ id: string; profile_id: string }>, number] = await tx.query(
        `UPDATE issuance_approval_requests SET state = 'expired', decided_by = 'system', decided_at = now(), decision_note = $2, updated_at = now()
          WHERE state = 'pending' AND approval_kind = 'profile_edit' AND created_at < now() - make_interval(secs => $1::numeric / 1000)
          RETURNING id, profile_id`,
        [ttlMs, reason],
      );
      const expired = [...jobs.map((j) => ({ id: j.approval_id, job_id: j.id, profile_id: null })), ...edits.map((e) => ({ id: e.id, job_id: null, profile_id: e.profile_id }))];
      if (expired.length) {
        await tx.query(
          `INSERT INTO audit_events (id, actor, actor_type, action, resource_type, resource_id, event_category, details)
           SELECT x.audit_id, 'scheduler', 'System', 'approval_expired', 'approval', x.id, 'cert_lifecycle', jsonb_build_object('job_id', x.job_id, 'profile_id', x.profile_id, 'reason', $2::text)
             FROM jsonb_to_recordset($1::jsonb) AS x(audit_id text, id text, job_id text, profile_id text)`,
          [JSON.stringify(expired.map((e) => ({ ...e, audit_id: newId('audit') }))), reason],
        );
      }
      return expired.length;
    });
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

function formatDuration(ms: number): string {
  return ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 ? `${ms / 60_000}m` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
