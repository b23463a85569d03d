import { Module } from '@nestjs/common';
import { HealthChecksController } from './health-checks.controller';
import { HealthChecksService } from './health-checks.service';

/** Endpoint health checks (the api side: the scanner probes them). */
@Module({ controllers: [HealthChecksController], providers: [HealthChecksService] })
export class HealthChecksModule {}
