import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Response } from 'express';
import type { ApiRequest } from '../http/request';
import { ApiKeysService } from '../auth/api-keys.service';
import type { Principal } from '../auth/principal';
import { AuditInput, AuditService } from './audit.service';

const ANONYMOUS = { actor: 'anonymous', actor_type: 'Anonymous' } as const;
/** Bodies that carry a password: even their SHA-256 is not kept (a short password could be guessed back from it). */
const SECRET_BODY_PATHS = /\/export\/pkcs12$|^\/auth\/breakglass\/login$|\/auth\/breakglass\/credentials$|\/auth\/oidc\/providers(\/[^/]+)?$/;

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/**
 * An agent heartbeats every 30-60 s (2,880 calls a day at 30 s): an accepted one is not worth a row each. The
 * agents service audits what an operator needs (first heartbeat, back Online, version change); refused ones
 * (401, 403, 410) are still recorded here.
 */
const HEARTBEAT_PATH = /^\/api\/v1\/agents\/[^/]+\/heartbeat$/;

/**
 * Records every mutating API call, whatever its outcome (rejected ones included): actor, `api_<method>`, the
 * path, the SHA-256 of the body, status and latency. Read-only calls and accepted heartbeats are not recorded.
 */
@Injectable()
export class ApiCallAuditMiddleware implements NestMiddleware {
  constructor(private readonly audit: AuditService, private readonly keys: ApiKeysService) {}

  use(req: ApiRequest, res: Response, next: NextFunction): void {
    if (!MUTATING.has(req.method)) return next();
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const path = req.originalUrl.split('?')[0] ?? req.originalUrl;
      if (res.statusCode < 400 && req.method === 'POST' && HEARTBEAT_PATH.test(path)) return;
      const latencyMs = Number((process.hrtime.bigint() - started) / 1000n) / 1000;
      // No route matched (404), so no guard ran: the key presented still names the actor.
      this.audit.recordInBackground(this.callerOf(req).then((principal) => ({
        actor: principal ?? ANONYMOUS,
        action: `api_${req.method.toLowerCase()}`,
        resource_type: 'api',
        resource_id: path,
        event_category: res.statusCode === 401 || res.statusCode === 403 ? 'auth' : 'config',
        details: {
          method: req.method,
          path,
          body_hash: SECRET_BODY_PATHS.test(path) ? null : (req.bodySha256 ?? null),
          status: res.statusCode,
          latency_ms: latencyMs,
          request_id: req.id ?? null,
        },
      } as AuditInput)));
    });
    next();
  }

  private async callerOf(req: ApiRequest): Promise<Pick<Principal, 'actor' | 'actor_type'> | undefined> {
    if (req.principal) return req.principal;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(String(req.headers.authorization ?? ''));
    return match ? this.keys.resolve(match[1]!).catch(() => undefined) : undefined;
  }
}
