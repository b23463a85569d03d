import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, AppConfig, NotificationsConfig } from '@certctl/config';
import type { Channel } from './channel';
import { DeliveryError } from './delivery-errors';
import { EmailChannel } from './email.channel';
import { HttpPoster } from './http-client';
import { OpsGenieChannel } from './opsgenie.channel';
import { PagerDutyChannel } from './pagerduty.channel';
import { SlackChannel } from './slack.channel';
import { TeamsChannel } from './teams.channel';
import { WebhookChannel } from './webhook.channel';

/** Which channels this notifier can deliver to, and for the others the setting that would turn them on. */
export function channelConfiguration(n: NotificationsConfig): { configured: string[]; notConfigured: string[] } {
  const settings: Array<[string, unknown, string]> = [
    ['Email', n.smtp.host, 'CERTCTL_SMTP_HOST'], ['Slack', n.slack.webhookUrl, 'CERTCTL_SLACK_WEBHOOK_URL'],
    ['Teams', n.teams.webhookUrl, 'CERTCTL_TEAMS_WEBHOOK_URL'], ['PagerDuty', n.pagerduty.routingKey, 'CERTCTL_PAGERDUTY_ROUTING_KEY'],
    ['OpsGenie', n.opsgenie.apiKey, 'CERTCTL_OPSGENIE_API_KEY'], ['Webhook', n.webhook.url, 'CERTCTL_WEBHOOK_URL'],
  ];
  return {
    configured: settings.filter(([, value]) => value).map(([name]) => name),
    notConfigured: settings.filter(([, value]) => !value).map(([name, , variable]) => `${name} (${variable})`),
  };
}

/** The six channels, built from the validated configuration, sharing one pooled HTTP client. */
@Injectable()
export class ChannelRegistry {
  private readonly logger = new Logger(ChannelRegistry.name);
  private readonly channels = new Map<string, Channel>();
  private readonly http: HttpPoster;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    const n = config.notifications;
    this.http = new HttpPoster({ timeoutMs: n.httpTimeoutMs, allowLoopback: n.allowLoopback, maxSockets: Math.max(16, n.concurrency) });
    for (const channel of [
      new EmailChannel(n), new SlackChannel(n, this.http), new TeamsChannel(n, this.http),
      new PagerDutyChannel(n, this.http), new OpsGenieChannel(n, this.http), new WebhookChannel(n, this.http),
    ]) {
      this.channels.set(channel.name, channel);
    }
    const { configured, notConfigured } = channelConfiguration(n);
    this.logger.log(
      { configured, not_configured: notConfigured, default_channels: n.defaultChannels },
      `alert channels configured: ${configured.join(', ') || 'none'}; alerts for the others are recorded as skipped`,
    );
    if (!n.defaultChannels.some((c) => configured.includes(c))) {
      this.logger.warn({ default_channels: n.defaultChannels }, 'none of the default alert channels (CERTCTL_NOTIFICATION_DEFAULT_CHANNELS) is configured: alerts of certificates whose policy names no channel are not sent');
    }
  }

  /** The channel of a row; a name no channel answers to can never be delivered. */
  get(name: string): Channel {
    const channel = this.channels.get(name);
    if (!channel) throw DeliveryError.permanent(`unknown channel ${name}`);
    return channel;
  }

  async close(): Promise<void> {
    for (const channel of this.channels.values()) await channel.close?.();
    this.http.close();
  }
}
