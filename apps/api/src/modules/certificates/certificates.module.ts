import { Module } from '@nestjs/common';
import { PoliciesModule } from '../policies/policies.module';
import { CertificatesController } from './certificates.controller';
import { CertificatesRepository } from './certificates.repository';
import { CertificatesService } from './certificates.service';

@Module({
  imports: [PoliciesModule],
  controllers: [CertificatesController],
  providers: [CertificatesService, CertificatesRepository],
})
export class CertificatesModule {}
