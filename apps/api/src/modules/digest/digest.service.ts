import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { buildDigest, Digest, enqueueNotifications, JobProducer, recordDigest } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { ApiError } from '../../common/http/api-error';

export interface DigestQueued {
  status: 'digest_queued';
  recipients: string[];
  notification_ids: string[];
}

/** The expiry digest: previewed here; sent by the notifier as Email notifications (rendered when sent). */
@Injectable()
export class DigestService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly producer: JobProducer,
    private readonly audit: AuditService,
  ) {}

  preview(): Promise<Digest> {
    const n = this.config.notifications;
    return buildDigest(this.dataSource.manager, { windowDays: n.digest.windowDays, linkBaseUrl: n.linkBaseUrl });
  }

  async send(actor: Principal, recipients: string[] | undefined, correlationId: string): Promise<DigestQueued> {
    const to = recipients?.length ? recipients : this.config.notifications.digest.recipients;
    if (!to.length) {
      throw ApiError.invalidField('recipients', 'no recipients given and CERTCTL_DIGEST_RECIPIENTS is empty');
    }
    if (!this.config.notifications.smtp.host) {
      throw new ApiError(HttpStatus.CONFLICT, 'EMAIL_NOT_CONFIGURED', 'the digest is sent by email and CERTCTL_SMTP_HOST is not set');
    }
    const ids = await this.dataSource.transaction(async (tx) => {
      const created = await recordDigest(tx, to);
      await this.audit.record(
        { actor, action: 'digest_sent', resource_type: 'digest', resource_id: created[0] ?? 'digest', details: { recipients: to.length } },
        tx,
      );
      return created;
    });
    await enqueueNotifications(this.producer, ids, correlationId).catch(() => undefined); // committed: the reconciler retries
    return { status: 'digest_queued', recipients: to, notification_ids: ids };
  }
}
