import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { Schemas } from '../../common/openapi/resources';
import { Returns, pageOf } from '../../common/openapi/response-schemas';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { JobEntity } from '@certctl/db';
import type { Principal } from '../../common/auth/principal';
import type { Page } from '../../common/http/pagination';
import { CurrentPrincipal, RequestId } from '../../common/http/request';
import { DecisionDto, JobQuery } from './dto/job.dto';
import { JobsService } from './jobs.service';
import { RequirePermission } from '../../common/auth/permission.decorator';

@ApiTags('jobs')
@ApiBearerAuth()
@Controller('jobs')
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  @Get()
  @Returns(pageOf(Schemas.Job))
  @RequirePermission('job.read', { scope: 'rows' })
  list(@CurrentPrincipal() actor: Principal, @Query() query: JobQuery): Promise<Page<JobEntity>> {
    return this.jobs.list(actor, query);
  }

  @Get(':id')
  @Returns(Schemas.Job)
  @RequirePermission('job.read', { scope: 'rows' })
  get(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<JobEntity> {
    return this.jobs.get(actor, id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @Returns(Schemas.Job)
  @RequirePermission('job.cancel', { scope: 'rows' })
  cancel(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<JobEntity> {
    return this.jobs.cancel(actor, id);
  }

  @Post(':id/approve')
  @HttpCode(200)
  @Returns(Schemas.Job)
  @RequirePermission('approval.approve', { scope: 'rows' })
  approve(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: DecisionDto, @RequestId() requestId: string): Promise<JobEntity> {
    return this.jobs.decide(actor, id, true, body.note, requestId);
  }

  @Post(':id/reject')
  @HttpCode(200)
  @Returns(Schemas.Job)
  @RequirePermission('approval.reject', { scope: 'rows' })
  reject(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: DecisionDto, @RequestId() requestId: string): Promise<JobEntity> {
    return this.jobs.decide(actor, id, false, body.note, requestId);
  }
}
