import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import { Returns, objectOf, str } from '../../common/openapi/response-schemas';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../../common/auth/principal';
import { StringListField } from '../../common/http/dto-fields';
import { CurrentPrincipal, RequestId } from '../../common/http/request';
import { CertificateDeployService, DeploymentTriggered } from './certificate-deploy.service';
import { RequirePermission } from '../../common/auth/permission.decorator';

export class DeployCertificateDto {
  @StringListField({ optional: true, maxItems: 200, description: 'Targets to deploy to (mapped to the certificate); default: every enabled mapped target' })
  target_ids?: string[];
}

@ApiTags('certificates')
@ApiBearerAuth()
@Controller('certificates')
export class CertificateDeployController {
  constructor(private readonly deployments: CertificateDeployService) {}

  /** Deploys the current version (202): one Deployment job per target. */
  @Post(':id/deploy')
  @HttpCode(202)
  @Returns(objectOf({ status: { const: 'deployment_triggered' }, certificate_id: str, version_id: str, jobs: { type: 'array', items: objectOf({ job_id: str, target_id: str, agent_id: str }, ['job_id', 'target_id']) } }), 202)
  @RequirePermission('cert.edit', { scope: 'rows' })
  deploy(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: DeployCertificateDto, @RequestId() requestId: string): Promise<DeploymentTriggered> {
    return this.deployments.deploy(actor, id, body.target_ids, requestId);
  }
}
