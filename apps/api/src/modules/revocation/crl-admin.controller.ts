import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { CrlService } from '@certctl/issuers';

@ApiTags('revocation')
@ApiBearerAuth()
@Controller('admin/crl')
export class CrlAdminController {
  constructor(private readonly crl: CrlService) {}

  /** certctl's admin view of the CRL cache: one row per issuer (number, this/next update, size, entries). */
  @Get('cache')
  async cache(): Promise<{ data: unknown[]; total: number }> {
    const data = await this.crl.cacheState();
    return { data, total: data.length };
  }
}
