import { Module } from '@nestjs/common';
import { IssuersModule } from '@certctl/issuers';
import { IssuanceProcessor } from './issuance.processor';
import { IssuanceService } from './issuance.service';

@Module({ imports: [IssuersModule], providers: [IssuanceService, IssuanceProcessor], exports: [IssuanceService] })
export class IssuanceModule {}
