import { OnWorkerEvent, WorkerHost } from '@nestjs/bullmq';
import { Logger } from '@nestjs/common';
import { DelayedError, Job, UnrecoverableError } from 'bullmq';
import { Counter, Histogram, Registry } from 'prom-client';
import { JOB_QUEUE, type AnyJob, type QueueName } from '@certctl/contracts';
import { reportRedisError } from '@certctl/db';

const families = new WeakMap<Registry, { total: Counter<'queue' | 'name' | 'outcome'>; duration: Histogram<'queue' | 'name'> }>();

/** `certctl_jobs_total{queue,name,outcome}` and `certctl_job_duration_seconds{queue,name}` of one registry. */
export function jobMetrics(registry: Registry) {
  let metrics = families.get(registry);
  if (!metrics) {
    metrics = {
      total: new Counter({ name: 'certctl_jobs_total', help: 'Queue jobs processed, by outcome', labelNames: ['queue', 'name', 'outcome'], registers: [registry] }),
      duration: new Histogram({
        name: 'certctl_job_duration_seconds', help: 'Queue job processing time', labelNames: ['queue', 'name'],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers: [registry],
      }),
    };
    families.set(registry, metrics);
  }
  return metrics;
}

export const JOB_OUTCOMES = ['completed', 'retried', 'failed'] as const;

/**
 * The one place that times, logs and counts queue jobs (STYLE C5). Subclasses implement `handle`, which
 * narrows on `job.name`; they throw to retry and throw UnrecoverableError for permanent failures.
 * Errors are never swallowed here.
 */
export abstract class BaseProcessor<Q extends QueueName> extends WorkerHost {
  protected readonly logger: Logger;

  protected constructor(private readonly queueName: Q, private readonly registry: Registry) {
    super();
    this.logger = new Logger(`${queueName}-processor`);
    // Every outcome of every job of this queue exists at zero from the first scrape, so rate()/increase() see
    // the first failure (a series born at 1 has no earlier sample to increase from).
    const { total } = jobMetrics(registry);
    for (const [name, queue] of Object.entries(JOB_QUEUE)) {
      if (queue !== queueName) continue;
      for (const outcome of JOB_OUTCOMES) total.inc({ queue: queueName, name, outcome }, 0);
    }
  }

  /** Connection errors of this queue's worker, reported once per retry window instead of printed raw. */
  @OnWorkerEvent('error')
  onWorkerError(err: Error): void {
    reportRedisError(`worker:${this.queueName}`, err);
  }

  /** `token` is the worker's lock token: a handler that moves its job to delayed (then throws DelayedError) needs it. */
  protected abstract handle(job: AnyJob<Q>, token?: string): Promise<unknown>;

  async process(job: Job, token?: string): Promise<unknown> {
    const { total, duration } = jobMetrics(this.registry);
    const stop = duration.startTimer({ queue: this.queueName, name: job.name });
    const context = { queue: this.queueName, job: job.name, bullJobId: job.id, attempt: job.attemptsMade + 1, correlationId: (job.data as { correlationId?: string }).correlationId };
    try {
      const result = await this.handle(job as AnyJob<Q>, token);
      total.inc({ queue: this.queueName, name: job.name, outcome: 'completed' });
      return result;
    } catch (err) {
      // Moved to delayed by its handler (e.g. waiting for a CA budget): neither a success nor a failed attempt.
      if (err instanceof DelayedError) throw err;
      const permanent = err instanceof UnrecoverableError;
      total.inc({ queue: this.queueName, name: job.name, outcome: permanent ? 'failed' : 'retried' });
      this.logger.warn({ ...context, err: (err as Error).message, permanent }, 'job attempt failed');
      throw err;
    } finally {
      stop();
    }
  }
}
