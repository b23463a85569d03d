import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiBearerAuth, ApiProduces, ApiTags } from '@nestjs/swagger';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { CRL_COUNTER_LABELS, OCSP_COUNTER_LABELS } from '@certctl/issuers';
import { component, dateTime, int, objectOf, Returns, str } from '../../common/openapi/response-schemas';
import { CertctlMetrics, CertctlMetricsService } from './certctl-metrics.service';
import { RequirePermission } from '../../common/auth/permission.decorator';

const countsOf = (labels: readonly string[]) => objectOf(Object.fromEntries(labels.map((label) => [label, int])));

/** certctl's JSON metrics (spec §8.1): the CertctlMetrics interface, with one counter per OCSP and CRL label. */
const CertctlMetricsSchema = component('CertctlMetrics', objectOf({
  gauge: countsOf(['certificate_total', 'certificate_active', 'certificate_expiring_soon', 'certificate_expired', 'certificate_revoked',
    'agent_total', 'agent_online', 'job_pending']),
  counter: countsOf(['job_completed_total', 'job_failed_total', 'notifications_dead_total']),
  uptime: objectOf({ uptime_seconds: int, server_started: dateTime, measured_at: dateTime }),
  ocsp: countsOf(OCSP_COUNTER_LABELS),
  crl: countsOf(CRL_COUNTER_LABELS),
}));

/** Where the metrics are kept over time (CERTCTL_GRAFANA_URL, CERTCTL_PROMETHEUS_URL); an unset one is omitted. */
const MetricsLinksSchema = component('MetricsLinks', objectOf({ grafana_url: { ...str, format: 'uri' }, prometheus_url: { ...str, format: 'uri' } }, []));

export interface MetricsLinks {
  grafana_url?: string;
  prometheus_url?: string;
}

/**
 * GET /api/v1/metrics and /api/v1/metrics/prometheus. The JSON route is declared as `metrics{/}`: a plain
 * `metrics` would fall under the global-prefix exclusion that serves the process's own /metrics.
 */
@ApiTags('metrics')
@ApiBearerAuth()
@Controller()
export class CertctlMetricsController {
  constructor(
    private readonly metrics: CertctlMetricsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get('metrics{/}')
  @Returns(CertctlMetricsSchema)
  @RequirePermission('metrics.read')
  json(): Promise<CertctlMetrics> {
    return this.metrics.json();
  }

  /** Not certctl's: the console's Observability page links to these when the operator configured them. */
  @Get('metrics/links')
  @Returns(MetricsLinksSchema)
  @RequirePermission('metrics.read')
  links(): MetricsLinks {
    const { grafanaUrl, prometheusUrl } = this.config.observabilityLinks;
    return { ...(grafanaUrl ? { grafana_url: grafanaUrl } : {}), ...(prometheusUrl ? { prometheus_url: prometheusUrl } : {}) };
  }

  @Get('metrics/prometheus')
  @ApiProduces('text/plain')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @RequirePermission('metrics.read')
  prometheus(): Promise<string> {
    return this.metrics.prometheus();
  }
}
