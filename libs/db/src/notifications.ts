import { EntityManager } from 'typeorm';
import type { NotificationType } from '@certctl/contracts';
import { NotificationEventEntity } from './entities';
import { newId } from './ids';
import type { JobProducer } from './queues.module';

export interface NotificationRequest {
  type: NotificationType;
  /** The certificate the alert is about, when there is one. */
  certificate_id: string | null;
  message: string;
  /** For ExpirationWarning: the alert threshold (days before expiry) that was crossed. */
  threshold_days?: number;
}

/**
 * Inserts the `notification_events` rows (status `pending`) for one alert, inside the caller's transaction, and
 * returns their ids. After the transaction commits, the caller passes the ids to `enqueueNotifications`.
 * Recipient: the certificate owner's email; channel: Email. (The notifier issue extends the routing with the
 * renewal policy's alert_channels and severity tiers.)
 */
export async function recordNotifications(tx: EntityManager, request: NotificationRequest): Promise<string[]> {
  let recipient = '';
  if (request.certificate_id) {
    const rows: Array<{ email: string }> = await tx.query(
      `SELECT o.email FROM managed_certificates c JOIN owners o ON o.id = c.owner_id WHERE c.id = $1`,
      [request.certificate_id],
    );
    recipient = rows[0]?.email ?? '';
  }
  const id = newId('notification');
  await tx.insert(NotificationEventEntity, {
    id,
    type: request.type,
    certificate_id: request.certificate_id,
    channel: 'Email',
    recipient,
    message: request.message,
    status: 'pending',
  });
  return [id];
}

/** Enqueues `notification.send` for rows that have been committed. */
export async function enqueueNotifications(producer: JobProducer, ids: string[], correlationId?: string): Promise<void> {
  for (const id of ids) await producer.enqueue('notification.send', { notificationId: id, correlationId }, id);
}
