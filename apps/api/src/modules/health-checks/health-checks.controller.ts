import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../../common/auth/principal';
import { CurrentPrincipal } from '../../common/http/request';
import {
  AcknowledgeHealthCheckDto, CreateHealthCheckDto, HealthCheckQuery, HealthHistoryQuery, UpdateHealthCheckDto,
} from './dto/health-check.dto';
import { HealthChecksService } from './health-checks.service';
import { pageOf, Returns } from '../../common/openapi/response-schemas';
import { Schemas } from '../../common/openapi/resources';
import { RequirePermission } from '../../common/auth/permission.decorator';

/** certctl's /health-checks surface: continuous TLS monitoring of endpoints (probed by the scanner). */
@ApiTags('health-checks')
@ApiBearerAuth()
@Controller('health-checks')
export class HealthChecksController {
  constructor(private readonly checks: HealthChecksService) {}

  /** Checks by status. Declared before `:id` so "summary" is not taken for an id. */
  @Get('summary')
  @Returns(Schemas.HealthCheckSummary)
  @RequirePermission('healthcheck.read')
  summary() {
    return this.checks.summary();
  }

  @Get()
  @Returns(pageOf(Schemas.HealthCheck))
  @RequirePermission('healthcheck.read')
  list(@Query() query: HealthCheckQuery) {
    return this.checks.list(query);
  }

  @Get(':id')
  @Returns(Schemas.HealthCheck)
  @RequirePermission('healthcheck.read')
  get(@Param('id') id: string) {
    return this.checks.get(id);
  }

  @Post()
  @Returns(Schemas.HealthCheck, 201)
  @RequirePermission('healthcheck.edit')
  create(@CurrentPrincipal() actor: Principal, @Body() body: CreateHealthCheckDto) {
    return this.checks.create(actor, body);
  }

  @Put(':id')
  @Returns(Schemas.HealthCheck)
  @RequirePermission('healthcheck.edit')
  update(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: UpdateHealthCheckDto) {
    return this.checks.update(actor, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission('healthcheck.delete')
  remove(@CurrentPrincipal() actor: Principal, @Param('id') id: string) {
    return this.checks.remove(actor, id);
  }

  @Get(':id/history')
  @Returns({ type: 'array', items: Schemas.HealthHistoryEntry })
  @RequirePermission('healthcheck.read')
  history(@Param('id') id: string, @Query() query: HealthHistoryQuery) {
    const limit = query.limit === undefined ? 100 : Number(query.limit);
    return this.checks.history(id, Math.min(Math.max(limit, 1), 1000));
  }

  @Post(':id/acknowledge')
  @HttpCode(204)
  @RequirePermission('healthcheck.acknowledge')
  acknowledge(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: AcknowledgeHealthCheckDto) {
    return this.checks.acknowledge(actor, id, body);
  }
}
