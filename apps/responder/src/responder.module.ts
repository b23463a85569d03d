import { MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { ConfigModule } from '@certctl/config';
import { DatabaseModule, RedisModule } from '@certctl/db';
import { IssuersModule, PkiRoutesModule } from '@certctl/issuers';
import { HealthModule, HttpMetricsMiddleware, LoggerModule, MetricsModule } from '@certctl/observability';

/**
 * The public revocation surfaces on their own: GET /.well-known/pki/crl/{issuer} (and /{shard}), the OCSP responder (POST, RFC
 * 5019 GET, certctl's GET by serial), /health, /ready and /metrics. Stateless (Postgres for the truth, Redis for
 * the shared answers, rate limit and counters), so it scales out behind its Service; no API, no auth, no queues.
 */
@Module({
  imports: [ConfigModule.forRoot('responder'), LoggerModule, DatabaseModule, RedisModule, MetricsModule, HealthModule, IssuersModule, PkiRoutesModule],
})
export class ResponderModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(HttpMetricsMiddleware).forRoutes('*path');
  }
}
