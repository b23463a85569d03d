import { Global, Module } from '@nestjs/common';
import { ApiCallAuditMiddleware } from './audit/api-call-audit.middleware';
import { AuditService } from './audit/audit.service';
import { ApiKeysService } from './auth/api-keys.service';
import { AuthGuard } from './auth/auth.guard';
import { GrantsService } from './auth/grants.service';
import { RbacService } from './auth/rbac.service';
import { SessionsService } from './auth/sessions.service';
import { UnknownRouteHandler } from './http/unknown-route.handler';

/** Cross-cutting services every API module uses: the audit writer and API-key authentication. */
@Global()
@Module({
  providers: [AuditService, GrantsService, RbacService, ApiKeysService, SessionsService, AuthGuard, ApiCallAuditMiddleware, UnknownRouteHandler],
  exports: [AuditService, GrantsService, RbacService, ApiKeysService, SessionsService, AuthGuard, ApiCallAuditMiddleware],
})
export class CommonModule {}
