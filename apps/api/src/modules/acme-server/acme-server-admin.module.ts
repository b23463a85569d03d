import { Module } from '@nestjs/common';
import { AcmeServerAdminController } from './acme-server-admin.controller';
import { AcmeServerAdminService } from './acme-server-admin.service';

@Module({ controllers: [AcmeServerAdminController], providers: [AcmeServerAdminService] })
export class AcmeServerAdminModule {}
