import type { Type } from '@nestjs/common';
import { HealthCheckModule } from './modules/health/health-check.module';
import { ScanModule } from './modules/scan/scan.module';

/** The scanner's feature modules, on top of what every worker has (see libs/observability worker.ts). */
export const SCANNER_FEATURES: Type[] = [ScanModule, HealthCheckModule];
