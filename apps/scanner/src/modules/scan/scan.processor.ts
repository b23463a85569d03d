import { OnWorkerEvent, Processor } from '@nestjs/bullmq';
import { Inject, OnApplicationBootstrap } from '@nestjs/common';
import type { Job } from 'bullmq';
import type { Registry } from 'prom-client';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { AnyJob, DEFAULT_JOB_OPTIONS, JobMap, Queue } from '@certctl/contracts';
import { SelfHealing } from '@certctl/db';
import { BaseProcessor, METRICS_REGISTRY, workerOptions } from '@certctl/observability';
import { NetworkScanService } from './network-scan.service';
import { ScanScheduleService } from './scan-schedule.service';

/** The scan queue: planning a scan, its shards, and the per-target due check. */
@Processor(Queue.Scan, workerOptions())
export class ScanProcessor extends BaseProcessor<typeof Queue.Scan> implements OnApplicationBootstrap {
  constructor(
    private readonly scans: NetworkScanService,
    private readonly schedule: ScanScheduleService,
    private readonly selfHealing: SelfHealing,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    super(Queue.Scan, registry);
  }

  /**
   * Upserted by every replica under one id, so there is one schedule and each tick runs once; kept in place (and the
   * Pending scans that lost their run job queued again) by SelfHealing when Redis loses them.
   */
  async onApplicationBootstrap(): Promise<void> {
    // Shard jobs at once in this process; each shard's sockets come from one process-wide pool.
    this.worker.concurrency = this.config.networkScan.shardConcurrency;
    await this.selfHealing.schedule({
      queue: Queue.Scan, id: 'network-scan.due', every: this.schedule.intervalMs,
      template: { name: 'network-scan.due', opts: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } },
    });
    // Enqueueing is idempotent (the job id is the scan's), so a few seconds of age are margin enough here.
    this.selfHealing.recover('pending-scans', ({ afterReconnect }) => this.schedule.requeuePending(afterReconnect ? 0 : 5_000));
  }

  protected async handle(job: AnyJob<typeof Queue.Scan>): Promise<unknown> {
    switch (job.name) {
      case 'network-scan.run': return this.scans.plan(job.data);
      case 'network-scan.shard': return this.scans.runShard(job.data);
      case 'network-scan.due': return this.schedule.due();
    }
  }

  /** A shard or plan that used its last attempt fails the scan, so the target is free to be scanned again. */
  @OnWorkerEvent('failed')
  async onFailed(job: Job | undefined, err: Error): Promise<void> {
    if (!job || (job.name !== 'network-scan.run' && job.name !== 'network-scan.shard')) return;
    const attempts = job.opts.attempts ?? DEFAULT_JOB_OPTIONS[Queue.Scan].attempts ?? 1;
    if (job.attemptsMade < attempts && err.name !== 'UnrecoverableError') return;
    const data = job.data as JobMap['network-scan.shard'];
    const where = job.name === 'network-scan.shard' ? `shard ${data.shardIndex}` : 'planning';
    await this.scans.fail(data.scanId, `${where} failed: ${err.message}`);
  }
}
