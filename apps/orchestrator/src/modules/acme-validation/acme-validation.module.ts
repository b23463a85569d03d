import { Module } from '@nestjs/common';
import { AcmeMetrics } from '@certctl/acme-server';
import { ClusterCounters } from '@certctl/observability';
import { AcmeValidationProcessor } from './acme-validation.processor';
import { AcmeValidationService } from './acme-validation.service';

@Module({ providers: [AcmeValidationService, AcmeValidationProcessor, AcmeMetrics, ClusterCounters], exports: [AcmeValidationService] })
export class AcmeValidationModule {}
