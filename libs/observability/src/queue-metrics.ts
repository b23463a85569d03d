import { Inject, Injectable, Module } from '@nestjs/common';
import { Gauge, Registry } from 'prom-client';
import { ALL_QUEUES, Queue, QueueName } from '@certctl/contracts';
import { JobProducer } from '@certctl/db';
import { jobMetrics } from './base-processor';
import { METRICS_REGISTRY } from './metrics';

export const QUEUE_JOBS_METRIC = 'certctl_queue_jobs';
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'dead-letter'] as const;

/**
 * `certctl_queue_jobs{queue,state}`: a gauge read from BullMQ's `getJobCounts` on every scrape (one Redis
 * round trip per queue). States waiting, active, delayed and failed come from each queue; `dead-letter` is
 * reported on the `notify` queue and counts the jobs held by `notify-dead-letter` (it has no consumer, so
 * every job it holds is a dead notification not yet retried or discarded). Also registers the job families of
 * BaseProcessor so they are on every app's /metrics from boot.
 */
@Injectable()
export class QueueMetrics {
  constructor(@Inject(METRICS_REGISTRY) registry: Registry, producer: JobProducer) {
    // certctl_jobs_total and certctl_job_duration_seconds are listed (HELP/TYPE) before the first job runs.
    jobMetrics(registry);
    if (registry.getSingleMetric(QUEUE_JOBS_METRIC)) return;
    new Gauge({
      name: QUEUE_JOBS_METRIC,
      help: 'BullMQ jobs per queue and state (dead-letter: notifications held by notify-dead-letter)',
      labelNames: ['queue', 'state'],
      registers: [registry],
      async collect() {
        const counts = await Promise.all(
          ALL_QUEUES.map(async (name) => [name, await producer.queue(name).getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized', 'waiting-children', 'completed')] as const),
        );
        this.reset();
        const byQueue = new Map<QueueName, Record<string, number>>(counts);
        for (const [queue, c] of counts) {
          this.set({ queue, state: 'waiting' }, (c.waiting ?? 0) + (c.prioritized ?? 0));
          this.set({ queue, state: 'active' }, c.active ?? 0);
          this.set({ queue, state: 'delayed' }, c.delayed ?? 0);
          this.set({ queue, state: 'failed' }, c.failed ?? 0);
        }
        const dead = byQueue.get(Queue.NotifyDeadLetter) ?? {};
        const held = Object.values(dead).reduce((a, b) => a + b, 0);
        this.set({ queue: Queue.Notify, state: 'dead-letter' }, held);
      },
    });
  }
}

/** Registers the queue gauge on the app's metrics registry (needs MetricsModule and QueuesModule). */
@Module({ providers: [QueueMetrics] })
export class QueueMetricsModule {}
