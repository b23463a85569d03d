import { NOTIFICATION_CHANNELS, NOTIFICATION_TYPES, NotificationStatus } from '@certctl/contracts';
import { DIGEST_NOTIFICATION_TYPE } from '@certctl/db';
import { DateField, EnumField, IdField, TextField } from '../../../common/http/dto-fields';
import { PageQuery } from '../../../common/http/pagination';

export const LISTED_NOTIFICATION_TYPES = [...NOTIFICATION_TYPES, DIGEST_NOTIFICATION_TYPE];

export class NotificationQuery extends PageQuery {
  @EnumField(Object.values(NotificationStatus), { optional: true, description: 'e.g. dead for the dead-letter list' }) status?: string;
  @EnumField(LISTED_NOTIFICATION_TYPES, { optional: true }) type?: string;
  @EnumField(NOTIFICATION_CHANNELS, { optional: true }) channel?: string;
  @IdField({ optional: true }) certificate_id?: string;
}

/** Which dead notifications a bulk requeue takes; every field narrows, none = all dead ones. */
export class BulkRequeueDto {
  @EnumField(LISTED_NOTIFICATION_TYPES, { optional: true }) type?: string;
  @EnumField(NOTIFICATION_CHANNELS, { optional: true }) channel?: string;
  @IdField({ optional: true }) certificate_id?: string;
  @DateField({ optional: true, description: 'Only notifications created at or after this time' }) created_after?: Date;
  @DateField({ optional: true, description: 'Only notifications created before this time' }) created_before?: Date;
}

/** An alert raised by hand, e.g. to try a channel's configuration. */
export class CreateNotificationDto {
  @EnumField(NOTIFICATION_TYPES) type: string;
  @EnumField(NOTIFICATION_CHANNELS) channel: string;
  @IdField({ optional: true }) certificate_id?: string;
  @TextField({
    optional: true, max: 2048,
    description: 'Email: an address (default: the certificate owner). Webhook, Slack, Teams: an http(s) URL overriding the configured one (reserved addresses are refused); Slack also takes a #channel.',
  })
  recipient?: string;
  @TextField({ max: 4000 }) message: string;
}
