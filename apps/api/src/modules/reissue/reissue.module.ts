import { Module } from '@nestjs/common';
import { RenewalJobs } from '../certificates/renewal-jobs';
import { ReissueController } from './reissue.controller';
import { ReissueService } from './reissue.service';

@Module({ controllers: [ReissueController], providers: [ReissueService, RenewalJobs] })
export class ReissueModule {}
