import { MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { ConfigModule } from '@certctl/config';
import { AcmeServerModule } from '@certctl/acme-server';
import { DatabaseModule, QueuesModule, RedisModule } from '@certctl/db';
import { IssuersModule, PkiRoutesModule } from '@certctl/issuers';
import { HealthModule, HttpMetricsMiddleware, LoggerModule, MetricsModule } from '@certctl/observability';

/**
 * The public revocation surfaces on their own: GET /.well-known/pki/crl/{issuer} (and /{shard}), the OCSP responder (POST, RFC
 * 5019 GET, certctl's GET by serial), /health, /ready and /metrics. Stateless (Postgres for the truth, Redis for
 * the shared answers, rate limit and counters), so it scales out behind its Service; no API, no auth. It also
 * serves the ACME server (/acme/…, when CERTCTL_ACME_SERVER_ENABLED), whose finalize and challenge answers it
 * queues for the orchestrator (it produces, never consumes).
 */
@Module({
  imports: [ConfigModule.forRoot('responder'), LoggerModule, DatabaseModule, RedisModule, MetricsModule, HealthModule, IssuersModule, PkiRoutesModule,
    QueuesModule.forRoot(), AcmeServerModule],
})
export class ResponderModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(HttpMetricsMiddleware).forRoutes('*path');
  }
}
