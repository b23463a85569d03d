import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { JobProducer, REDIS, restartNotificationJobs } from '@certctl/db';
import { NotificationRepository } from './notification.repository';

/** Rows looked at per sweep; a larger backlog is taken by the next sweeps. */
const SWEEP_LIMIT = 1000;

/**
 * Re-enqueues notification rows that are due but have no live queue job: a Redis flush or restart, a crash
 * between commit and enqueue, or a job BullMQ gave up on (stalled too often) costs a delay, never the alert
 * (ARCHITECTURE §3). Runs every CERTCTL_NOTIFICATION_RETRY_INTERVAL and once shortly after boot; a Redis lock
 * makes one replica do each sweep. A row counts as due once it has waited a whole interval, so a row that is
 * being enqueued right now is not touched.
 */
@Injectable()
export class NotificationReconciler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(NotificationReconciler.name);
  private readonly owner = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly rows: NotificationRepository,
    private readonly producer: JobProducer,
  ) {}

  onApplicationBootstrap(): void {
    const interval = this.config.notifications.reconcileIntervalMs;
    this.timer = setInterval(() => this.tick(), interval);
    this.timer.unref();
    setTimeout(() => this.tick(), Math.min(interval, 5_000)).unref();
  }

  private tick(): void {
    if (this.running) return;
    this.running = this.sweepIfLeader()
      .catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'notification reconcile sweep failed'))
      .finally(() => (this.running = undefined));
  }

  private async sweepIfLeader(): Promise<void> {
    const interval = this.config.notifications.reconcileIntervalMs;
    const key = `${this.config.redis.queuePrefix}:notifier:reconcile-lock`;
    const acquired = await this.redis.set(key, this.owner, 'PX', Math.max(100, interval - 50), 'NX');
    if (acquired === 'OK') await this.sweep();
  }

  /** One sweep; returns the ids given a new job. */
  async sweep(): Promise<string[]> {
    const due = await this.rows.due(this.config.notifications.reconcileIntervalMs, SWEEP_LIMIT);
    if (!due.length) return [];
    const restarted = await restartNotificationJobs(this.producer, due, { replaceLive: false });
    if (restarted.length) {
      this.logger.warn({ count: restarted.length, examples: restarted.slice(0, 5) }, 're-enqueued due notifications that had no queue job');
    }
    return restarted;
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
