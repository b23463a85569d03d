import { Module } from '@nestjs/common';
import { HealthCheckMetrics } from './health-check-metrics';
import { HealthCheckProcessor } from './health-check.processor';
import { HealthCheckScheduler } from './health-check-scheduler.service';
import { HealthProbeService } from './health-probe.service';

/** Continuous TLS health checks: the due tick, the probes and their metrics. */
@Module({ providers: [HealthCheckMetrics, HealthCheckScheduler, HealthProbeService, HealthCheckProcessor], exports: [HealthCheckScheduler, HealthProbeService] })
export class HealthCheckModule {}
