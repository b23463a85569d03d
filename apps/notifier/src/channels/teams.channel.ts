import type { NotificationsConfig } from '@certctl/config';
import type { AlertMessage } from './alert-message';
import { factsOf } from './alert-message';
import type { Channel } from './channel';
import { DeliveryError } from './delivery-errors';
import type { HttpPoster } from './http-client';

const SEVERITY_COLOR: Record<string, string> = { critical: 'Attention', warning: 'Warning', info: 'Good' };

/**
 * A Teams incoming-webhook message carrying an Adaptive Card (the format Teams workflows' "post to a channel
 * when a webhook request is received" expects, and that the older connectors accept too).
 */
export function teamsPayload(message: AlertMessage): Record<string, unknown> {
  const c = message.certificate;
  return {
    type: 'message',
    attachments: [{
      contentType: 'application/vnd.microsoft.card.adaptive',
      contentUrl: null,
      content: {
        $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
        type: 'AdaptiveCard',
        version: '1.4',
        body: [
          { type: 'TextBlock', text: message.title, weight: 'Bolder', size: 'Medium', wrap: true, color: SEVERITY_COLOR[message.severity] ?? 'Default' },
          { type: 'TextBlock', text: message.text, wrap: true },
          { type: 'FactSet', facts: factsOf(message).filter(([k]) => k !== 'Link').map(([title, value]) => ({ title, value })) },
        ],
        ...(c ? { actions: [{ type: 'Action.OpenUrl', title: 'View certificate', url: c.url }] } : {}),
      },
    }],
  };
}

/** Microsoft Teams incoming webhook (CERTCTL_TEAMS_WEBHOOK_URL, or a row's recipient URL). */
export class TeamsChannel implements Channel {
  readonly name = 'Teams' as const;
  constructor(private readonly config: NotificationsConfig, private readonly http: HttpPoster) {}

  async send(message: AlertMessage): Promise<void> {
    const url = /^https?:\/\//i.test(message.recipient) ? message.recipient : this.config.teams.webhookUrl;
    if (!url) throw DeliveryError.notConfigured('Teams is not configured (CERTCTL_TEAMS_WEBHOOK_URL)');
    await this.http.postJson(url, teamsPayload(message));
  }
}
