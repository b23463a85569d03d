import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Response } from 'express';
import type { ApiRequest } from '../http/request';
import { AuditService } from './audit.service';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Records every mutating API call, whatever its outcome (rejected ones included): actor, `api_<method>`, the
 * path, the SHA-256 of the body, status and latency. Read-only calls are not recorded.
 */
@Injectable()
export class ApiCallAuditMiddleware implements NestMiddleware {
  constructor(private readonly audit: AuditService) {}

  use(req: ApiRequest, res: Response, next: NextFunction): void {
    if (!MUTATING.has(req.method)) return next();
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const principal = req.principal;
      const path = req.originalUrl.split('?')[0] ?? req.originalUrl;
      this.audit.recordInBackground({
        actor: principal ?? { actor: 'anonymous', actor_type: 'Anonymous' },
        action: `api_${req.method.toLowerCase()}`,
        resource_type: 'api',
        resource_id: path,
        event_category: res.statusCode === 401 || res.statusCode === 403 ? 'auth' : 'config',
        details: {
          method: req.method,
          path,
          body_hash: req.bodySha256 ?? null,
          status: res.statusCode,
          latency_ms: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
          request_id: req.id ?? null,
        },
      });
    });
    next();
  }
}
