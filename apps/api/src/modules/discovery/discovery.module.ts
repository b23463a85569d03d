import { Module } from '@nestjs/common';
import { DiscoveryPipeline } from '@certctl/db';
import { DiscoveredCertificatesService } from './discovered-certificates.service';
import {
  AgentDiscoveriesController, DiscoveredCertificatesController, DiscoveryScansController, DiscoverySummaryController,
} from './discovery.controller';
import { DiscoveryScansService } from './discovery-scans.service';
import { NetworkScanTargetsController } from './network-scan-targets.controller';
import { NetworkScanTargetsService } from './network-scan-targets.service';
import { ScepProbesController } from './scep-probes.controller';

/** Network scan targets, discovery scans, discovered-certificate triage and agents' discovery reports. */
@Module({
  controllers: [NetworkScanTargetsController, DiscoveryScansController, DiscoveredCertificatesController, DiscoverySummaryController, AgentDiscoveriesController,
    ScepProbesController],
  providers: [DiscoveryPipeline, NetworkScanTargetsService, DiscoveryScansService, DiscoveredCertificatesService],
})
export class DiscoveryModule {}
