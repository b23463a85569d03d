import type { Type } from '@nestjs/common';
import { AcmeModule } from './modules/acme/acme.module';
import { AcmeValidationModule } from './modules/acme-validation/acme-validation.module';
import { DeployModule } from './modules/deploy/deploy.module';
import { IssuanceModule } from './modules/issuance/issuance.module';
import { SchedulerModule } from './modules/scheduler/scheduler.module';

/** The orchestrator's feature modules, on top of what every worker has (see libs/observability worker.ts). */
export const ORCHESTRATOR_FEATURES: Type[] = [IssuanceModule, SchedulerModule, AcmeModule, DeployModule, AcmeValidationModule];
