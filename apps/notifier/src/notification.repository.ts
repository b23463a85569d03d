import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { NotificationWithCertificate } from './channels/alert-message';
import { MicroBatcher } from '@certctl/db';

export interface DeliveryRow extends NotificationWithCertificate {
  channel: string;
  status: string;
  retry_count: number;
  last_error: string | null;
}

/**
 * The notifier's SQL. Every write is guarded by the statuses it may leave from, so a duplicate job or a row
 * requeued meanwhile is never moved backwards (a sent row stays sent).
 */
@Injectable()
export class NotificationRepository {
  /** Loads of one event-loop turn share one query. */
  private readonly loads = new MicroBatcher<string, DeliveryRow | undefined>((ids) => this.loadMany(ids), 200, undefined);
  /** Deliveries finishing together are marked sent by one UPDATE (one commit instead of dozens). */
  private readonly sends = new MicroBatcher<string, boolean>((ids) => this.markSentMany(ids), 200, false);

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The row and its certificate as it is now (name, CN and expiry are null when the certificate is gone). */
  load(id: string): Promise<DeliveryRow | undefined> {
    return this.loads.add(id);
  }

  /**
   * Delivered: retry_count is kept, so history shows which attempt got through. Resolves once the change has
   * committed (false when the row had left pending/failed meanwhile).
   */
  markSent(id: string): Promise<boolean> {
    return this.sends.add(id);
  }

  private async loadMany(ids: string[]): Promise<Map<string, DeliveryRow>> {
    const rows: DeliveryRow[] = await this.dataSource.query(
      `SELECT n.id, n.type, n.certificate_id, n.channel, n.recipient, n.message, n.status, n.retry_count, n.last_error, n.created_at, n.details,
              c.name AS live_name, c.common_name AS live_common_name, c.expires_at AS live_expires_at
         FROM notification_events n LEFT JOIN managed_certificates c ON c.id = n.certificate_id
        WHERE n.id = ANY($1)`,
      [ids],
    );
    return new Map(rows.map((r) => [r.id, r]));
  }

  private async markSentMany(ids: string[]): Promise<Map<string, boolean>> {
    const [rows]: [Array<{ id: string }>, number] = await this.dataSource.query(
      `UPDATE notification_events SET status = 'sent', sent_at = now(), next_retry_at = NULL
        WHERE id = ANY($1) AND status IN ('pending', 'failed')
        RETURNING id`,
      [ids],
    );
    return new Map(rows.map((r) => [r.id, true]));
  }

  async markFailed(id: string, error: string, nextRetryAt: Date): Promise<boolean> {
    const [, count] = await this.dataSource.query(
      `UPDATE notification_events SET status = 'failed', retry_count = retry_count + 1, last_error = $2, error = $2, next_retry_at = $3
        WHERE id = $1 AND status IN ('pending', 'failed')`,
      [id, error, nextRetryAt],
    );
    return count > 0;
  }

  /** Not sent because the channel is not configured here; the reason is kept. A requeue makes it pending again. */
  async markSkipped(id: string, reason: string): Promise<boolean> {
    const [, count] = await this.dataSource.query(
      `UPDATE notification_events SET status = 'skipped', last_error = $2, error = $2, next_retry_at = NULL
        WHERE id = $1 AND status IN ('pending', 'failed')`,
      [id, reason],
    );
    return count > 0;
  }

  async markDead(id: string, error: string): Promise<boolean> {
    const [, count] = await this.dataSource.query(
      `UPDATE notification_events SET status = 'dead', retry_count = retry_count + 1, last_error = $2, error = $2, next_retry_at = NULL
        WHERE id = $1 AND status IN ('pending', 'failed')`,
      [id, error],
    );
    return count > 0;
  }

  /**
   * Rows due for delivery that have waited longer than `graceMs` (a row just committed may not be enqueued yet):
   * pending ones, and failed ones whose retry time has passed.
   */
  async due(graceMs: number, limit: number): Promise<string[]> {
    const rows: Array<{ id: string }> = await this.dataSource.query(
      `(SELECT id, created_at AS due_at FROM notification_events
         WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1::double precision / 1000)
         ORDER BY created_at LIMIT $2)
       UNION ALL
       (SELECT id, next_retry_at AS due_at FROM notification_events
         WHERE status = 'failed' AND next_retry_at IS NOT NULL AND next_retry_at < now() - make_interval(secs => $1::double precision / 1000)
         ORDER BY next_retry_at LIMIT $2)
       ORDER BY due_at LIMIT $2`,
      [graceMs, limit],
    );
    return rows.map((r) => r.id);
  }
}
