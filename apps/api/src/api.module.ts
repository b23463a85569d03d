import { MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, APP_PIPE } from '@nestjs/core';
import { ConfigModule } from '@certctl/config';
import { DatabaseModule, QueuesModule, RedisModule } from '@certctl/db';
import { IssuersModule as IssuerConnectorsModule } from '@certctl/issuers';
import { HealthModule, HttpMetricsMiddleware, LoggerModule, MetricsModule, QueueMetricsModule } from '@certctl/observability';
import { ApiCallAuditMiddleware } from './common/audit/api-call-audit.middleware';
import { AuthGuard } from './common/auth/auth.guard';
import { CommonModule } from './common/common.module';
import { ApiExceptionFilter } from './common/http/exception.filter';
import { apiValidationPipe } from './common/http/validation';
import { OmitUnsetInterceptor } from './common/http/omit-unset.interceptor';
import { AcmeChallengeModule } from './modules/acme-challenge/acme-challenge.module';
import { AgentsModule } from './modules/agents/agents.module';
import { AuditModule } from './modules/audit/audit.module';
import { AuthModule } from './modules/auth/auth.module';
import { CertificatesModule } from './modules/certificates/certificates.module';
import { IssuersModule } from './modules/issuers/issuers.module';
import { JobsModule } from './modules/jobs/jobs.module';
import { OwnersModule } from './modules/owners/owners.module';
import { PoliciesModule } from './modules/policies/policies.module';
import { ProfilesModule } from './modules/profiles/profiles.module';
import { RenewalPoliciesModule } from './modules/renewal-policies/renewal-policies.module';
import { StatsModule } from './modules/stats/stats.module';
import { TargetsModule } from './modules/targets/targets.module';
import { TeamsModule } from './modules/teams/teams.module';
import { DigestModule } from './modules/digest/digest.module';
import { CertctlMetricsModule } from './modules/metrics/metrics.module';
import { NotificationsModule } from './modules/notifications/notifications.module';
import { DiscoveryModule } from './modules/discovery/discovery.module';
import { QueueDashboardModule } from './modules/queue-dashboard/queue-dashboard.module';
import { HealthChecksModule } from './modules/health-checks/health-checks.module';
import { VersionModule } from './modules/version/version.controller';
import { AgentGroupsModule } from './modules/agent-groups/agent-groups.module';
import { RevocationAdminModule } from './modules/revocation/revocation-admin.module';
import { IntermediatesModule } from './modules/intermediates/intermediates.module';
import { ReportsModule } from './modules/reports/reports.module';
import { ReissueModule } from './modules/reissue/reissue.module';
import { AcmeServerAdminModule } from './modules/acme-server/acme-server-admin.module';
import { IdentityModule } from './modules/identity/identity.module';
import { ApprovalsModule } from './modules/approvals/approvals.module';

/** The REST API. It produces queue jobs but never consumes them (no @Processor here). */
@Module({
  imports: [
    ConfigModule.forRoot('api'),
    LoggerModule,
    DatabaseModule,
    RedisModule,
    QueuesModule.forRoot(),
    MetricsModule,
    QueueMetricsModule,
    HealthModule,
    CommonModule,
    IssuerConnectorsModule,
    AuthModule,
    CertificatesModule,
    IssuersModule,
    AcmeChallengeModule,
    TargetsModule,
    AgentsModule,
    JobsModule,
    OwnersModule,
    TeamsModule,
    RenewalPoliciesModule,
    ProfilesModule,
    PoliciesModule,
    AuditModule,
    StatsModule,
    NotificationsModule,
    DigestModule,
    CertctlMetricsModule,
    DiscoveryModule,
    QueueDashboardModule,
    HealthChecksModule,
    VersionModule,
    AgentGroupsModule,
    RevocationAdminModule,
    IntermediatesModule,
    ReportsModule,
    ReissueModule,
    AcmeServerAdminModule,
    IdentityModule,
    ApprovalsModule,
  ],
  providers: [
    { provide: APP_GUARD, useExisting: AuthGuard },
    { provide: APP_FILTER, useClass: ApiExceptionFilter },
    { provide: APP_PIPE, useFactory: apiValidationPipe },
    { provide: APP_INTERCEPTOR, useClass: OmitUnsetInterceptor },
  ],
})
export class ApiModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(HttpMetricsMiddleware, ApiCallAuditMiddleware).forRoutes('*path');
  }
}
