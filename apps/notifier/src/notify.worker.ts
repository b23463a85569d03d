import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { Worker } from 'bullmq';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { Queue } from '@certctl/contracts';
import { reportRedisError } from '@certctl/db';
import { workerOptions } from '@certctl/observability';
import { notifyBackoffDelay, RetryLater } from './backoff';
import { NotifyProcessor } from './notify.processor';

/**
 * The BullMQ worker of the `notify` queue. It is built here rather than by `@Processor` because its options
 * (concurrency, lock duration, the backoff policy) come from the validated configuration at boot, which a
 * decorator cannot read.
 *
 * Backoff: the custom `notify-backoff` type uses the delay the processor chose from the row's attempt count
 * (carried by RetryLater); otherwise 2^(n-1) x base, capped. A process killed mid-job leaves its lock to expire
 * (CERTCTL_QUEUE_LOCK_DURATION); the stalled-job check of any live worker then puts the job back.
 */
@Injectable()
export class NotifyWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private worker: Worker | undefined;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig, private readonly processor: NotifyProcessor) {}

  onApplicationBootstrap(): void {
    const n = this.config.notifications;
    this.worker = new Worker(Queue.Notify, (job) => this.processor.process(job), {
      connection: { url: this.config.redis.url, maxRetriesPerRequest: null },
      prefix: this.config.redis.queuePrefix,
      concurrency: n.concurrency,
      // CERTCTL_QUEUE_LOCK_DURATION / _STALLED_INTERVAL, as every worker; a job that stalls more often than
      // maxStalledCount is left to the reconciler, which re-creates it from its row.
      ...workerOptions(),
      settings: {
        backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) =>
          err instanceof RetryLater ? err.delayMs : notifyBackoffDelay(attemptsMade, n.backoffBaseMs, n.backoffMaxMs),
      },
    });
    // Without a listener an 'error' event would crash the process; Redis outages are retried by BullMQ itself.
    this.worker.on('error', (err) => reportRedisError('worker:notify', err));
  }

  /** Stops taking jobs and waits for the ones running, before the database and Redis close. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.worker?.close();
  }
}
