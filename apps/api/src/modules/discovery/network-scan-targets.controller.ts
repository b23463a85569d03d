import { HttpCode, Param, Post } from '@nestjs/common';
import { Returns, objectOf, str } from '../../common/openapi/response-schemas';
import { CrudController } from '../../common/crud.controller';
import type { Principal } from '../../common/auth/principal';
import { CurrentPrincipal, RequestId } from '../../common/http/request';
import { CreateNetworkScanTargetDto, NetworkScanTargetQuery, UpdateNetworkScanTargetDto } from './dto/discovery.dto';
import { NetworkScanTargetsService } from './network-scan-targets.service';
import { Schemas } from '../../common/openapi/resources';
import { RequirePermission } from '../../common/auth/permission.decorator';

export class NetworkScanTargetsController extends CrudController({
  path: 'network-scan-targets', tag: 'discovery', service: NetworkScanTargetsService,
  createDto: CreateNetworkScanTargetDto, updateDto: UpdateNetworkScanTargetDto, queryDto: NetworkScanTargetQuery, resource: Schemas.NetworkScanTarget,
  permissions: { read: 'network_scan.read', edit: 'network_scan.edit', delete: 'network_scan.edit' },
}) {
  /** Starts a scan of the target now: 202 with the scan id; progress at GET /discovery-scans/{id}. */
  @Post(':id/scan')
  @HttpCode(202)
  @Returns(objectOf({ scan_id: str, scan: Schemas.DiscoveryScan }), 202)
  @RequirePermission('network_scan.run')
  scan(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @RequestId() requestId: string) {
    return (this.service as unknown as NetworkScanTargetsService).scan(actor, id, requestId);
  }
}
