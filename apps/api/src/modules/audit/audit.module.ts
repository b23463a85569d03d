import { Module } from '@nestjs/common';
import { AuditCheckpointService } from './audit-checkpoints.service';
import { AuditExportService } from './audit-export.service';
import { AuditTrailService } from './audit-trail.service';
import { AuditController } from './audit.controller';

@Module({ controllers: [AuditController], providers: [AuditTrailService, AuditExportService, AuditCheckpointService], exports: [AuditCheckpointService] })
export class AuditModule {}
