import { Module } from '@nestjs/common';
import { RevocationModule } from '@certctl/issuers';
import { ClusterCounters } from '@certctl/observability';
import { AcmeMetrics } from './acme-metrics';
import { AcmeServerController } from './acme-server.controller';
import { AcmeServerService } from './acme-server.service';

/**
 * The ACME server routes (/acme/…), for a public deployable (apps/responder). Needs the importing app's config,
 * database, Redis, queues (finalize and challenge answers are queued for the orchestrator), metrics registry and
 * IssuersModule (revocation through the Local CA's CRL and OCSP). Off unless CERTCTL_ACME_SERVER_ENABLED is true.
 */
@Module({
  imports: [RevocationModule],
  controllers: [AcmeServerController],
  providers: [AcmeServerService, AcmeMetrics, ClusterCounters],
  exports: [AcmeServerService, AcmeMetrics],
})
export class AcmeServerModule {}
