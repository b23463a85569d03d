import { Module } from '@nestjs/common';
import { RevocationModule } from '@certctl/issuers';
import { PoliciesModule } from '../policies/policies.module';
import { BulkRenewService } from './bulk-renew.service';
import { BulkReassignService } from './bulk-reassign.service';
import { CertificateExportService } from './certificate-export.service';
import { RenewalJobs } from './renewal-jobs';
import { CertificateDeployController } from './certificate-deploy.controller';
import { CertificateDeployService } from './certificate-deploy.service';
import { CertificateRenewalInfoController } from './certificate-renewal-info.controller';
import { CertificatesController } from './certificates.controller';
import { CertificatesRepository } from './certificates.repository';
import { CertificatesService } from './certificates.service';
import { RevocationService } from './revocation.service';

@Module({
  imports: [PoliciesModule, RevocationModule],
  controllers: [CertificatesController, CertificateDeployController, CertificateRenewalInfoController],
  providers: [BulkRenewService, BulkReassignService, CertificateExportService, RenewalJobs, CertificatesService, CertificatesRepository, CertificateDeployService, RevocationService],
})
export class CertificatesModule {}
