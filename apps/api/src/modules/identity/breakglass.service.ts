import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { enqueueNotifications, JobProducer, newId, recordNotifications } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { changedRows, SessionsService } from '../../common/auth/sessions.service';
import { ApiError } from '../../common/http/api-error';

/** scrypt cost: 2^15 x 8 x 1 (about 32 MiB and tens of milliseconds per try), a 16-byte salt, a 32-byte hash. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const KEY_LENGTH = 32;

function scryptHash(password: string, salt: Buffer, params = SCRYPT): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, KEY_LENGTH, params, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptHash(password, salt);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scryptHash(password, Buffer.from(salt, 'base64url'), { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Compared against when the username is unknown, so an unknown name costs what a wrong password does. */
const UNKNOWN_USER_HASH = hashPassword(randomBytes(24).toString('base64url'));

export interface BreakglassCredentialView {
  id: string;
  user_id: string;
  username: string;
  failed_attempts: number;
  locked_until?: Date;
  last_used_at?: Date;
  created_by: string;
  created_at: Date;
}

/**
 * The break-glass admin login, for when the OpenID provider is down: off unless CERTCTL_BREAKGLASS_ENABLED, a
 * password hashed with scrypt, locked for a while after repeated failures, and every use (and every failure)
 * audited; a successful one also raises a critical BreakGlassLogin alert through the notifier.
 */
@Injectable()
export class BreakglassService {
  private readonly logger = new Logger(BreakglassService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly sessions: SessionsService,
    private readonly audit: AuditService,
    private readonly producer: JobProducer,
  ) {}

  list(): Promise<BreakglassCredentialView[]> {
    return this.dataSource.query(
      'SELECT id, user_id, username, failed_attempts, locked_until, last_used_at, created_by, created_at FROM breakglass_credentials ORDER BY created_at, id',
    );
  }

  async create(actor: Principal, input: { username: string; password: string }): Promise<BreakglassCredentialView> {
    const hash = await hashPassword(input.password);
    const id = newId('breakglassCredential');
    await this.dataSource.transaction(async (tx) => {
      const taken: unknown[] = await tx.query('SELECT 1 FROM breakglass_credentials WHERE username = $1', [input.username]);
      if (taken.length) throw ApiError.conflict('DUPLICATE', `break-glass user ${input.username} already exists`, [{ field: 'username', message: 'already exists' }]);
      const userId = newId('user');
      await tx.query('INSERT INTO users (id, display_name) VALUES ($1, $2)', [userId, input.username]);
      await tx.query('INSERT INTO breakglass_credentials (id, user_id, username, password_hash, created_by) VALUES ($1, $2, $3, $4, $5)',
        [id, userId, input.username, hash, actor.actor]);
      await this.audit.record({ actor, action: 'breakglass_credential_created', resource_type: 'breakglass_credential', resource_id: id, event_category: 'auth',
        details: { username: input.username } }, tx);
    });
    return (await this.list()).find((c) => c.id === id)!;
  }

  async unlock(actor: Principal, id: string): Promise<void> {
    const rows = changedRows(await this.dataSource.query('UPDATE breakglass_credentials SET failed_attempts = 0, locked_until = NULL WHERE id = $1 RETURNING id', [id]));
    if (!rows.length) throw ApiError.notFound('break-glass credential', id);
    await this.audit.record({ actor, action: 'breakglass_credential_unlocked', resource_type: 'breakglass_credential', resource_id: id, event_category: 'auth' });
  }

  /** Deletes the credential and its user; its sessions end with it. */
  async remove(actor: Principal, id: string): Promise<void> {
    const rows: Array<{ user_id: string }> = await this.dataSource.query('SELECT user_id FROM breakglass_credentials WHERE id = $1', [id]);
    if (!rows[0]) throw ApiError.notFound('break-glass credential', id);
    await this.sessions.revokeWhere('user_id = $1', [rows[0].user_id], 'break-glass credential deleted');
    await this.dataSource.query('DELETE FROM users WHERE id = $1', [rows[0].user_id]);
    await this.audit.record({ actor, action: 'breakglass_credential_deleted', resource_type: 'breakglass_credential', resource_id: id, event_category: 'auth' });
  }

