import { Module } from '@nestjs/common';
import { DiscoveryPipeline } from '@certctl/db';
import { NetworkScanService } from './network-scan.service';
import { ScanProcessor } from './scan.processor';
import { ScanScheduleService } from './scan-schedule.service';

@Module({ providers: [DiscoveryPipeline, NetworkScanService, ScanScheduleService, ScanProcessor], exports: [NetworkScanService, ScanScheduleService] })
export class ScanModule {}
