import { createHash, randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger, Module, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { urlencoded } from 'express';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Redis } from 'ioredis';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { ALL_QUEUES } from '@certctl/contracts';
import { JobProducer, REDIS } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import { ApiKeysService } from '../../common/auth/api-keys.service';
import { GrantsService } from '../../common/auth/grants.service';
import { adminGrants, holdsGlobally, type Principal } from '../../common/auth/principal';
import { cookieValue, CSRF_HEADER, SESSION_COOKIE, SessionsService } from '../../common/auth/sessions.service';
import { sendError } from '../../common/http/exception.filter';

/** Where the dashboard is served: outside the /api/v1 prefix and outside Nest's guards (checked here instead). */
export const QUEUE_DASHBOARD_PATH = '/admin/queues';
export const QUEUE_SESSION_COOKIE = 'certctl_queues_session';
const SESSION_TTL_SECONDS = 8 * 3600;
/** The permission the dashboard needs, held globally (queues are not scoped to a team). */
const QUEUE_PERMISSION = 'queue.admin';
/** Job actions the dashboard may perform; bulk and destructive ones (empty, obliterate, clean, add) are refused. */
const ALLOWED_ACTIONS = new Set(['retry', 'promote']);

/**
 * bull-board at /admin/queues, showing every queue (notify-dead-letter included). Admin only: a Bearer admin key,
 * or the session cookie `POST /admin/queues/session` sets for one (sessions live in Redis, so every api replica
 * accepts them; browsers cannot send a Bearer header while navigating). Retry and promote are audited.
 */
@Injectable()
export class QueueDashboard implements OnModuleInit {
  private readonly logger = new Logger(QueueDashboard.name);
  private board: RequestHandler | undefined;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly producer: JobProducer,
    private readonly keys: ApiKeysService,
    private readonly grants: GrantsService,
    private readonly sessions: SessionsService,
    private readonly audit: AuditService,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Mounted on Express during init, after Nest's routes and before its 404 handler. */
  onModuleInit(): void {
    const app = this.adapterHost.httpAdapter.getInstance<{ post: Function; use: Function }>();
    app.post(`${QUEUE_DASHBOARD_PATH}/session`, urlencoded({ extended: false, limit: '4kb' }), (req: Request, res: Response) => void this.login(req, res).catch((err: unknown) => this.fail(req, res, err)));
    app.use(
      QUEUE_DASHBOARD_PATH,
      (req: Request, res: Response, next: NextFunction) => void this.guard(req, res, next).catch((err: unknown) => this.fail(req, res, err)),
      (req: Request, res: Response, next: NextFunction) => this.dashboard()(req, res, next),
    );
  }

  /**
   * bull-board's router, built when the first admin gets past the guard: bull-board and what it brings (its UI
   * server, valibot, lodash, ejs) are memory every api replica would hold at idle for a page few people open.
   */
  private dashboard(): RequestHandler {
    if (!this.board) {
      const { createBullBoard } = require('@bull-board/api') as typeof import('@bull-board/api');
      const { BullMQAdapter } = require('@bull-board/api/bullMQAdapter') as typeof import('@bull-board/api/bullMQAdapter');
      const { ExpressAdapter } = require('@bull-board/express') as typeof import('@bull-board/express');
      const serverAdapter = new ExpressAdapter().setBasePath(QUEUE_DASHBOARD_PATH);
      createBullBoard({
        queues: ALL_QUEUES.map((name) => new BullMQAdapter(this.producer.queue(name), { allowRetries: true })),
        serverAdapter,
        options: { uiConfig: { boardTitle: 'certctl queues' } },
      });
      this.board = serverAdapter.getRouter() as RequestHandler;
    }
    return this.board;
  }

