import { Module } from '@nestjs/common';
import { AuditTrailService } from './audit-trail.service';
import { AuditController } from './audit.controller';

@Module({ controllers: [AuditController], providers: [AuditTrailService] })
export class AuditModule {}