  /** Checks the password (under a row lock, so parallel guesses count one by one) and opens an admin session. */
  async login(username: string, password: string, meta: { ip?: string; userAgent?: string }): Promise<{ token: string; csrf: string }> {
    const settings = this.config.auth.breakglass;
    if (!settings.enabled) throw new ApiError(HttpStatus.NOT_FOUND, 'BREAKGLASS_DISABLED', 'the break-glass login is not enabled (CERTCTL_BREAKGLASS_ENABLED)');
    const anonymous = { actor: `breakglass:${username.slice(0, 100)}`, actor_type: 'User' as const };
    const outcome = await this.dataSource.transaction(async (tx) => {
      const rows: Array<{ id: string; user_id: string; password_hash: string; failed_attempts: number; locked: boolean; deactivated_at: Date | null }> = await tx.query(
        `SELECT b.id, b.user_id, b.password_hash, b.failed_attempts, (b.locked_until IS NOT NULL AND b.locked_until > now()) AS locked, u.deactivated_at
           FROM breakglass_credentials b JOIN users u ON u.id = b.user_id WHERE b.username = $1 FOR UPDATE OF b`,
        [username],
      );
      const row = rows[0];
      if (row?.locked) return { kind: 'locked' as const, id: row.id };
      const ok = await verifyPassword(password, row?.password_hash ?? (await UNKNOWN_USER_HASH));
      if (!row || !ok) {
        if (!row) return { kind: 'failed' as const };
        const failures = row.failed_attempts + 1;
        const lock = failures >= settings.lockoutThreshold;
        await tx.query(
          `UPDATE breakglass_credentials SET failed_attempts = $2, locked_until = CASE WHEN $3 THEN now() + make_interval(secs => $4) ELSE locked_until END WHERE id = $1`,
          [row.id, lock ? 0 : failures, lock, settings.lockoutMs / 1000],
        );
        return { kind: lock ? 'now-locked' as const : 'failed' as const, id: row.id, failures };
      }
      if (row.deactivated_at) return { kind: 'deactivated' as const, id: row.id };
      await tx.query('UPDATE breakglass_credentials SET failed_attempts = 0, locked_until = NULL, last_used_at = now() WHERE id = $1', [row.id]);
      return { kind: 'ok' as const, id: row.id, userId: row.user_id };
    });

    if (outcome.kind !== 'ok') {
      await this.audit.record({ actor: anonymous, action: outcome.kind === 'failed' ? 'breakglass_login_failed' : 'breakglass_login_locked',
        resource_type: 'breakglass_credential', resource_id: outcome.id ?? 'unknown', event_category: 'auth', details: { username, ip: meta.ip ?? null } });
      if (outcome.kind === 'locked' || outcome.kind === 'now-locked') {
        throw new ApiError(HttpStatus.TOO_MANY_REQUESTS, 'BREAKGLASS_LOCKED', `too many failed attempts: the break-glass login is locked for ${Math.round(settings.lockoutMs / 60_000)} min (an admin may unlock it)`);
      }
      if (outcome.kind === 'deactivated') throw new ApiError(HttpStatus.FORBIDDEN, 'USER_DEACTIVATED', 'this user has been deactivated by an administrator');
      throw new ApiError(HttpStatus.UNAUTHORIZED, 'UNAUTHENTICATED', 'wrong username or password');
    }
    const created = await this.sessions.create(outcome.userId, meta);
    await this.audit.record({ actor: anonymous, action: 'breakglass_login', resource_type: 'breakglass_credential', resource_id: outcome.id, event_category: 'auth',
      details: { username, user_id: outcome.userId, session_id: created.id, ip: meta.ip ?? null } });
    await this.alert(username, meta.ip);
    return created;
  }

  /** A critical alert on the default channels: someone used the break-glass login. */
  private async alert(username: string, ip: string | undefined): Promise<void> {
    try {
      const ids = await recordNotifications(this.dataSource.manager, {
        type: 'BreakGlassLogin', certificate_id: null, message: `Break-glass admin login used by ${username}${ip ? ` from ${ip}` : ''}`,
      });
      await enqueueNotifications(this.producer, ids);
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'break-glass login alert could not be queued (the row stays for the reconciler)');
    }
  }
}
