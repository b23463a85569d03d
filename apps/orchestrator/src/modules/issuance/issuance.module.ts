import { Inject, Module, OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { REDIS } from '@certctl/db';
import { defineBudgetGauges, IssuerBudget, IssuersModule } from '@certctl/issuers';
import { METRICS_REGISTRY } from '@certctl/observability';
import { IssuanceProcessor } from './issuance.processor';
import { IssuanceService } from './issuance.service';
import { IssuerRevocationService } from './issuer-revocation.service';

@Module({
  imports: [IssuersModule],
  providers: [
    IssuanceService, IssuanceProcessor, IssuerRevocationService,
    // Per-CA budgets, shared by every replica through Redis (keys under the queue prefix), remembered in Postgres.
    {
      provide: IssuerBudget,
      inject: [REDIS, DataSource, APP_CONFIG],
      useFactory: (redis: Redis, dataSource: DataSource, config: AppConfig) => new IssuerBudget(redis, dataSource, config.redis.queuePrefix),
    },
  ],
  exports: [IssuanceService],
})
export class IssuanceModule implements OnModuleInit {
  constructor(@Inject(METRICS_REGISTRY) private readonly registry: Registry, private readonly dataSource: DataSource) {}

  onModuleInit(): void {
    defineBudgetGauges(this.registry, this.dataSource);
  }
}
