import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import { Schemas } from '../../common/openapi/resources';
import { Returns, bool, dateTime, int, objectOf, pageOf, str } from '../../common/openapi/response-schemas';
import type { Response } from 'express';
import { ApiBearerAuth, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../../common/auth/principal';
import { CurrentPrincipal } from '../../common/http/request';
import { AuditExportService } from './audit-export.service';
import type { AuditEventEntity } from '@certctl/db';
import type { Page } from '../../common/http/pagination';
import { AuditTrailService, ChainVerification } from './audit-trail.service';
import { AuditExportQuery, AuditQuery } from './dto/audit.dto';
import { RequirePermission } from '../../common/auth/permission.decorator';

@ApiTags('audit')
@ApiBearerAuth()
@Controller('audit')
export class AuditController {
  constructor(private readonly trail: AuditTrailService, private readonly exporter: AuditExportService) {}

  @Get()
  @Returns(pageOf(Schemas.AuditEvent))
  @RequirePermission('audit.read', { scope: 'rows' })
  list(@CurrentPrincipal() actor: Principal, @Query() query: AuditQuery): Promise<Page<AuditEventEntity>> {
    return this.trail.list(actor, query);
  }

  /** Walks the hash chain and checks its signed checkpoints; `intact: false` names the first break. */
  @Get('verify')
  @Returns(objectOf({
    intact: bool, rows_checked: int, first_break: objectOf({ seq: int, id: str, reason: str }, ['reason']), keyed: bool,
    checkpoints_checked: int, latest_checkpoint: objectOf({ seq: int, row_hash: str, mac: str }, ['seq', 'row_hash', 'mac']),
    unsigned_rows: int, warning: str, verified_at: dateTime,
  }, ['intact', 'rows_checked', 'keyed', 'checkpoints_checked', 'unsigned_rows', 'verified_at']))
  @RequirePermission('audit.read', { scope: 'rows' })
  verify(): Promise<ChainVerification> {
    return this.trail.verify();
  }

  /** The trail as NDJSON, streamed (filters: from, to, category, actor, action, resource_type, resource_id, limit). */
  @Get('export')
  @ApiProduces('application/x-ndjson')
  @RequirePermission('audit.export', { scope: 'rows' })
  async export(@CurrentPrincipal() actor: Principal, @Query() query: AuditExportQuery, @Res() res: Response): Promise<void> {
    await this.exporter.stream(actor, query, res);
  }

  @Get(':id')
  @Returns(Schemas.AuditEvent)
  @RequirePermission('audit.read', { scope: 'rows' })
  get(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<AuditEventEntity> {
    return this.trail.get(actor, id);
  }
}
