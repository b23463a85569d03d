import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { RequirePermission } from '../../common/auth/permission.decorator';
import type { Principal } from '../../common/auth/principal';
import type { Page } from '../../common/http/pagination';
import { CurrentPrincipal, RequestId } from '../../common/http/request';
import { component, dateTime, objectOf, pageOf, Returns, str } from '../../common/openapi/response-schemas';
import { APPROVAL_KINDS, APPROVAL_STATES, ApprovalDecisionDto, ApprovalQuery } from './dto/approval.dto';
import { ApprovalsService, ApprovalView } from './approvals.service';

const nullableStr = { type: ['string', 'null'] };
const nullableDate = { type: ['string', 'null'], format: 'date-time' };
export const ApprovalSchema = component('ApprovalRequest', objectOf({
  id: str, approval_kind: { type: 'string', enum: [...APPROVAL_KINDS] }, certificate_id: nullableStr, job_id: nullableStr, profile_id: nullableStr,
  requested_by: str, state: { type: 'string', enum: [...APPROVAL_STATES] }, decided_by: nullableStr, decided_at: nullableDate,
  decision_note: nullableStr, payload: { type: ['object', 'null'] }, metadata: { type: 'object' }, created_at: dateTime, updated_at: dateTime,
  expires_at: dateTime,
}, ['id', 'approval_kind', 'requested_by', 'state', 'metadata', 'created_at', 'updated_at', 'expires_at']));

/** certctl's approval queue: issuance held by a profile's `requires_approval`, and edits of approval-gated profiles. */
@ApiTags('approvals')
@ApiBearerAuth()
@Controller('approvals')
export class ApprovalsController {
  constructor(private readonly approvals: ApprovalsService) {}

  @Get()
  @RequirePermission('approval.read', { scope: 'rows' })
  @Returns(pageOf(ApprovalSchema))
  list(@CurrentPrincipal() caller: Principal, @Query() query: ApprovalQuery): Promise<Page<ApprovalView>> {
    return this.approvals.list(query, caller);
  }

  @Get(':id')
  @RequirePermission('approval.read', { scope: 'rows' })
  @Returns(ApprovalSchema)
  get(@CurrentPrincipal() caller: Principal, @Param('id') id: string): Promise<ApprovalView> {
    return this.approvals.get(id, undefined, false, caller);
  }

  @Post(':id/approve')
  @RequirePermission('approval.approve', { scope: 'rows' })
  @HttpCode(200)
  @Returns(ApprovalSchema)
  approve(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: ApprovalDecisionDto, @RequestId() requestId: string): Promise<ApprovalView> {
    return this.approvals.decide(actor, id, true, body.note, requestId);
  }

  @Post(':id/reject')
  @RequirePermission('approval.reject', { scope: 'rows' })
  @HttpCode(200)
  @Returns(ApprovalSchema)
  reject(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: ApprovalDecisionDto, @RequestId() requestId: string): Promise<ApprovalView> {
    return this.approvals.decide(actor, id, false, body.note, requestId);
  }
}
