import { Processor } from '@nestjs/bullmq';
import { Inject, OnApplicationBootstrap } from '@nestjs/common';
import { DelayedError } from 'bullmq';
import type { Registry } from 'prom-client';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { AnyJob, Queue } from '@certctl/contracts';
import { BaseProcessor, METRICS_REGISTRY, workerOptions } from '@certctl/observability';
import { IssuanceService } from './issuance.service';
import { IssuerRevocationService } from './issuer-revocation.service';

/** Consumes the issuance queue: new certificates, renewals, and signing of agent CSRs run the same way. */
@Processor(Queue.Issuance, workerOptions())
export class IssuanceProcessor extends BaseProcessor<typeof Queue.Issuance> implements OnApplicationBootstrap {
  constructor(
    private readonly issuance: IssuanceService,
    private readonly revocations: IssuerRevocationService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    super(Queue.Issuance, registry);
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = this.config.issuance.concurrency;
  }

  protected async handle(job: AnyJob<typeof Queue.Issuance>, token?: string): Promise<void> {
    switch (job.name) {
      case 'certificate.issue':
      case 'certificate.renew':
      case 'csr.sign': {
        const outcome = await this.issuance.run(job.data.jobId, job.data.correlationId);
        if (outcome?.waitUntil) {
          // Over the CA's budget: the same queue job runs again when a slot frees, without spending an attempt.
          await job.moveToDelayed(outcome.waitUntil.getTime(), token);
          throw new DelayedError();
        }
        return;
      }
      case 'certificate.revoke':
        return this.revocations.notifyIssuer(job.data.certificateId);
    }
  }
}
