import { Module } from '@nestjs/common';
import { AcmeMetrics } from '@certctl/acme-server';
import { AcmeValidationProcessor } from './acme-validation.processor';
import { AcmeValidationService } from './acme-validation.service';

@Module({ providers: [AcmeValidationService, AcmeValidationProcessor, AcmeMetrics], exports: [AcmeValidationService] })
export class AcmeValidationModule {}
