import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Job } from 'bullmq';
import { UnrecoverableError } from 'bullmq';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { DEFAULT_JOB_OPTIONS, JobMap, Queue, queueJobId } from '@certctl/contracts';
import { buildDigest, DIGEST_NOTIFICATION_TYPE, JobProducer } from '@certctl/db';
import { ClusterCounters } from '@certctl/observability';
import { bullmqDelay, notifyBackoffDelay, RetryLater } from './backoff';
import { AlertMessage, buildAlertMessage } from './channels/alert-message';
import { ChannelRegistry } from './channels/channel-registry';
import { DeliveryError } from './channels/delivery-errors';
import { DeliveryRow, NotificationRepository } from './notification.repository';

export const SENT_COUNTER = 'certctl_notification_sent_total';
export const FAILURE_COUNTER = 'certctl_notification_failures_total';
/** certctl's name, counted at each dead-lettering (a requeue does not lower it; the api's gauge shows current rows). */
export const DEAD_COUNTER = 'certctl_notification_dead_total';
/** Alerts for a channel this notifier has no configuration for: recorded as skipped, never retried or dead. */
export const SKIPPED_COUNTER = 'certctl_notification_skipped_total';

/** Longest error text kept on a row. */
const MAX_ERROR_LENGTH = 1000;

/**
 * One delivery attempt of one notification row. Postgres decides: the row's status says whether there is
 * anything to do, and its retry_count which attempt this is (a job re-created by the reconciler starts its
 * BullMQ count at zero, the row does not). Outcomes:
 *  - delivered → `sent` (retry_count kept);
 *  - failed, attempts left → `failed`, retry_count + 1, next_retry_at; rethrown so BullMQ retries after the delay;
 *  - failed permanently, or the last attempt → `dead`, a `notification.dead` job on the dead-letter queue with
 *    the original payload and the last error, and UnrecoverableError so BullMQ stops;
 *  - the channel is not configured here → `skipped` with the reason: nothing was tried, so it is neither a
 *    failure nor a dead letter (configure the channel and requeue the row to send it).
 */
@Injectable()
export class DeliveryService implements OnApplicationShutdown {
  private readonly logger = new Logger(DeliveryService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly rows: NotificationRepository,
    private readonly channels: ChannelRegistry,
    private readonly producer: JobProducer,
    private readonly counters: ClusterCounters,
  ) {}

  async deliver(job: Job<JobMap['notification.send']>): Promise<void> {
    const { notificationId, correlationId } = job.data;
    const row = await this.rows.load(notificationId);
    if (!row) {
      this.logger.warn({ notificationId, correlationId }, 'notification row no longer exists; nothing to deliver');
      return;
    }
    if (row.status === 'sent' || row.status === 'read') return; // a duplicate job: delivered already
    if (row.status === 'dead') {
      // Dead-lettered by an attempt that died before it could queue the dead letter: finish that step.
      await this.addDeadLetter(notificationId, row, correlationId);
      return;
    }

    const policy = this.config.notifications;
    const attempt = row.retry_count + 1;
    const lastAttempt = attempt >= policy.maxAttempts || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    try {
      await this.channels.get(row.channel).send(await this.messageOf(row));
    } catch (err) {
      const failure = err instanceof DeliveryError ? err : DeliveryError.transient((err as Error)?.message ?? String(err));
      const reason = failure.message.slice(0, MAX_ERROR_LENGTH);
      if (failure.notConfigured) {
        await this.rows.markSkipped(notificationId, `not sent: ${reason}`);
        await this.counters.increment(SKIPPED_COUNTER, { channel: row.channel });
        this.logger.log({ notificationId, channel: row.channel, correlationId, reason }, 'notification skipped: channel not configured');
        return;
      }
      await this.counters.increment(FAILURE_COUNTER, { channel: row.channel });
      if (failure.permanent || lastAttempt) {
        const lastError = failure.permanent ? `permanent failure: ${reason}` : `gave up after ${attempt} attempts: ${reason}`;
        await this.rows.markDead(notificationId, lastError);
        await this.counters.increment(DEAD_COUNTER);
        await this.addDeadLetter(notificationId, { last_error: lastError }, correlationId);
        this.logger.warn({ notificationId, channel: row.channel, attempt, correlationId, err: reason }, 'notification dead-lettered');
        throw new UnrecoverableError(lastError);
      }
      const delayMs = bullmqDelay(job.opts.backoff, attempt, (n) => notifyBackoffDelay(n, policy.backoffBaseMs, policy.backoffMaxMs));
      await this.rows.markFailed(notificationId, reason, new Date(Date.now() + delayMs));
      throw new RetryLater(reason, delayMs);
    }
    await this.rows.markSent(notificationId);
    await this.counters.increment(SENT_COUNTER, { channel: row.channel });
  }

  private async messageOf(row: DeliveryRow): Promise<AlertMessage> {
    const message = buildAlertMessage(row, this.config.notifications.linkBaseUrl);
    if (row.type === DIGEST_NOTIFICATION_TYPE) {
      if (row.channel !== 'Email') throw DeliveryError.permanent('the digest is sent by Email only');
      // Rendered now, not when queued, so a retried digest is not stale.
      const digest = await buildDigest(this.dataSource.manager, {
        windowDays: this.config.notifications.digest.windowDays, linkBaseUrl: this.config.notifications.linkBaseUrl,
      });
      message.digest = { subject: digest.subject, html: digest.html, text: digest.text };
    }
    return message;
  }

  /** The dead letter's job id is derived from the row, so finishing an interrupted dead-lettering twice is harmless. */
  private async addDeadLetter(notificationId: string, row: { last_error?: string | null }, correlationId?: string): Promise<void> {
    const data: JobMap['notification.dead'] = { notificationId, lastError: row.last_error ?? 'dead', correlationId };
    await this.producer.queue(Queue.NotifyDeadLetter).add('notification.dead', data, {
      ...DEFAULT_JOB_OPTIONS[Queue.NotifyDeadLetter],
      jobId: queueJobId('notification.dead', notificationId),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.channels.close();
  }
}
