import { Module } from '@nestjs/common';
import { JobVerificationController, JobVerificationService } from './job-verification.controller';
import { JobsController } from './jobs.controller';
import { JobsService } from './jobs.service';

@Module({ controllers: [JobsController, JobVerificationController], providers: [JobsService, JobVerificationService], exports: [JobsService] })
export class JobsModule {}
