import type { NotificationsConfig } from '@certctl/config';
import type { AlertMessage } from './alert-message';
import { factsOf } from './alert-message';
import type { Channel } from './channel';
import { DeliveryError } from './delivery-errors';
import type { HttpPoster } from './http-client';

/** Slack mrkdwn needs &, < and > escaped (they delimit links and mentions). */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * An incoming-webhook payload: `text` is the notification fallback; `blocks` the message (header, section with
 * fields, context). Limits from Slack's Block Kit reference: header text 150 characters, field text 2000.
 */
export function slackPayload(message: AlertMessage, options: { channel?: string; username?: string }): Record<string, unknown> {
  const c = message.certificate;
  const fields = factsOf(message)
    .filter(([k]) => k !== 'Link' && k !== 'Notification')
    .map(([k, v]) => ({ type: 'mrkdwn', text: `*${k}*\n${k === 'Certificate' && c ? `<${c.url}|${slackEscape(v)}>` : slackEscape(v)}`.slice(0, 2000) }));
  return {
    text: `${message.title}: ${message.text}`.slice(0, 3000),
    ...(options.channel ? { channel: options.channel } : {}),
    ...(options.username ? { username: options.username } : {}),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: message.title.slice(0, 150), emoji: false } },
      { type: 'section', text: { type: 'mrkdwn', text: slackEscape(message.text).slice(0, 3000) || ' ' }, fields },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `certctl · ${slackEscape(message.type)} · notification ${message.notificationId}` }] },
    ],
  };
}

/** Slack incoming webhook (CERTCTL_SLACK_WEBHOOK_URL); a row's recipient may name another channel (#ops) or webhook URL. */
export class SlackChannel implements Channel {
  readonly name = 'Slack' as const;
  constructor(private readonly config: NotificationsConfig, private readonly http: HttpPoster) {}

  async send(message: AlertMessage): Promise<void> {
    const override = message.recipient.trim();
    const url = /^https?:\/\//i.test(override) ? override : this.config.slack.webhookUrl;
    if (!url) throw DeliveryError.notConfigured('Slack is not configured (CERTCTL_SLACK_WEBHOOK_URL)');
    const channel = override && !/^https?:\/\//i.test(override) ? override : this.config.slack.channel;
    await this.http.postJson(url, slackPayload(message, { channel, username: this.config.slack.username }));
  }
}
