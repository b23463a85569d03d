import { Controller, Get, Header } from '@nestjs/common';
import { ApiBearerAuth, ApiProduces, ApiTags } from '@nestjs/swagger';
import { CertctlMetrics, CertctlMetricsService } from './certctl-metrics.service';

/**
 * GET /api/v1/metrics and /api/v1/metrics/prometheus. The JSON route is declared as `metrics{/}`: a plain
 * `metrics` would fall under the global-prefix exclusion that serves the process's own /metrics.
 */
@ApiTags('metrics')
@ApiBearerAuth()
@Controller()
export class CertctlMetricsController {
  constructor(private readonly metrics: CertctlMetricsService) {}

  @Get('metrics{/}')
  json(): Promise<CertctlMetrics> {
    return this.metrics.json();
  }

  @Get('metrics/prometheus')
  @ApiProduces('text/plain')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  prometheus(): Promise<string> {
    return this.metrics.prometheus();
  }
}
