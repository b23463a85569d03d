import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Request, Response } from 'express';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { newId } from '@certctl/db';
import { sha256Hex } from './api-keys.service';
import { GrantsService } from './grants.service';
import { ADMIN_ROLE_GRANT, adminGrants, holdsGlobally, primaryRoleOf, type Principal } from './principal';

/** The httpOnly cookie that names a server-side session (certctl's name). */
export const SESSION_COOKIE = 'certctl_session';
/** A readable cookie holding the session's CSRF token, which the console echoes in X-CSRF-Token. */
export const CSRF_COOKIE = 'certctl_csrf';
export const CSRF_HEADER = 'x-csrf-token';

/** Tokens are 32 random bytes in base64url (43 characters); any other cookie value was not issued here. */
const TOKEN_FORMAT = /^[A-Za-z0-9_-]{43}$/;
/** The idle deadline is pushed forward at most this often per session, not on every request. */
const TOUCH_INTERVAL_SECONDS = 15;

export interface SessionView {
  id: string;
  user_id: string;
  email?: string;
  ip?: string;
  user_agent?: string;
  created_at: Date;
  last_seen_at: Date;
  idle_expires_at: Date;
  absolute_expires_at: Date;
  revoked_at?: Date;
  revoked_reason?: string;
}

export interface ResolvedSession {
  principal: Principal;
  csrfTokenHash: string;
}

export type SessionLookup = { ok: true; session: ResolvedSession } | { ok: false; reason: string };

/**
 * Console sessions after an OpenID sign-in. Only hashes of the cookie and of the CSRF token are stored. Every
 * request asks the database (one indexed query, no cache) whether the session and its user still hold, and loads
 * the user's grants (its own and its groups' mappings, cached for a second, cleared on every grant change): a
 * deactivated user, or one left with no live grant (mapping removed, grant expired), ends the session then.
 */
