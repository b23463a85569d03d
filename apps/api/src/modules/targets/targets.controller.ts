import { HttpCode, Param, Post } from '@nestjs/common';
import { Returns, dateTime, objectOf, str } from '../../common/openapi/response-schemas';
import type { Principal } from '../../common/auth/principal';
import { CrudController } from '../../common/crud.controller';
import { CurrentPrincipal, RequestId } from '../../common/http/request';
import { SendNullAs } from '../../common/http/omit-unset.interceptor';
import { TargetQuery } from './dto/target.dto';
import { CreateTargetDto, UpdateTargetDto } from './dto/target.dto';
import { TargetsService, TargetTestResult } from './targets.service';
import { Schemas } from '../../common/openapi/resources';
import { RequirePermission } from '../../common/auth/permission.decorator';

/** certctl's UI reads a target's `agent_id` on every row, so it is sent as `null` for agentless targets. */
@SendNullAs('agent_id')
export class TargetsController extends CrudController({
  path: 'targets', tag: 'targets', service: TargetsService,
  createDto: CreateTargetDto, updateDto: UpdateTargetDto, queryDto: TargetQuery, resource: Schemas.Target,
  permissions: { read: 'target.read', edit: 'target.edit', delete: 'target.delete' }, rows: 'all',
}) {
  /**
   * Dry run: config check plus the connector's validate step, run by the orchestrator (never the api), without
   * deploying; records test_status. "failed" with a message saying so when no orchestrator answers in time.
   */
  @Post(':id/test')
  @HttpCode(200)
  @Returns(objectOf({ target_id: str, status: { enum: ['success', 'failed'] }, message: str, tested_at: dateTime }))
  @RequirePermission('target.edit', { scope: 'rows' })
  test(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @RequestId() requestId: string): Promise<TargetTestResult> {
    return (this.service as TargetsService).test(actor, id, requestId);
  }
}
