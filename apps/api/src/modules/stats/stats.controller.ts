import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { CertificateStatusCount, ExpirationBucket, IssuanceRateDataPoint, JobTrendDataPoint } from './dto/stats.dto';
import { StatsDaysQuery } from './dto/stats.dto';
import { StatsService, StatsSummary } from './stats.service';

/** certctl's dashboard data. Every answer may be up to CERTCTL_READ_CACHE_TTL old. */
@ApiTags('stats')
@ApiBearerAuth()
@Controller('stats')
export class StatsController {
  constructor(private readonly stats: StatsService) {}

  @Get('summary')
  summary(): Promise<StatsSummary> {
    return this.stats.summary();
  }

  @Get('certificates-by-status')
  certificatesByStatus(): Promise<CertificateStatusCount[]> {
    return this.stats.certificatesByStatus();
  }

  @Get('expiration-timeline')
  expirationTimeline(@Query() query: StatsDaysQuery): Promise<ExpirationBucket[]> {
    return this.stats.expirationTimeline(query.days ?? 30);
  }

  @Get('job-trends')
  jobTrends(@Query() query: StatsDaysQuery): Promise<JobTrendDataPoint[]> {
    return this.stats.jobTrends(query.days ?? 30);
  }

  @Get('issuance-rate')
  issuanceRate(@Query() query: StatsDaysQuery): Promise<IssuanceRateDataPoint[]> {
    return this.stats.issuanceRate(query.days ?? 30);
  }
}
