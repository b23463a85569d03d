import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { AuditEventEntity, enqueueNotifications, issuanceJobOptions, JobProducer, LifecycleError, newId, openRenewalJob, recordNotifications } from '@certctl/db';

export interface SweepResult {
  statusChanges: number;
  renewalsOpened: number;
  warningsSent: number;
}

const BATCH = 500;

/**
 * The renewal sweep (certctl's renewal loop, minus its bugs):
 *  - Active/Expiring/Expired statuses follow expires_at (Expiring = within 30 days);
 *  - a certificate inside its policy's renewal window, or whose ACME renewal time (RFC 9773, chosen inside the
 *    CA's suggested window by AriCheckService) has passed, with auto_renew on and no open job, gets a Renewal
 *    job (which the approval gate may hold). The ARI time counts only while it belongs to the newest version;
 *    without an ARI answer the policy window alone decides;
 *  - expiry warnings go out at the policy's thresholds, once per certificate, threshold and expiry date.
 */
@Injectable()
export class RenewalSweepService {
  private readonly logger = new Logger(RenewalSweepService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly producer: JobProducer,
  ) {}

  async sweep(): Promise<SweepResult> {
    const statusChanges = await this.updateExpiryStatuses();
    const renewalsOpened = await this.openDueRenewals();
    const warningsSent = await this.sendExpiryWarnings();
    if (statusChanges || renewalsOpened || warningsSent) this.logger.log({ statusChanges, renewalsOpened, warningsSent }, 'renewal sweep');
    return { statusChanges, renewalsOpened, warningsSent };
  }

  private async updateExpiryStatuses(): Promise<number> {
    const result: [unknown[], number] = await this.dataSource.query(`
      UPDATE managed_certificates SET status = CASE
          WHEN expires_at <= now() THEN 'Expired'
          WHEN expires_at <= now() + interval '30 days' THEN 'Expiring'
          ELSE 'Active' END,
        updated_at = now()
      WHERE status IN ('Active', 'Expiring', 'Expired') AND expires_at IS NOT NULL
        AND status <> CASE WHEN expires_at <= now() THEN 'Expired'
          WHEN expires_at <= now() + interval '30 days' THEN 'Expiring' ELSE 'Active' END`);
    return result[1] ?? 0;
  }

  private async openDueRenewals(): Promise<number> {
    let opened = 0;
    for (;;) {
      const due: Array<{ id: string; reason: 'ari_window' | 'policy_window' }> = await this.dataSource.query(
        `SELECT c.id, CASE WHEN c.expires_at <= now() + make_interval(days => p.renewal_window_days)
                           THEN 'policy_window' ELSE 'ari_window' END AS reason
           FROM managed_certificates c JOIN renewal_policies p ON p.id = c.renewal_policy_id
           LEFT JOIN certificate_renewal_info r ON r.certificate_id = c.id
          WHERE c.status IN ('Active', 'Expiring', 'Expired') AND p.auto_renew
            AND (c.expires_at <= now() + make_interval(days => p.renewal_window_days)
                 OR (r.selected_renewal_at <= now()
                     AND r.certificate_version_id = (SELECT v.id FROM certificate_versions v WHERE v.certificate_id = c.id
                                                      ORDER BY v.created_at DESC, v.id DESC LIMIT 1)))
            AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.certificate_id = c.id AND j.type IN ('Issuance', 'Renewal')
                              AND j.status IN ('Pending', 'AwaitingCSR', 'AwaitingApproval', 'Running'))
          ORDER BY c.expires_at LIMIT $1`,
        [BATCH],
      );
      for (const { id, reason } of due) {
        const job = await this.dataSource.transaction(async (tx) => {
          try {
            const { job } = await openRenewalJob(tx, id, { requestedBy: 'system' });
            await tx.insert(AuditEventEntity, {
              id: newId('audit'), actor: 'scheduler', actor_type: 'System', action: 'renewal_job_created', resource_type: 'certificate',
              resource_id: id, event_category: 'cert_lifecycle', details: { job_id: job.id, status: job.status, reason } as never,
            });
            return job;
          } catch (err) {
            if (err instanceof LifecycleError) return undefined;
            throw err;
          }
        });
        if (!job) continue;
        opened++;
        if (job.status === 'Pending') {
          await this.producer.enqueue('certificate.renew', { jobId: job.id }, job.id, issuanceJobOptions(this.config, job));
        }
      }
      if (due.length < BATCH) return opened;
    }
  }

  private async sendExpiryWarnings(): Promise<number> {
    // Each (certificate, crossed threshold, expiry) once; the smallest crossed threshold is the one reported.
    const due: Array<{ id: string; common_name: string; expires_at: Date; threshold: number }> = await this.dataSource.query(`
      SELECT c.id, c.common_name, c.expires_at, min(t.threshold)::int AS threshold
        FROM managed_certificates c
        JOIN renewal_policies p ON p.id = c.renewal_policy_id
        CROSS JOIN LATERAL jsonb_array_elements_text(p.alert_thresholds_days) AS t_raw(value)
        CROSS JOIN LATERAL (SELECT t_raw.value::int AS threshold) t
       WHERE c.status NOT IN ('Archived', 'Revoked', 'Pending') AND c.expires_at IS NOT NULL
         AND c.expires_at <= now() + make_interval(days => t.threshold)
         AND NOT EXISTS (SELECT 1 FROM certificate_expiry_alerts a
                          WHERE a.certificate_id = c.id AND a.threshold_days = t.threshold AND a.not_after = c.expires_at)
       GROUP BY c.id, c.common_name, c.expires_at
       LIMIT 1000`);
    let sent = 0;
    for (const cert of due) {
      const ids = await this.dataSource.transaction(async (tx) => {
        // Mark every threshold already crossed, so a certificate found late does not get one warning per threshold.
        const marked: unknown[] = await tx.query(
          `INSERT INTO certificate_expiry_alerts (certificate_id, threshold_days, not_after)
           SELECT $1, t.value::int, $2 FROM renewal_policies p, managed_certificates c, jsonb_array_elements_text(p.alert_thresholds_days) t
            WHERE c.id = $1 AND p.id = c.renewal_policy_id AND $2::timestamptz <= now() + make_interval(days => t.value::int)
           ON CONFLICT DO NOTHING RETURNING threshold_days`,
          [cert.id, cert.expires_at],
        );
        if (!marked.length) return [];
        const daysLeft = Math.floor((new Date(cert.expires_at).getTime() - Date.now()) / 86_400_000);
        return recordNotifications(tx, {
          type: 'ExpirationWarning', certificate_id: cert.id, threshold_days: cert.threshold,
          message: daysLeft >= 0 ? `${cert.common_name} expires in ${daysLeft} day(s), on ${new Date(cert.expires_at).toISOString()}` : `${cert.common_name} expired on ${new Date(cert.expires_at).toISOString()}`,
        });
      });
      if (ids.length) sent++;
      await enqueueNotifications(this.producer, ids);
    }
    return sent;
  }
}
