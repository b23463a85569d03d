import { HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { APP_CONFIG, AppConfig, checkOutboundUrl } from '@certctl/config';
import { Queue, queueJobId } from '@certctl/contracts';
import type { NotificationChannel, NotificationType } from '@certctl/contracts';
import {
  enqueueNotifications, JobProducer, newId, NotificationDetails, NotificationEventEntity, restartNotificationJobs, severityTier,
} from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { CrudResource } from '../../common/crud-resource';
import { ApiError } from '../../common/http/api-error';
import type { Page } from '../../common/http/pagination';
import { translateWriteError } from '../../common/http/write-errors';
import { visibilityOf } from '../../common/auth/visibility';
import { outOfScope } from '../../common/scope';
import { certificateScopeSql, viaCertificate } from '../certificates/certificate-scope';
import type { BulkRequeueResult } from './dto/bulk-requeue-result';
import { BulkRequeueDto, CreateNotificationDto, NotificationQuery } from './dto/notification.dto';

/** Statuses a requeue takes a notification from. */
const REQUEUEABLE = ['dead', 'failed', 'skipped'];
/** Statuses in which the notifier still owns the row: marking read would stop its delivery. */
const IN_FLIGHT = ['pending', 'failed'];
const URL_CHANNELS: readonly string[] = ['Webhook', 'Slack', 'Teams'];
const EMAIL_PATTERN = /^[^\s@<>,;]+@[^\s@<>,;]+$/;

@Injectable()
export class NotificationsService {
  private readonly logger = new Logger(NotificationsService.name);
  readonly crud: CrudResource<NotificationEventEntity>;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly producer: JobProducer,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.crud = new CrudResource(dataSource, audit, {
      entity: NotificationEventEntity, table: 'notification_events', resource: 'notification', idKind: 'notification',
      category: 'cert_lifecycle',
      actions: { created: 'notification_created', updated: 'notification_updated', deleted: 'notification_deleted' },
      filters: ['status', 'type', 'channel', 'certificate_id'],
      sortable: ['status', 'type', 'channel', 'sent_at', 'next_retry_at', 'retry_count'],
    });
  }

  /** The notifications of the certificates the caller may see (notification.read), counted the same way. */
  list(actor: Principal, query: NotificationQuery): Promise<Page<NotificationEventEntity>> {
    return this.crud.list(query, {}, viaCertificate(actor, 'notification.read'));
  }

  /** 404 for a notification outside the caller's scope, as for an unknown id. */
  get(actor: Principal, id: string): Promise<NotificationEventEntity> {
    return this.crud.get(id, undefined, viaCertificate(actor, 'notification.read'));
  }

  /** Locks a notification the caller may see (404 otherwise) and may change (403 otherwise). */
  private async lockWritable(tx: EntityManager, actor: Principal, id: string): Promise<NotificationEventEntity> {
    const row = await this.crud.lock(tx, id, viaCertificate(actor, 'notification.read'));
    if (!(await this.crud.matches(tx, id, viaCertificate(actor, 'notification.edit')))) {
      throw new ApiError(HttpStatus.FORBIDDEN, 'FORBIDDEN', `notification.edit on notification ${id} is outside your grants`);
    }
    return row;
  }

  /** Acknowledges a delivered (or dead) notification. One still being delivered is a 409. */
  async markRead(actor: Principal, id: string): Promise<NotificationEventEntity> {
    let wasDead = false;
    const row = await this.dataSource.transaction(async (tx) => {
      const current = await this.lockWritable(tx, actor, id);
      if (current.status === 'read') return current;
      if (IN_FLIGHT.includes(current.status)) {
        throw ApiError.conflict('NOTIFICATION_IN_FLIGHT', `notification ${id} is ${current.status} and still being delivered`);
      }
      wasDead = current.status === 'dead';
      await tx.update(NotificationEventEntity, { id }, { status: 'read' });
      await this.audit.record({ actor, action: 'notification_read', resource_type: 'notification', resource_id: id, details: { previous_status: current.status } }, tx);
      return this.crud.get(id, tx);
    });
    // An acknowledged dead letter is settled: it leaves the dead-letter queue too.
    if (wasDead) {
      await this.producer.queue(Queue.NotifyDeadLetter).remove(queueJobId('notification.dead', id))
        .catch((err: unknown) => this.logger.warn({ err: (err as Error).message, notificationId: id }, 'dead letter not removed'));
    }
    return row;
  }

  /**
   * dead or failed → pending with counters and errors cleared, committed first; then the dead letter and any
   * old job are removed and a fresh job is queued. 404 for an unknown id, 409 for any other status.
   */
  async requeue(actor: Principal, id: string, correlationId: string): Promise<NotificationEventEntity> {
    const row = await this.dataSource.transaction(async (tx) => {
      const current = await this.lockWritable(tx, actor, id);
      if (!REQUEUEABLE.includes(current.status)) {
        throw ApiError.conflict('NOTIFICATION_NOT_REQUEUEABLE', `notification ${id} is ${current.status}; only dead, failed or skipped notifications can be requeued`);
      }
      await this.resetToPending(tx, [id]);
      await this.audit.record(
        { actor, action: 'notification_requeued', resource_type: 'notification', resource_id: id,
          details: { previous_status: current.status, previous_retry_count: current.retry_count, last_error: current.last_error } },
        tx,
      );
      return this.crud.get(id, tx);
    });
    await this.restart([id], correlationId);
    return row;
  }

  /** Requeues every dead notification matching the filter. */
  async bulkRequeue(actor: Principal, filter: BulkRequeueDto, correlationId: string): Promise<BulkRequeueResult> {
    const ids = await this.dataSource.transaction(async (tx) => {
      const qb = tx.createQueryBuilder(NotificationEventEntity, 'n').select('n.id', 'id').where(`n.status = 'dead'`).setLock('pessimistic_write');
      if (filter.type) qb.andWhere('n.type = :type', { type: filter.type });
      if (filter.channel) qb.andWhere('n.channel = :channel', { channel: filter.channel });
      if (filter.certificate_id) qb.andWhere('n.certificate_id = :certificateId', { certificateId: filter.certificate_id });
      if (filter.created_after) qb.andWhere('n.created_at >= :after', { after: filter.created_after });
      if (filter.created_before) qb.andWhere('n.created_at < :before', { before: filter.created_before });
      const scope = viaCertificate(actor, 'notification.edit', 'n.certificate_id');
      if (scope) qb.andWhere(scope.sql, scope.params);
      const matched = (await qb.orderBy('n.created_at').getRawMany<{ id: string }>()).map((r) => r.id);
      if (matched.length) await this.resetToPending(tx, matched);
      await this.audit.record(
        { actor, action: 'notifications_bulk_requeued', resource_type: 'notification', resource_id: 'bulk',
          details: { filter: { ...filter }, count: matched.length } },
        tx,
      );
      return matched;
    });
    const requeued = await this.restart(ids, correlationId);
    return { total_matched: ids.length, total_requeued: requeued.length, total_skipped: ids.length - requeued.length, notification_ids: ids };
  }

  /** A hand-made alert on one channel, queued like any other. */
  async create(actor: Principal, body: CreateNotificationDto, correlationId: string): Promise<NotificationEventEntity> {
    const recipient = this.checkRecipient(body.channel, body.recipient?.trim() ?? '');
    // A scoped caller's alert belongs to one of its certificates, or it could not see it afterwards.
    if (!body.certificate_id && visibilityOf(actor, 'notification.edit').kind !== 'all') throw outOfScope('certificate_id', null, 'notification.edit');
    const id = newId('notification');
    try {
      await this.dataSource.transaction(async (tx) => {
        const certificate = body.certificate_id ? await this.certificateSnapshot(tx, actor, body.certificate_id) : undefined;
        const details: NotificationDetails = { severity: severityTier(body.type as NotificationType, undefined), ...certificate?.details };
        await tx.insert(NotificationEventEntity, {
          id, type: body.type, certificate_id: body.certificate_id ?? null, channel: body.channel as NotificationChannel,
          recipient: recipient || (body.channel === 'Email' ? certificate?.ownerEmail || this.config.notifications.defaultRecipient || '' : ''),
          message: body.message, status: 'pending', details,
        });
        await this.audit.record(
          { actor, action: 'notification_created', resource_type: 'notification', resource_id: id, details: { type: body.type, channel: body.channel } },
          tx,
        );
      });
    } catch (err) {
      translateWriteError(err, 'notification_events', 'notification');
    }
    await enqueueNotifications(this.producer, [id], correlationId).catch((err: unknown) =>
      // The row is committed: the notifier's reconciler enqueues it if this did not.
      this.logger.warn({ err: (err as Error).message, notificationId: id }, 'enqueue failed; left to the reconciler'));
    return this.crud.get(id);
  }

  /** After commit; if Redis is unavailable the rows are pending in Postgres and the notifier's reconciler takes them. */
  private async restart(ids: string[], correlationId: string): Promise<string[]> {
    try {
      return await restartNotificationJobs(this.producer, ids, { replaceLive: true, correlationId });
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, count: ids.length }, 'requeue could not reach the queue; left to the reconciler');
      return [];
    }
  }

  private checkRecipient(channel: string, recipient: string): string {
    if (!recipient) return '';
    if (channel === 'Email') {
      if (!EMAIL_PATTERN.test(recipient)) throw ApiError.invalidField('recipient', 'must be an email address');
      return recipient;
    }
    if (channel === 'Slack' && /^#[\w.-]{1,80}$/.test(recipient)) return recipient;
    if (!URL_CHANNELS.includes(channel)) throw ApiError.invalidField('recipient', `must be empty for ${channel} (its endpoint is configured)`);
    try {
      checkOutboundUrl(recipient, this.config.outbound);
    } catch (err) {
      throw new ApiError(HttpStatus.BAD_REQUEST, 'INVALID_WEBHOOK_URL', `recipient: ${(err as Error).message}`, [
        { field: 'recipient', message: (err as Error).message },
      ]);
    }
    return recipient;
  }

  /** The certificate's name and owner for the alert; one outside the caller's scope is reported as unknown. */
  private async certificateSnapshot(tx: EntityManager, actor: Principal, certificateId: string): Promise<{ details: NotificationDetails; ownerEmail: string | null }> {
    const params: unknown[] = [certificateId];
    const scope = certificateScopeSql(actor, 'notification.edit', params, 'c');
    const [row] = await tx.query<Array<{ name: string; common_name: string; expires_at: Date | null; email: string | null }>>(
      `SELECT c.name, c.common_name, c.expires_at, o.email FROM managed_certificates c LEFT JOIN owners o ON o.id = c.owner_id
        WHERE c.id = $1 ${scope ? `AND ${scope}` : ''}`,
      params,
    );
    if (!row) throw ApiError.missingReference('certificate_id', certificateId);
    return {
      ownerEmail: row.email,
      details: {
        certificate_id: certificateId, certificate_name: row.name, common_name: row.common_name,
        expires_at: row.expires_at ? new Date(row.expires_at).toISOString() : null,
      },
    };
  }

  private async resetToPending(tx: EntityManager, ids: string[]): Promise<void> {
    await tx.query(
      `UPDATE notification_events SET status = 'pending', retry_count = 0, next_retry_at = NULL, last_error = NULL, error = NULL, sent_at = NULL
        WHERE id = ANY($1)`,
      [ids],
    );
  }
}
