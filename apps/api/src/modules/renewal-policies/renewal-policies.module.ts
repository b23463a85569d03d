import { Module } from '@nestjs/common';
import { RenewalPoliciesController } from './renewal-policies.controller';
import { RenewalPoliciesService } from './renewal-policies.service';

@Module({ controllers: [RenewalPoliciesController], providers: [RenewalPoliciesService], exports: [RenewalPoliciesService] })
export class RenewalPoliciesModule {}
