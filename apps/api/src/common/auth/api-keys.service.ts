import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, IsNull } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import type { ApiKeyRole } from '@certctl/contracts';
import { ApiKeyEntity, newId } from '@certctl/db';
import { ApiError } from '../http/api-error';
import { AuditService } from '../audit/audit.service';
import { TtlCache } from '../cache';
import { GrantRow, GrantsService, KEY_GRANTS_COLUMN, live } from './grants.service';
import { ADMIN_ROLE_GRANT, adminGrants, primaryRoleOf, type Principal } from './principal';

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** A new secret: 32 random bytes, base64url, with a recognisable prefix for secret scanners. */
export function generateApiKey(): string {
  return `cck_${randomBytes(32).toString('base64url')}`;
}

const LAST_USED_WRITE_INTERVAL_MS = 60_000;
const LAST_USED_BATCH_MS = 1_000;
/**
 * A resolved key (with its grants, read in the same query) is reused for this long, sparing a query per request.
 * A key revoked or a grant changed in this process counts at once; on other api replicas within this many
 * milliseconds. Expiry of the key and of each grant is exact (checked on each use).
 */
const RESOLVED_KEY_TTL_MS = 5_000;

/**
 * A cached lookup: the key's principal, when it stops working (epoch ms), and its grants with their expiries,
 * all checked on every use.
 */
interface ResolvedKey {
  principal: Principal;
  expiresAt: number | null;
  grants: GrantRow[];
}

export interface CreatedApiKey {
  key: ApiKeyEntity;
  secret: string;
}