@Injectable()
export class SessionsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly grants: GrantsService,
  ) {}

  async create(userId: string, meta: { providerSid?: string; idTokenHint?: string; ip?: string; userAgent?: string }): Promise<{ id: string; token: string; csrf: string }> {
    const token = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    const id = newId('session');
    const { sessionIdleMs, sessionAbsoluteMs } = this.config.auth;
    await this.dataSource.query(
      `INSERT INTO sessions (id, token_hash, csrf_token_hash, user_id, provider_sid, id_token_hint, ip, user_agent, idle_expires_at, absolute_expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9), now() + make_interval(secs => $10))`,
      [id, sha256Hex(token), sha256Hex(csrf), userId, meta.providerSid ?? null, meta.idTokenHint ?? null, meta.ip ?? null, meta.userAgent?.slice(0, 512) ?? null,
        sessionIdleMs / 1000, sessionAbsoluteMs / 1000],
    );
    return { id, token, csrf };
  }

  /** The session a cookie names, or why it does not count (malformed, unknown, expired, revoked, user or role gone). */
  async resolve(token: string): Promise<SessionLookup> {
    if (!TOKEN_FORMAT.test(token)) return { ok: false, reason: `the ${SESSION_COOKIE} cookie is malformed` };
    return this.resolveByHash(sha256Hex(token));
  }

  private async resolveByHash(tokenHash: string): Promise<SessionLookup> {
    const rows: Array<{
      id: string; csrf_token_hash: string; user_id: string; email: string | null; oidc_subject: string | null; breakglass_username: string | null; provider_id: string | null;
      deactivated_at: Date | null; enabled: boolean | null; live: boolean; touch: boolean;
    }> = await this.dataSource.query(
      `SELECT s.id, s.csrf_token_hash, u.id AS user_id, u.email, u.oidc_subject, u.oidc_provider_id AS provider_id, u.deactivated_at, p.enabled, b.username AS breakglass_username,
              (s.revoked_at IS NULL AND s.idle_expires_at > now() AND s.absolute_expires_at > now()) AS live,
              (s.last_seen_at < now() - make_interval(secs => ${TOUCH_INTERVAL_SECONDS})) AS touch
         FROM sessions s JOIN users u ON u.id = s.user_id
         LEFT JOIN oidc_providers p ON p.id = u.oidc_provider_id
         LEFT JOIN breakglass_credentials b ON b.user_id = u.id
        WHERE s.token_hash = $1`,
      [tokenHash],
    );
    const row = rows[0];
    if (!row || !row.live) return { ok: false, reason: 'the session is unknown, expired or was ended' };
    const breakglass = row.breakglass_username !== null;
    // Break-glass is the admin login for when the provider is down: it holds every permission.
    const held = breakglass ? { grants: adminGrants(), roles: [ADMIN_ROLE_GRANT] } : await this.grants.ofUser(row.user_id);
    const ended = row.deactivated_at ? 'user deactivated'
      : breakglass ? (this.config.auth.breakglass.enabled ? undefined : 'break-glass login disabled')
        : !row.enabled ? 'provider disabled or deleted' : held.roles.length === 0 ? 'no role is granted to the user or its groups' : undefined;
    if (ended) {
      await this.revokeWhere('id = $1', [row.id], ended);
      return { ok: false, reason: `the session ended: ${ended}` };
    }
    if (row.touch) {
      await this.dataSource.query(
        'UPDATE sessions SET last_seen_at = now(), idle_expires_at = LEAST(now() + make_interval(secs => $2), absolute_expires_at) WHERE id = $1',
        [row.id, this.config.auth.sessionIdleMs / 1000],
      );
    }
    const actor = breakglass ? `breakglass:${row.breakglass_username}` : row.email ?? row.oidc_subject ?? row.user_id;
    const principal: Principal = {
      actor, actor_type: 'User', role: primaryRoleOf(held.roles), user_id: row.user_id, session_id: row.id, grants: held.grants, roles: held.roles,
      email: row.email ?? undefined, provider_id: breakglass ? undefined : row.provider_id ?? undefined,
    };
    return { ok: true, session: { principal, csrfTokenHash: row.csrf_token_hash } };
  }

  /** Constant-time check of a presented CSRF token against the session's. */
  csrfMatches(session: ResolvedSession, presented: string | undefined): boolean {
    if (!presented) return false;
    return timingSafeEqual(Buffer.from(sha256Hex(presented), 'hex'), Buffer.from(session.csrfTokenHash, 'hex'));
  }

  /**
   * Whether a session is still usable now and still holds `permission` globally (for the queue dashboard's own
   * cookie, opened from this one).
   */
  async isLive(sessionId: string, permission: string): Promise<boolean> {
    const rows: Array<{ token_hash: string }> = await this.dataSource.query('SELECT token_hash FROM sessions WHERE id = $1', [sessionId]);
    if (!rows[0]) return false;
    const found = await this.resolveByHash(rows[0].token_hash);
    return found.ok && holdsGlobally(found.session.principal, permission);
  }

  list(filter: { userId?: string }): Promise<SessionView[]> {
    return this.dataSource.query(
      `SELECT s.id, s.user_id, u.email, s.ip, s.user_agent, s.created_at, s.last_seen_at, s.idle_expires_at, s.absolute_expires_at, s.revoked_at, s.revoked_reason
         FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE ($1::text IS NULL OR s.user_id = $1) AND s.revoked_at IS NULL AND s.idle_expires_at > now() AND s.absolute_expires_at > now()
        ORDER BY s.created_at, s.id`,
      [filter.userId ?? null],
    );
  }

  async get(id: string): Promise<SessionView | undefined> {
    const rows: SessionView[] = await this.dataSource.query(
      `SELECT s.id, s.user_id, u.email, s.ip, s.user_agent, s.created_at, s.last_seen_at, s.idle_expires_at, s.absolute_expires_at, s.revoked_at, s.revoked_reason
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1`,
      [id],
    );
    return rows[0];
  }

  /** Ends sessions matching a condition; returns the ids ended. */
  async revokeWhere(condition: string, params: unknown[], reason: string): Promise<string[]> {
    const rows = changedRows<{ id: string }>(await this.dataSource.query(
      `UPDATE sessions SET revoked_at = now(), revoked_reason = $${params.length + 1} WHERE revoked_at IS NULL AND (${condition}) RETURNING id`,
      [...params, reason],
    ));
    return rows.map((r) => r.id);
  }

  /** The id_token to hint at the provider's logout, kept for RP-initiated logout. */
  async idTokenHint(sessionId: string): Promise<string | undefined> {
    const rows: Array<{ id_token_hint: string | null }> = await this.dataSource.query('SELECT id_token_hint FROM sessions WHERE id = $1', [sessionId]);
    return rows[0]?.id_token_hint ?? undefined;
  }

  /** Sets the session and CSRF cookies: httpOnly (session) and Secure whenever the request came over TLS. */
  setCookies(req: Request, res: Response, created: { token: string; csrf: string }): void {
    const maxAge = this.config.auth.sessionAbsoluteMs;
    res.cookie(SESSION_COOKIE, created.token, { httpOnly: true, secure: req.secure, sameSite: 'lax', path: '/', maxAge });
    res.cookie(CSRF_COOKIE, created.csrf, { httpOnly: false, secure: req.secure, sameSite: 'lax', path: '/', maxAge });
  }

  clearCookies(req: Request, res: Response): void {
    res.clearCookie(SESSION_COOKIE, { httpOnly: true, secure: req.secure, sameSite: 'lax', path: '/' });
    res.clearCookie(CSRF_COOKIE, { secure: req.secure, sameSite: 'lax', path: '/' });
  }
}

/** The rows of an UPDATE or DELETE … RETURNING: TypeORM answers those as [rows, affected count]. */
export function changedRows<T>(result: unknown): T[] {
  return (Array.isArray(result) && Array.isArray(result[0]) && typeof result[1] === 'number' ? result[0] : result) as T[];
}

/** A cookie's value from the Cookie header ('' when its percent-encoding is malformed). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        return '';
      }
    }
  }
  return undefined;
}
