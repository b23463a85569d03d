import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { enqueueNotifications, JobProducer, recordDigest, REDIS } from '@certctl/db';

/**
 * The periodic expiry digest (CERTCTL_DIGEST_ENABLED, every CERTCTL_DIGEST_INTERVAL, to CERTCTL_DIGEST_RECIPIENTS).
 * Periods are aligned to the epoch and each is claimed once in Redis, so with several notifier replicas (or a
 * restart) one digest goes out per period. Like upstream, nothing is sent at boot: the first one at the next
 * period boundary. Each digest becomes Email notification rows, with the same retries and dead letter.
 */
@Injectable()
export class DigestScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(DigestScheduler.name);
  private timer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(REDIS) private readonly redis: Redis,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly producer: JobProducer,
  ) {}

  onApplicationBootstrap(): void {
    const { digest, smtp } = this.config.notifications;
    if (!digest.enabled) return;
    if (!smtp.host || !digest.recipients.length) {
      this.logger.warn('CERTCTL_DIGEST_ENABLED is set but CERTCTL_SMTP_HOST or CERTCTL_DIGEST_RECIPIENTS is missing: no digest will be sent');
      return;
    }
    this.scheduleNext();
  }

  private scheduleNext(): void {
    const period = this.config.notifications.digest.intervalMs;
    const next = (Math.floor(Date.now() / period) + 1) * period;
    this.timer = setTimeout(() => {
      void this.sendForPeriod(Math.round(next / period))
        .catch((err: unknown) => this.logger.error({ err: (err as Error).message }, 'digest could not be queued'))
        .finally(() => this.scheduleNext());
    }, next - Date.now());
    this.timer.unref();
  }

  /** Queues the digest of one period unless another replica already did. Returns the notification ids. */
  async sendForPeriod(periodIndex: number): Promise<string[]> {
    const { intervalMs, recipients } = this.config.notifications.digest;
    const key = `${this.config.redis.queuePrefix}:notifier:digest:${periodIndex}`;
    if ((await this.redis.set(key, '1', 'PX', intervalMs * 2, 'NX')) !== 'OK') return [];
    const ids = await this.dataSource.transaction((tx) => recordDigest(tx, recipients));
    await enqueueNotifications(this.producer, ids);
    this.logger.log({ recipients: recipients.length }, 'expiry digest queued');
    return ids;
  }

  onApplicationShutdown(): void {
    clearTimeout(this.timer);
  }
}
