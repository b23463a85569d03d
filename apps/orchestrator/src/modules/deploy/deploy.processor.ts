import { Processor } from '@nestjs/bullmq';
import { Inject, OnApplicationBootstrap } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { AnyJob, Queue } from '@certctl/contracts';
import { BaseProcessor, METRICS_REGISTRY, workerOptions } from '@certctl/observability';
import { DeployService } from './deploy.service';

/** Consumes the deploy queue: agentless targets (local files, SSH, Kubernetes) are deployed here. */
@Processor(Queue.Deploy, workerOptions())
export class DeployProcessor extends BaseProcessor<typeof Queue.Deploy> implements OnApplicationBootstrap {
  constructor(private readonly deployments: DeployService, @Inject(METRICS_REGISTRY) registry: Registry) {
    super(Queue.Deploy, registry);
  }

  onApplicationBootstrap(): void {
    // Different targets in parallel; each target is serialised by its lock. A batch job's rows share the same
    // per-process limit (DeployService), so batches beside single jobs never exceed it.
    this.worker.concurrency = this.deployments.settings.concurrency;
  }

  protected handle(job: AnyJob<typeof Queue.Deploy>): Promise<unknown> {
    switch (job.name) {
      case 'certificate.deploy':
        return this.deployments.run(job.data.jobId, job.data.correlationId);
      case 'certificate.deploy.batch':
        return this.deployments.runBatch(job.data.jobIds, job.data.correlationId);
      case 'target.test':
        return this.deployments.testTarget(job.data.targetId);
    }
  }
}
