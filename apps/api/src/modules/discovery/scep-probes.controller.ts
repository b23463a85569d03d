import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { objectOf, Returns } from '../../common/openapi/response-schemas';
import { RequirePermission } from '../../common/auth/permission.decorator';

/** certctl's `SCEPProbesResponse`: the history of SCEP server probes. */
export interface ScepProbesView {
  probes: never[];
  probe_count: 0;
}

/**
 * GET /api/v1/network-scan/scep-probes, which certctl's network-scan page loads with the page. We speak no SCEP
 * and never probe a SCEP server (POST /network-scan/scep-probe stays 404), so the history is always empty: a
 * well-formed empty list lets that page render instead of failing on a 404.
 */
@ApiTags('discovery')
@ApiBearerAuth()
@Controller('network-scan')
export class ScepProbesController {
  @Get('scep-probes')
  @Returns(objectOf({
    probes: { type: 'array', maxItems: 0, items: { type: 'object' }, description: 'Always empty: this server does not probe SCEP servers' },
    probe_count: { type: 'integer', const: 0 },
  }))
  @RequirePermission('network_scan.read')
  list(): ScepProbesView {
    return { probes: [], probe_count: 0 };
  }
}
