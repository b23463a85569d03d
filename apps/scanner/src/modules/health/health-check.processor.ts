import { Processor } from '@nestjs/bullmq';
import { Inject, OnApplicationBootstrap } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { AnyJob, Queue } from '@certctl/contracts';
import { JobProducer, SelfHealing } from '@certctl/db';
import { BaseProcessor, METRICS_REGISTRY, workerOptions } from '@certctl/observability';
import { HealthCheckScheduler, PROBE_BATCH_SIZE } from './health-check-scheduler.service';
import { HealthProbeService } from './health-probe.service';

const SCHEDULER_ID = 'health-check.due';

/** The health-check queue: the due tick and the probe batches it hands out. */
@Processor(Queue.HealthCheck, workerOptions())
export class HealthCheckProcessor extends BaseProcessor<typeof Queue.HealthCheck> implements OnApplicationBootstrap {
  constructor(
    private readonly scheduler: HealthCheckScheduler,
    private readonly probes: HealthProbeService,
    private readonly producer: JobProducer,
    private readonly selfHealing: SelfHealing,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    super(Queue.HealthCheck, registry);
  }

  /** Upserted by every replica under one id, so there is one schedule and each tick runs once. */
  async onApplicationBootstrap(): Promise<void> {
    // Enough batches in flight to keep the handshake limit busy, and no more (the rest wait in the queue for any replica).
    this.worker.concurrency = Math.max(2, Math.ceil(this.config.healthCheck.maxConcurrent / PROBE_BATCH_SIZE) * 2);
    await this.scheduler.writeSettings();
    const queue = this.producer.queue(Queue.HealthCheck);
    if (!this.config.healthCheck.enabled) {
      await queue.removeJobScheduler(SCHEDULER_ID);
      return;
    }
    // Kept in place by SelfHealing when Redis loses it.
    await this.selfHealing.schedule({
      queue: Queue.HealthCheck, id: SCHEDULER_ID, every: this.config.healthCheck.tickIntervalMs,
      template: { name: 'health-check.due', opts: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } },
    });
  }

  protected async handle(job: AnyJob<typeof Queue.HealthCheck>): Promise<unknown> {
    switch (job.name) {
      case 'health-check.due': return this.scheduler.due(job.data.correlationId);
      case 'health-check.probe': return this.probes.probeBatch(job.data);
    }
  }
}
