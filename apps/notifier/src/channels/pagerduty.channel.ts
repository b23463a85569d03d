import type { NotificationsConfig } from '@certctl/config';
import type { AlertMessage } from './alert-message';
import type { Channel } from './channel';
import { DeliveryError } from './delivery-errors';
import type { HttpPoster } from './http-client';

const PD_SEVERITIES = new Set(['critical', 'error', 'warning', 'info']);

/** One incident per certificate and event type: repeated alerts about the same thing update it. */
export function pagerDutyDedupKey(message: AlertMessage): string {
  return `certctl/${message.certificate?.id ?? message.notificationId}/${message.type}`.slice(0, 255);
}

/** An Events API v2 trigger event (summary ≤ 1024 characters; severity one of critical/error/warning/info). */
export function pagerDutyEvent(message: AlertMessage, routingKey: string, defaultSeverity: string): Record<string, unknown> {
  const c = message.certificate;
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: pagerDutyDedupKey(message),
    payload: {
      summary: `${message.title}: ${message.text}`.slice(0, 1024),
      source: c?.commonName || c?.name || 'certctl',
      severity: PD_SEVERITIES.has(message.severity) ? message.severity : defaultSeverity,
      timestamp: message.createdAt,
      component: c?.name ?? 'certctl',
      group: 'certificates',
      class: message.type,
      custom_details: {
        notification_id: message.notificationId,
        message: message.text,
        ...(c ? { certificate_id: c.id, certificate_name: c.name, common_name: c.commonName, expires_at: c.expiresAt, days_left: c.daysLeft, certificate_deleted: c.deleted } : {}),
      },
    },
    client: 'certctl',
    ...(c ? { client_url: c.url, links: [{ href: c.url, text: 'View certificate in certctl' }] } : {}),
  };
}

/** PagerDuty Events API v2 (CERTCTL_PAGERDUTY_ROUTING_KEY). */
export class PagerDutyChannel implements Channel {
  readonly name = 'PagerDuty' as const;
  constructor(private readonly config: NotificationsConfig, private readonly http: HttpPoster) {}

  async send(message: AlertMessage): Promise<void> {
    const { routingKey, severity, eventsUrl } = this.config.pagerduty;
    if (!routingKey) throw DeliveryError.notConfigured('PagerDuty is not configured (CERTCTL_PAGERDUTY_ROUTING_KEY)');
    await this.http.postJson(eventsUrl, pagerDutyEvent(message, routingKey, severity));
  }
}