  /**
   * Exchanges an admin key for an HttpOnly session cookie scoped to the dashboard: a Bearer header (answers 204),
   * or the login form's `api_key` field (redirects to the dashboard).
   */
  private async login(req: Request, res: Response): Promise<void> {
    const formKey = typeof req.body?.api_key === 'string' && !req.headers.authorization ? (req.body.api_key as string).trim() : undefined;
    const principal = formKey ? await this.keys.resolve(formKey) : await this.bearer(req) ?? await this.consoleSession(req, { requireCsrf: true });
    if (!principal) return this.deny(req, res, 401, 'an admin API key is required (Authorization: Bearer <key>)');
    if (!holdsGlobally(principal, QUEUE_PERMISSION)) return this.deny(req, res, 403, `missing permission ${QUEUE_PERMISSION} (globally) to open the queue dashboard`);
    const token = randomBytes(32).toString('base64url');
    const session: DashboardSession = { actor: principal.actor, actor_type: principal.actor_type, credential: this.credentialOf(principal) };
    await this.redis.set(this.sessionKey(token), JSON.stringify(session), 'EX', SESSION_TTL_SECONDS);
    await this.audit.record({ actor: principal, action: 'queue_dashboard.session', resource_type: 'queue_dashboard', resource_id: 'session', event_category: 'auth' });
    res.cookie(QUEUE_SESSION_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: QUEUE_DASHBOARD_PATH, maxAge: SESSION_TTL_SECONDS * 1000 });
    if (formKey) res.redirect(303, `${QUEUE_DASHBOARD_PATH}/`);
    else res.status(204).end();
  }

  private async guard(req: Request, res: Response, next: NextFunction): Promise<void> {
    const actor = await this.actorOf(req, res);
    if (!actor) return;
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    // Actions: PUT /api/queues/:queue/:jobId/{retry,promote}, and PUT /api/queues/:queue/retry/:status (retry all).
    const parts = req.path.split('/').filter(Boolean).map((part) => decodedOrUndefined(part) ?? '');
    const [api, queues, queue, second, third] = parts;
    const verb = second === 'retry' ? 'retry' : third;
    if (api !== 'api' || queues !== 'queues' || !queue || !verb || !ALLOWED_ACTIONS.has(verb)) {
      return this.deny(req, res, 403, `the queue dashboard only retries and promotes jobs (refused: ${req.method} ${req.path})`);
    }
    const jobId = second === 'retry' ? `all-${third ?? 'failed'}` : second!;
    res.on('finish', () => {
      if (res.statusCode >= 400) return;
      this.audit.recordInBackground({
        actor, action: `queue_job.${verb}`, resource_type: 'queue_job', resource_id: `${queue}/${jobId}`,
        event_category: 'config', details: { queue, job_id: jobId, via: 'queue_dashboard' },
      });
    });
    next();
  }

  /** The admin behind the request (Bearer key or session cookie), or undefined after answering 401/403. */
  private async actorOf(req: Request, res: Response): Promise<Pick<Principal, 'actor' | 'actor_type'> | undefined> {
    const principal = await this.bearer(req);
    if (principal) {
      if (holdsGlobally(principal, QUEUE_PERMISSION)) return principal;
      this.deny(req, res, 403, `missing permission ${QUEUE_PERMISSION} (globally) to open the queue dashboard`);
      return undefined;
    }
    if (req.headers.authorization) {
      this.deny(req, res, 401, 'unknown, revoked or expired API key');
      return undefined;
    }
    // The console's own session (OpenID sign-in) may look at the dashboard; its actions need a dashboard session.
    const consoleUser = req.method === 'GET' || req.method === 'HEAD' ? await this.consoleSession(req, { requireCsrf: false }) : undefined;
    if (consoleUser) {
      if (holdsGlobally(consoleUser, QUEUE_PERMISSION)) return consoleUser;
      this.deny(req, res, 403, `missing permission ${QUEUE_PERMISSION} (globally) to open the queue dashboard`);
      return undefined;
    }
    const token = cookie(req.headers.cookie, QUEUE_SESSION_COOKIE);
    if (token !== undefined && !SESSION_TOKEN.test(token)) {
      this.deny(req, res, 401, `the ${QUEUE_SESSION_COOKIE} cookie is malformed; open a new session with POST ${QUEUE_DASHBOARD_PATH}/session`);
      return undefined;
    }
    const stored = token ? await this.redis.get(this.sessionKey(token)) : null;
    const session = stored ? (JSON.parse(stored) as DashboardSession) : undefined;
    // The key that opened the session is asked about on every request: revoked or expired, the session ends with it.
    if (session && !(await this.credentialStillValid(session.credential))) {
      await this.redis.del(this.sessionKey(token!));
      this.deny(req, res, 401, `the credential that opened this session was revoked, has expired or no longer holds ${QUEUE_PERMISSION}`);
      return undefined;
    }
    if (session) return session;
    if (req.method === 'GET' && req.path === '/' && req.accepts(['json', 'html']) === 'html') {
      res.status(401).type('html').send(LOGIN_FORM);
      return undefined;
    }
    this.deny(req, res, 401, `an admin API key (Authorization: Bearer) or a session from POST ${QUEUE_DASHBOARD_PATH}/session is required`);
    return undefined;
  }

  private async bearer(req: Request): Promise<Principal | undefined> {
    if (this.config.auth.type === 'none') return { actor: 'actor-demo-anon', actor_type: 'Anonymous', role: 'admin', grants: adminGrants() };
    const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    return match ? this.keys.resolve(match[1]!.trim()) : undefined;
  }

  /**
   * The person signed in to the console with the session cookie (checked against the database on every request,
   * so a deactivated user or a removed group mapping is refused at once). Opening a dashboard session is a
   * change, so it needs the CSRF token too.
   */
  private async consoleSession(req: Request, options: { requireCsrf: boolean }): Promise<Principal | undefined> {
    const token = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (token === undefined || this.config.auth.type === 'none') return undefined;
    const found = await this.sessions.resolve(token);
    if (!found.ok) return undefined;
    const csrf = req.headers[CSRF_HEADER];
    if (options.requireCsrf && !this.sessions.csrfMatches(found.session, typeof csrf === 'string' ? csrf : undefined)) return undefined;
    return found.session.principal;
  }

  /** What opened a session, to be checked again on each of its requests. */
  private credentialOf(principal: Principal): string {
    if (principal.session_id) return `session:${principal.session_id}`;
    if (principal.key_id) return `key:${principal.key_id}`;
    if (principal.actor_type === 'Anonymous') return 'none';
    return `bootstrap:${this.keys.bootstrapFingerprint() ?? ''}`;
  }

  /**
   * A stored key must still be active (the database is asked, no cache); the bootstrap key must still be the
   * configured one (a rotated CERTCTL_API_KEY ends its sessions); an anonymous session lives only while auth is off.
   */
  private async credentialStillValid(credential: string | undefined): Promise<boolean> {
    if (credential?.startsWith('key:')) {
      // The key must still be active and still hold the permission (a grant taken back ends the session too).
      const keyId = credential.slice('key:'.length);
      if (!(await this.keys.isActive(keyId))) return false;
      const { grants } = await this.grants.ofKey(keyId);
      return holdsGlobally({ actor: keyId, actor_type: 'APIKey', role: '', grants }, QUEUE_PERMISSION);
    }
    if (credential?.startsWith('session:')) return this.sessions.isLive(credential.slice('session:'.length), QUEUE_PERMISSION);
    if (credential?.startsWith('bootstrap:')) {
      const fingerprint = this.keys.bootstrapFingerprint();
      return fingerprint !== undefined && credential === `bootstrap:${fingerprint}`;
    }
    return credential === 'none' && this.config.auth.type === 'none';
  }

  private sessionKey(token: string): string {
    return `${this.config.redis.queuePrefix}:queue-dashboard-session:${createHash('sha256').update(token).digest('hex')}`;
  }

  /** The API's error shape (request_id included), as Nest's filter would answer. */
  private deny(req: Request, res: Response, status: number, message: string): void {
    sendError(res, status, status === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN', message, requestIdOf(req));
  }

  private fail(req: Request, res: Response, err: unknown): void {
    this.logger.error({ err: (err as Error).message }, 'queue dashboard request failed');
    sendError(res, 500, 'INTERNAL', 'internal error', requestIdOf(req));
  }
}

/** What a browser gets at /admin/queues without a session: a form that posts an admin key for one. */
const LOGIN_FORM = `<!doctype html><html><head><meta charset="utf-8"><title>certctl queues</title></head><body>
<form method="post" action="${QUEUE_DASHBOARD_PATH}/session"><label>Admin API key <input type="password" name="api_key" autocomplete="off" required></label>
<button type="submit">Open the queue dashboard</button></form></body></html>`;

/** What a session stores: who opened it, and with what (`key:<id>`, `bootstrap:<fingerprint>` or `none`). */
interface DashboardSession extends Pick<Principal, 'actor' | 'actor_type'> {
  credential?: string;
}

/** Session tokens are 32 random bytes in base64url (43 characters); anything else was not issued here. */
const SESSION_TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** A cookie's value ('' when its percent-encoding is malformed, which SESSION_TOKEN then refuses). */
function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodedOrUndefined(part.slice(i + 1).trim()) ?? '';
  }
  return undefined;
}

function requestIdOf(req: Request): string {
  return String((req as Request & { id?: unknown }).id ?? '');
}

function decodedOrUndefined(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

@Module({ providers: [QueueDashboard] })
export class QueueDashboardModule {}