/** API keys: stored as SHA-256 hashes, resolved per request, the secret shown once. */
@Injectable()
export class ApiKeysService {
  private readonly bootstrapHash: Buffer | undefined;
  private readonly lastUsedWritten = new Map<string, number>();
  private readonly usedSinceWrite = new Set<string>();
  private lastUsedWrite: NodeJS.Timeout | undefined;
  private readonly resolved = new TtlCache<ResolvedKey | undefined>(RESOLVED_KEY_TTL_MS, 10_000);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly audit: AuditService,
    private readonly grants: GrantsService,
  ) {
    const bootstrap = config.auth.bootstrapApiKey;
    this.bootstrapHash = bootstrap ? createHash('sha256').update(bootstrap).digest() : undefined;
    // A grant given or taken back counts from the next request in this process.
    this.grants.alsoClear(() => this.resolved.clear());
  }

  /**
   * The principal of a presented key with its grants (its roles' permissions and where they apply, expired grants
   * left out), or undefined when it is unknown, revoked or expired.
   */
  async resolve(presented: string): Promise<Principal | undefined> {
    const digest = createHash('sha256').update(presented).digest();
    if (this.bootstrapHash && timingSafeEqual(digest, this.bootstrapHash)) {
      return { actor: 'bootstrap-admin', actor_type: 'APIKey', role: 'admin', grants: adminGrants(), roles: [ADMIN_ROLE_GRANT] };
    }
    const found = await this.resolved.get(digest.toString('hex'), () => this.lookup(digest));
    // The cache spares the query, not the clock: a key stops working at its expires_at to the millisecond.
    if (!found || (found.expiresAt !== null && found.expiresAt <= Date.now())) return undefined;
    const { grants, roles } = live(found.grants);
    // The key's own role names it while the key still holds it; otherwise the strongest role it holds now.
    const role = roles.some((r) => r.role_id === `r-${found.principal.role}`) ? found.principal.role : primaryRoleOf(roles);
    return { ...found.principal, role, grants, roles };
  }

  /** A fingerprint of the configured bootstrap key (not the key, nor its plain hash), to notice when it changes. */
  bootstrapFingerprint(): string | undefined {
    return this.bootstrapHash ? createHash('sha256').update('certctl-bootstrap-fingerprint:').update(this.bootstrapHash).digest('hex').slice(0, 32) : undefined;
  }

  /**
   * Whether a stored key is still usable now (not revoked, not expired), asked of the database each time: for
   * long-lived sessions opened with a key, which must end when the key does.
   */
  async isActive(keyId: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(
      'SELECT 1 FROM api_keys WHERE id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())',
      [keyId],
    );
    return rows.length > 0;
  }

  private async lookup(digest: Buffer): Promise<ResolvedKey | undefined> {
    const hex = digest.toString('hex');
    const rows: Array<{ id: string; name: string; role: string; agent_id: string | null; key_hash: string; expires_at: Date | null; grants: GrantRow[] }> =
      await this.dataSource.query(
        `SELECT k.id, k.name, k.role, k.agent_id, k.key_hash, k.expires_at, ${KEY_GRANTS_COLUMN} FROM api_keys k
          WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())`,
        [hex],
      );
    const row = rows[0];
    // The lookup is by hash; the final comparison is constant-time all the same.
    if (!row || !timingSafeEqual(Buffer.from(row.key_hash, 'hex'), digest)) return undefined;
    this.touch(row.id);
    const principal: Principal = row.role === 'agent'
      ? { actor: row.name, actor_type: 'Agent', role: 'agent', key_id: row.id, agent_id: row.agent_id ?? undefined }
      : { actor: row.name, actor_type: 'APIKey', role: row.role, key_id: row.id };
    return { principal, expiresAt: row.expires_at ? new Date(row.expires_at).getTime() : null, grants: row.grants };
  }

  /**
   * Records last use at most once a minute per key, off the request path, the keys used within a second written
   * together: 10,000 agents' keys are 167 statements a second one by one, one statement a second batched.
   */
  private touch(id: string): void {
    const now = Date.now();
    if (now - (this.lastUsedWritten.get(id) ?? 0) < LAST_USED_WRITE_INTERVAL_MS) return;
    this.lastUsedWritten.set(id, now);
    this.usedSinceWrite.add(id);
    this.lastUsedWrite ??= setTimeout(() => this.writeLastUsed(), LAST_USED_BATCH_MS).unref();
  }

  private writeLastUsed(): void {
    this.lastUsedWrite = undefined;
    const ids = [...this.usedSinceWrite];
    this.usedSinceWrite.clear();
    void this.dataSource.query('UPDATE api_keys SET last_used_at = now() WHERE id = ANY($1::text[])', [ids]).catch(() => undefined);
  }

  async create(
    actor: Principal,
    input: { name: string; role: ApiKeyRole; agent_id?: string; expires_at?: Date },
    manager = this.dataSource.manager,
  ): Promise<CreatedApiKey> {
    const secret = generateApiKey();
    const key = manager.create(ApiKeyEntity, {
      id: newId('apiKey'),
      name: input.name,
      role: input.role,
      agent_id: input.agent_id ?? null,
      key_hash: sha256Hex(secret),
      created_by: actor.actor,
      expires_at: input.expires_at ?? null,
    });
    await manager.transaction(async (tx) => {
      const existing = await tx.findOne(ApiKeyEntity, { where: { name: input.name } });
      if (existing) throw ApiError.conflict('DUPLICATE', `api key ${input.name} already exists`, [{ field: 'name', message: 'already exists' }]);
      await tx.insert(ApiKeyEntity, key);
      await this.audit.record(
        { actor, action: 'api_key_created', resource_type: 'api_key', resource_id: key.id, event_category: 'auth',
          details: { name: key.name, role: key.role, agent_id: key.agent_id } },
        tx,
      );
    });
    const saved = await manager.findOneOrFail(ApiKeyEntity, { where: { id: key.id } });
    return { key: saved, secret };
  }

  list(): Promise<ApiKeyEntity[]> {
    return this.dataSource.manager.find(ApiKeyEntity, { order: { created_at: 'ASC', id: 'ASC' } });
  }

  /** A key by id (404 when unknown), for grants made to it. */
  async get(id: string): Promise<ApiKeyEntity> {
    const key = await this.dataSource.manager.findOne(ApiKeyEntity, { where: { id } });
    if (!key) throw ApiError.notFound('api key', id);
    return key;
  }

  async revoke(actor: Principal, id: string): Promise<ApiKeyEntity> {
    const revoked = await this.dataSource.transaction(async (tx) => {
      const key = await tx.findOne(ApiKeyEntity, { where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!key) throw ApiError.notFound('api key', id);
      if (key.revoked_at) throw ApiError.conflict('ALREADY_REVOKED', `api key ${id} is already revoked`);
      key.revoked_at = new Date();
      await tx.update(ApiKeyEntity, { id, revoked_at: IsNull() }, { revoked_at: key.revoked_at });
      await this.audit.record(
        { actor, action: 'api_key_revoked', resource_type: 'api_key', resource_id: id, event_category: 'auth', details: { name: key.name } },
        tx,
      );
      return key;
    });
    // Forgotten after the commit: a lookup between the update and the commit still read the key as valid, and had it
    // been cached after a clear made inside the transaction it would have kept working here for RESOLVED_KEY_TTL_MS.
    this.resolved.clear();
    this.grants.clear();
    return revoked;
  }
}
