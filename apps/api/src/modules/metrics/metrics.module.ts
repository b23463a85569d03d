import { Module } from '@nestjs/common';
import { ClusterCounters } from '@certctl/observability';
import { StatsService } from '../stats/stats.service';
import { CertctlMetricsController } from './metrics.controller';
import { CertctlMetricsService } from './certctl-metrics.service';

/** certctl's metrics endpoints (the process's own Prometheus metrics stay at /metrics). */
@Module({ controllers: [CertctlMetricsController], providers: [CertctlMetricsService, StatsService, ClusterCounters] })
export class CertctlMetricsModule {}
