import { Module } from '@nestjs/common';
import { CaaChecks } from './caa-checks';
import { ReadinessController } from './readiness.controller';
import { ReadinessService } from './readiness.service';

@Module({ controllers: [ReadinessController], providers: [ReadinessService, CaaChecks] })
export class ReportsModule {}
