import { Processor } from '@nestjs/bullmq';
import { Inject, OnApplicationBootstrap } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { AnyJob, JobName, Queue } from '@certctl/contracts';
import { JobProducer, SelfHealing } from '@certctl/db';
import { CrlService } from '@certctl/issuers';
import { BaseProcessor, METRICS_REGISTRY } from '@certctl/observability';
import { AgentHealthService } from './agent-health.service';
import { AriCheckService } from './ari-check.service';
import { JobTimeoutsService } from './job-timeouts.service';
import { ReconcilerService } from './reconciler.service';
import { RenewalSweepService } from './renewal-sweep.service';
import { ReissueDrillService } from './reissue-drill.service';
import { SessionCleanupService } from './session-cleanup.service';

/**
 * The orchestrator's periodic work, as BullMQ job schedulers on the `schedule` queue: upserted at boot by every
 * replica (same id, so one schedule), and each tick is one job, so it runs once across all replicas. SelfHealing
 * keeps them in place after Redis lost them, and runs the reconciler (database work that lost its queue job) on its
 * in-process timer rather than as a BullMQ job, which would be lost with the rest.
 */
@Processor(Queue.Schedule)
export class ScheduleProcessor extends BaseProcessor<typeof Queue.Schedule> implements OnApplicationBootstrap {
  constructor(
    private readonly renewals: RenewalSweepService,
    private readonly timeouts: JobTimeoutsService,
    private readonly agents: AgentHealthService,
    private readonly reconciler: ReconcilerService,
    private readonly ari: AriCheckService,
    private readonly crl: CrlService,
    private readonly drills: ReissueDrillService,
    private readonly sessions: SessionCleanupService,
    private readonly producer: JobProducer,
    private readonly selfHealing: SelfHealing,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    super(Queue.Schedule, registry);
  }

  async onApplicationBootstrap(): Promise<void> {
    const s = this.config.scheduler;
    const every: Array<[JobName, number]> = [
      ['renewal.sweep', s.renewalCheckIntervalMs],
      ['jobs.timeout', s.jobTimeoutCheckIntervalMs],
      ['agents.health', s.agentHealthCheckIntervalMs],
      ['ari.check', s.ariCheckIntervalMs],
      ['crl.generate', this.config.revocation.crlGenerationIntervalMs],
      ['reissue.advance', s.reissueAdvanceIntervalMs],
      ['sessions.cleanup', this.config.auth.sessionCleanupIntervalMs],
    ];
    for (const [name, ms] of every) {
      await this.selfHealing.schedule({
        queue: Queue.Schedule, id: name, every: ms, template: { name, opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } },
      });
    }
    // The reconciler was a job scheduler of its own before it moved onto the in-process timer.
    await this.producer.queue(Queue.Schedule).removeJobScheduler('reconcile');
    this.selfHealing.recover('reconcile', ({ afterReconnect }) => this.reconciler.reconcile(afterReconnect ? 0 : undefined));
  }

  protected async handle(job: AnyJob<typeof Queue.Schedule>): Promise<unknown> {
    switch (job.name) {
      case 'renewal.sweep': return this.renewals.sweep();
      case 'jobs.timeout': return this.timeouts.sweep();
      case 'agents.health': return this.agents.sweep();
      case 'reconcile': return this.reconciler.reconcile(); // one queued before an upgrade
      case 'ari.check': return this.ari.check();
      case 'crl.generate': return this.crl.generateAll();
      case 'reissue.advance': return this.drills.advance();
      case 'sessions.cleanup': return this.sessions.cleanup();
    }
  }
}
