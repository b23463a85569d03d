import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { Schemas } from '../../common/openapi/resources';
import { Returns, dateTime, int, objectOf, pageOf } from '../../common/openapi/response-schemas';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { DiscoveredCertificateEntity } from '@certctl/db';
import type { Principal } from '../../common/auth/principal';
import type { Page } from '../../common/http/pagination';
import { CurrentPrincipal, RequestId } from '../../common/http/request';
import { DiscoveredCertificatesService, DiscoverySummary } from './discovered-certificates.service';
import { DiscoveryScansService, ScanView } from './discovery-scans.service';
import {
  AgentDiscoveryReportDto, ClaimDiscoveredCertificateDto, DiscoveredCertificateQuery, DiscoveryScanQuery,
} from './dto/discovery.dto';
import { RequirePermission } from '../../common/auth/permission.decorator';

@ApiTags('discovery')
@ApiBearerAuth()
@Controller('discovery-scans')
export class DiscoveryScansController {
  constructor(private readonly scans: DiscoveryScansService) {}

  @Get()
  @Returns(pageOf(Schemas.DiscoveryScan))
  @RequirePermission('discovery.read')
  list(@Query() query: DiscoveryScanQuery): Promise<Page<ScanView>> {
    return this.scans.list(query);
  }

  /** Live progress: addresses done / total, certificates found, errors (by kind), percent and ETA. */
  @Get(':id')
  @Returns(Schemas.DiscoveryScan)
  @RequirePermission('discovery.read')
  get(@Param('id') id: string): Promise<ScanView> {
    return this.scans.get(id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @Returns(Schemas.DiscoveryScan)
  @RequirePermission('discovery.run')
  cancel(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<ScanView> {
    return this.scans.cancel(actor, id);
  }
}

@ApiTags('discovery')
@ApiBearerAuth()
@Controller('discovered-certificates')
export class DiscoveredCertificatesController {
  constructor(private readonly certificates: DiscoveredCertificatesService) {}

  @Get()
  @Returns(pageOf(Schemas.DiscoveredCertificate))
  @RequirePermission('discovery.read')
  list(@Query() query: DiscoveredCertificateQuery): Promise<Page<DiscoveredCertificateEntity>> {
    return this.certificates.list(query);
  }

  @Get(':id')
  @Returns(Schemas.DiscoveredCertificate)
  @RequirePermission('discovery.read')
  get(@Param('id') id: string): Promise<DiscoveredCertificateEntity> {
    return this.certificates.get(id);
  }

  @Post(':id/claim')
  @HttpCode(200)
  @Returns(Schemas.DiscoveredCertificate)
  @RequirePermission('discovery.claim')
  claim(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: ClaimDiscoveredCertificateDto): Promise<DiscoveredCertificateEntity> {
    return this.certificates.claim(actor, id, body.managed_certificate_id);
  }

  @Post(':id/dismiss')
  @HttpCode(200)
  @Returns(Schemas.DiscoveredCertificate)
  @RequirePermission('discovery.claim')
  dismiss(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<DiscoveredCertificateEntity> {
    return this.certificates.dismiss(actor, id);
  }
}

@ApiTags('discovery')
@ApiBearerAuth()
@Controller('discovery-summary')
export class DiscoverySummaryController {
  constructor(private readonly certificates: DiscoveredCertificatesService) {}

  /** Discovered certificates by status, plus mismatches, expiring ones and running scans. */
  @Get()
  @Returns(objectOf({ Unmanaged: int, Managed: int, Dismissed: int, total: int, unmanaged: int, managed: int, dismissed: int, mismatched: int, expiring_within_14_days: int, expired: int, scans_running: int, last_scan_completed_at: dateTime }, ['Unmanaged', 'Managed', 'Dismissed', 'total', 'unmanaged', 'managed', 'dismissed', 'mismatched', 'expiring_within_14_days', 'expired', 'scans_running']))
  @RequirePermission('discovery.read')
  summary(): Promise<DiscoverySummary> {
    return this.certificates.summary();
  }
}

/** The agent protocol's discovery report; kept here rather than in the agents module, which it only shares a path with. */
@ApiTags('agents')
@ApiBearerAuth()
@Controller('agents/:id/discoveries')
export class AgentDiscoveriesController {
  constructor(private readonly certificates: DiscoveredCertificatesService) {}

  /** A filesystem discovery report: recorded as a completed discovery scan of this agent. */
  @Post()
  @HttpCode(201)
  @Returns(Schemas.DiscoveryScan, 201)
  @RequirePermission('discovery.run', { agentSelf: 'id' })
  report(@Param('id') id: string, @Body() body: AgentDiscoveryReportDto, @RequestId() requestId: string): Promise<ScanView> {
    return this.certificates.agentReport(id, body, requestId);
  }
}
