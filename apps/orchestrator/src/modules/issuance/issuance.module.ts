import { Module } from '@nestjs/common';
import { IssuersModule } from '@certctl/issuers';
import { IssuanceProcessor } from './issuance.processor';
import { IssuanceService } from './issuance.service';
import { IssuerRevocationService } from './issuer-revocation.service';

@Module({ imports: [IssuersModule], providers: [IssuanceService, IssuanceProcessor, IssuerRevocationService], exports: [IssuanceService] })
export class IssuanceModule {}
