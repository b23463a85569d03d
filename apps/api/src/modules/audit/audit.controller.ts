import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { AuditEventEntity } from '@certctl/db';
import { RequireAccess } from '../../common/auth/access.decorator';
import type { Page } from '../../common/http/pagination';
import { AuditTrailService, ChainVerification } from './audit-trail.service';
import { AuditQuery } from './dto/audit.dto';

@ApiTags('audit')
@ApiBearerAuth()
@RequireAccess('audit')
@Controller('audit')
export class AuditController {
  constructor(private readonly trail: AuditTrailService) {}

  @Get()
  list(@Query() query: AuditQuery): Promise<Page<AuditEventEntity>> {
    return this.trail.list(query);
  }

  /** Walks the hash chain; `intact: false` names the first broken row. */
  @Get('verify')
  verify(): Promise<ChainVerification> {
    return this.trail.verify();
  }

  @Get(':id')
  get(@Param('id') id: string): Promise<AuditEventEntity> {
    return this.trail.get(id);
  }
}
