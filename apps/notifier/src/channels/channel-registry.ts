import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import type { Channel } from './channel';
import { DeliveryError } from './delivery-errors';
import { EmailChannel } from './email.channel';
import { HttpPoster } from './http-client';
import { OpsGenieChannel } from './opsgenie.channel';
import { PagerDutyChannel } from './pagerduty.channel';
import { SlackChannel } from './slack.channel';
import { TeamsChannel } from './teams.channel';
import { WebhookChannel } from './webhook.channel';

/** The six channels, built from the validated configuration, sharing one pooled HTTP client. */
@Injectable()
export class ChannelRegistry {
  private readonly channels = new Map<string, Channel>();
  private readonly http: HttpPoster;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    const n = config.notifications;
    this.http = new HttpPoster({ timeoutMs: n.httpTimeoutMs, policy: config.outbound, maxSockets: Math.max(16, n.concurrency) });
    for (const channel of [
      new EmailChannel(n), new SlackChannel(n, this.http), new TeamsChannel(n, this.http),
      new PagerDutyChannel(n, this.http), new OpsGenieChannel(n, this.http), new WebhookChannel(n, this.http),
    ]) {
      this.channels.set(channel.name, channel);
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
