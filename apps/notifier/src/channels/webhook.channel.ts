import { createHmac } from 'node:crypto';
import type { NotificationsConfig } from '@certctl/config';
import type { AlertMessage } from './alert-message';
import type { Channel } from './channel';
import { DeliveryError } from './delivery-errors';
import type { HttpPoster } from './http-client';

/** The JSON a generic webhook receives. The timestamp and idempotency key are inside the signed body too. */
export function webhookBody(message: AlertMessage, timestamp: number): Record<string, unknown> {
  const c = message.certificate;
  return {
    id: message.notificationId,
    idempotency_key: message.notificationId,
    timestamp,
    event_type: message.type,
    severity: message.severity,
    title: message.title,
    message: message.text,
    created_at: message.createdAt,
    certificate: c
      ? { id: c.id, name: c.name, common_name: c.commonName, expires_at: c.expiresAt, days_left: c.daysLeft, url: c.url, deleted: c.deleted }
      : null,
  };
}

/** Hex HMAC-SHA256 of the exact body bytes: what receivers recompute to verify `X-Signature`. */
export function signWebhookBody(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/**
 * Generic webhook (CERTCTL_WEBHOOK_URL, or a row's recipient URL): a JSON POST with
 *  - `X-Certctl-Idempotency-Key` (also `Idempotency-Key`): the notification id, the same on every retry, so a
 *    receiver drops duplicates of an at-least-once delivery;
 *  - `X-Certctl-Timestamp`: Unix seconds of this attempt, so a receiver can refuse stale replays;
 *  - with CERTCTL_WEBHOOK_SECRET, `X-Signature` = hex HMAC-SHA256 of the body and `X-Signature-Algorithm: sha256`
 *    (upstream certctl's headers).
 */
export class WebhookChannel implements Channel {
  readonly name = 'Webhook' as const;
  constructor(private readonly config: NotificationsConfig, private readonly http: HttpPoster) {}

  async send(message: AlertMessage, now = Date.now()): Promise<void> {
    const url = /^https?:\/\//i.test(message.recipient) ? message.recipient : this.config.webhook.url;
    if (!url) throw DeliveryError.notConfigured('Webhook is not configured (CERTCTL_WEBHOOK_URL)');
    const timestamp = Math.floor(now / 1000);
    const body = JSON.stringify(webhookBody(message, timestamp));
    const headers: Record<string, string> = {
      'x-certctl-event': message.type,
      'x-certctl-timestamp': String(timestamp),
      'x-certctl-idempotency-key': message.notificationId,
      'idempotency-key': message.notificationId,
    };
    const secret = this.config.webhook.secret;
    if (secret) {
      headers['x-signature'] = signWebhookBody(secret, body);
      headers['x-signature-algorithm'] = 'sha256';
    }
    await this.http.postJson(url, body, headers);
  }
}
