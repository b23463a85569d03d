import { Module } from '@nestjs/common';
import { RevocationModule } from '@certctl/issuers';
import { AgentHealthService } from './agent-health.service';
import { AriCheckService } from './ari-check.service';
import { JobTimeoutsService } from './job-timeouts.service';
import { ReconcilerService } from './reconciler.service';
import { RenewalSweepService } from './renewal-sweep.service';
import { ScheduleProcessor } from './schedule.processor';
import { ReissueDrillService } from './reissue-drill.service';
import { SessionCleanupService } from './session-cleanup.service';

@Module({
  imports: [RevocationModule],
  providers: [RenewalSweepService, JobTimeoutsService, AgentHealthService, ReconcilerService, AriCheckService, ScheduleProcessor, ReissueDrillService, SessionCleanupService],
  exports: [SessionCleanupService, RenewalSweepService, JobTimeoutsService, AgentHealthService, ReconcilerService, AriCheckService],
})
export class SchedulerModule {}
