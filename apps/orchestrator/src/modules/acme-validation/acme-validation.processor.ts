import { Processor } from '@nestjs/bullmq';
import { Inject, OnApplicationBootstrap } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { AnyJob, Queue } from '@certctl/contracts';
import { BaseProcessor, METRICS_REGISTRY, workerOptions } from '@certctl/observability';
import { AcmeValidationService } from './acme-validation.service';

/** Consumes acme-validation: one job per challenge a client answered, retried (with backoff) on timeouts. */
@Processor(Queue.AcmeValidation, workerOptions())
export class AcmeValidationProcessor extends BaseProcessor<typeof Queue.AcmeValidation> implements OnApplicationBootstrap {
  constructor(
    private readonly validation: AcmeValidationService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    super(Queue.AcmeValidation, registry);
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = this.config.acmeServer.validationConcurrency;
  }

  protected handle(job: AnyJob<typeof Queue.AcmeValidation>): Promise<void> {
    return this.validation.validate(job.data.challengeId, job.attemptsMade + 1, job.opts.attempts ?? 1);
  }
}
