import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { CertificateStatusCount, ExpirationBucket, IssuanceRateDataPoint, JobTrendDataPoint } from './dto/stats.dto';
import { component, dateTime, int, objectOf, Returns, Schema, str } from '../../common/openapi/response-schemas';
import { StatsDaysQuery } from './dto/stats.dto';
import { STATS_SUMMARY_COUNTS, StatsService, StatsSummary } from './stats.service';
import type { Principal } from '../../common/auth/principal';
import { CurrentPrincipal } from '../../common/http/request';
import { RequirePermission } from '../../common/auth/permission.decorator';

const day: Schema = { type: 'string', format: 'date' };
const listOf = (item: Schema): Schema => ({ type: 'array', items: item });

/** The response schemas of certctl's dashboard data (the interfaces of dto/stats.dto, field for field). */
const StatsSchemas = {
  Summary: component('StatsSummary', objectOf({ ...Object.fromEntries(STATS_SUMMARY_COUNTS.map((name) => [name, int])), completed_at: dateTime })),
  StatusCount: component('CertificateStatusCount', objectOf({ status: str, count: int })),
  ExpirationBucket: component('ExpirationBucket', objectOf({ date: day, count: int })),
  JobTrend: component('JobTrendDataPoint', objectOf({ date: day, completed_count: int, failed_count: int, success_rate: { type: 'number', minimum: 0, maximum: 100 } })),
  IssuanceRate: component('IssuanceRateDataPoint', objectOf({ date: day, issued_count: int })),
};

/** certctl's dashboard data. Every answer may be up to CERTCTL_READ_CACHE_TTL old. */
@ApiTags('stats')
@ApiBearerAuth()
@Controller('stats')
export class StatsController {
  constructor(private readonly stats: StatsService) {}

  @Get('summary')
  @Returns(StatsSchemas.Summary)
  @RequirePermission('stats.read', { scope: 'rows' })
  summary(@CurrentPrincipal() actor: Principal): Promise<StatsSummary> {
    return this.stats.summary(actor);
  }

  @Get('certificates-by-status')
  @Returns(listOf(StatsSchemas.StatusCount))
  @RequirePermission('stats.read', { scope: 'rows' })
  certificatesByStatus(@CurrentPrincipal() actor: Principal): Promise<CertificateStatusCount[]> {
    return this.stats.certificatesByStatus(actor);
  }

  @Get('expiration-timeline')
  @Returns(listOf(StatsSchemas.ExpirationBucket))
  @RequirePermission('stats.read', { scope: 'rows' })
  expirationTimeline(@CurrentPrincipal() actor: Principal, @Query() query: StatsDaysQuery): Promise<ExpirationBucket[]> {
    return this.stats.expirationTimeline(query.days ?? 30, actor);
  }

  @Get('job-trends')
  @Returns(listOf(StatsSchemas.JobTrend))
  @RequirePermission('stats.read', { scope: 'rows' })
  jobTrends(@CurrentPrincipal() actor: Principal, @Query() query: StatsDaysQuery): Promise<JobTrendDataPoint[]> {
    return this.stats.jobTrends(query.days ?? 30, actor);
  }

  @Get('issuance-rate')
  @Returns(listOf(StatsSchemas.IssuanceRate))
  @RequirePermission('stats.read', { scope: 'rows' })
  issuanceRate(@CurrentPrincipal() actor: Principal, @Query() query: StatsDaysQuery): Promise<IssuanceRateDataPoint[]> {
    return this.stats.issuanceRate(query.days ?? 30, actor);
  }
}
