import { Body, Controller, Get, HttpCode, Param, Post, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { Principal } from '../../common/auth/principal';
import { CurrentPrincipal, RequestId } from '../../common/http/request';
import { component, dateTime, int, objectOf, Returns, Schema, str } from '../../common/openapi/response-schemas';
import { ReissueDrillDto } from './dto/reissue.dto';
import { DrillProgress, DrillStarted, DryRunResult, ReissueService } from './reissue.service';
import { RequirePermission } from '../../common/auth/permission.decorator';

const nullable = (s: Schema): Schema => ({ ...s, nullable: true });
const affected = { type: 'array', items: objectOf({ certificate_id: str, name: str, common_name: str, serial_number: str, not_after: dateTime }) } as Schema;
const dryRun = objectOf({
  dry_run: { type: 'boolean', enum: [true] }, issuer_id: str, intermediate_ca_id: nullable(str), total: int,
  certificates: affected, renewed_by_acme_clients: affected,
});
const started = objectOf({
  dry_run: { type: 'boolean', enum: [false] }, drill_id: str, issuer_id: str, intermediate_ca_id: nullable(str),
  status: { type: 'string', enum: ['running', 'completed'] }, total: int, jobs_opened: int, ari_requested: int, revoke_old: { type: 'boolean' },
  skipped: { type: 'array', items: objectOf({ certificate_id: str, error: str }) },
});
const progress = component('ReissueDrillProgress', objectOf({
  drill_id: str, issuer_id: str, intermediate_ca_id: nullable(str), reason: str, revocation_reason: str,
  status: { type: 'string', enum: ['running', 'completed'] }, revoke_old: { type: 'boolean' }, total: int, ari_requested: int, issued: int, deployed: int, verified: int, revoked: int, failed: int,
  unverified: int, requested_by: str, created_at: dateTime, completed_at: nullable(dateTime),
  problems: { type: 'array', items: objectOf({ certificate_id: str, state: str, error: nullable(str) }) },
}));

/** Mass re-issue drills of an issuer (or of one of its intermediate CAs, by the intermediate's id). */
@ApiTags('issuers')
@ApiBearerAuth()
@Controller('issuers')
export class ReissueController {
  constructor(private readonly reissue: ReissueService) {}

  /**
   * Re-issues and redeploys every active certificate of the CA; each old serial is revoked once its replacement is
   * served (proved by the post-deploy TLS check; at once for a certificate without targets). `dry_run` lists the
   * certificates and changes nothing (200); otherwise 202 with the drill id to follow. A certificate whose key lives
   * with an ACME client (source ACME) is not re-issued here: its ARI window opens now, its client renews it (with
   * `replaces`), and its old serial is revoked once the client has downloaded the new certificate.
   */
  @Post(':id/reissue')
  @HttpCode(202)
  @Returns(started, 202)
  @Returns(dryRun, 200)
  @RequirePermission('issuer.reissue', { scope: { type: 'issuer', param: 'id' } })
  async start(
    @CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: ReissueDrillDto, @RequestId() requestId: string,
    @Res({ passthrough: true }) res: Response,
  ): Promise<DryRunResult | DrillStarted> {
    const result = await this.reissue.start(actor, id, body, requestId);
    if (result.dry_run) res.status(200);
    return result;
  }

  /** Progress of a drill: how many certificates are issued, deployed, verified, revoked and failed. */
  @Get(':id/reissue/:drill_id')
  @Returns(progress)
  @RequirePermission('issuer.read', { scope: { type: 'issuer', param: 'id' } })
  get(@Param('id') id: string, @Param('drill_id') drillId: string): Promise<DrillProgress> {
    return this.reissue.progress(id, drillId);
  }
}

