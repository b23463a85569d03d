import type { NotificationsConfig } from '@certctl/config';
import type { AlertMessage } from './alert-message';
import type { Channel } from './channel';
import { DeliveryError } from './delivery-errors';
import type { HttpPoster } from './http-client';

/**
 * A "create alert" request of the OpsGenie Alert API: message ≤ 130 characters, alias (deduplication) ≤ 512,
 * description ≤ 15000, priority P1..P5. Critical alerts are P1; the others take CERTCTL_OPSGENIE_PRIORITY.
 */
export function opsGenieAlert(message: AlertMessage, defaultPriority: string): Record<string, unknown> {
  const c = message.certificate;
  const details: Record<string, string> = { notification_id: message.notificationId, event_type: message.type, severity: message.severity };
  if (c) Object.assign(details, { certificate_id: c.id, common_name: c.commonName, expires_at: c.expiresAt ?? 'unknown', link: c.url });
  return {
    message: message.title.slice(0, 130),
    alias: `certctl/${c?.id ?? message.notificationId}/${message.type}`.slice(0, 512),
    description: [message.text, c ? `Certificate: ${c.name}${c.deleted ? ' (deleted)' : ''}` : '', c ? `Expires: ${c.expiresAt ?? 'unknown'}` : '', c ? `Link: ${c.url}` : '']
      .filter(Boolean).join('\n').slice(0, 15000),
    priority: message.severity === 'critical' ? 'P1' : defaultPriority,
    source: 'certctl',
    entity: (c?.name ?? 'certctl').slice(0, 512),
    tags: ['certctl', message.type, message.severity],
    details,
  };
}

/** OpsGenie Alert API (CERTCTL_OPSGENIE_API_KEY, sent as `Authorization: GenieKey …`). */
export class OpsGenieChannel implements Channel {
  readonly name = 'OpsGenie' as const;
  constructor(private readonly config: NotificationsConfig, private readonly http: HttpPoster) {}

  async send(message: AlertMessage): Promise<void> {
    const { apiKey, priority, apiUrl } = this.config.opsgenie;
    if (!apiKey) throw DeliveryError.notConfigured('OpsGenie is not configured (CERTCTL_OPSGENIE_API_KEY)');
    await this.http.postJson(apiUrl, opsGenieAlert(message, priority), { authorization: `GenieKey ${apiKey}` });
  }
}
