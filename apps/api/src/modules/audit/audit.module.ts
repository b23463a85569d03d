import { Module } from '@nestjs/common';
import { AuditExportService } from './audit-export.service';
import { AuditTrailService } from './audit-trail.service';
import { AuditController } from './audit.controller';

@Module({ controllers: [AuditController], providers: [AuditTrailService, AuditExportService] })
export class AuditModule {}
