import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { REDIS } from '@certctl/db';
import { ClusterCounters } from '@certctl/observability';
import { buildCrl, isRevocationReason } from '@certctl/pki';
import { CRL_COUNTER, CrlCounterLabel } from './revocation-counters';
import { clientKeyOf } from './client-key';
import { RevocationAuthorities } from './revocation-authorities';
import { SharedRateLimit } from './shared-rate-limit';

export interface CachedCrl {
  issuer_id: string;
  crl_der: Buffer;
  crl_number: string;
  this_update: Date;
  next_update: Date;
  generation_duration_ms: number;
  revoked_count: number;
  updated_at: Date;
}

/** A weak ETag from the first 16 bytes of the CRL's SHA-256 (certctl §9.1). */
export function crlEtag(der: Buffer): string {
  return `W/"${createHash('sha256').update(der).digest('hex').slice(0, 32)}"`;
}

/**
 * The CRL of each Local CA issuer, kept in crl_cache: built by the schedule tick, right after a revocation and
 * on a miss. A build takes a transaction-scoped advisory lock per issuer, so replicas building at the same time
 * take turns and the CRL number only grows; concurrent callers in one process share one build.
 */
@Injectable()
export class CrlService {
  private readonly logger = new Logger(CrlService.name);
  private readonly building = new Map<string, Promise<CachedCrl>>();
  private readonly rateLimit: SharedRateLimit;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly authorities: RevocationAuthorities,
    private readonly counters: ClusterCounters,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(REDIS) redis: Redis,
  ) {
    this.rateLimit = new SharedRateLimit(redis, `${config.redis.queuePrefix}:crl-rl`, () => config.revocation.crlRateLimitPerMinute);
  }

  /** Counts one public CRL request of this client address; true (and counted as rate_limited) when past the limit. */
  async limited(client: string | undefined): Promise<boolean> {
    if (!(await this.rateLimit.hit(clientKeyOf(client)))) return false;
    await this.count('rate_limited');
    return true;
  }

  count(label: CrlCounterLabel): Promise<void> {
    return this.counters.increment(CRL_COUNTER, { label });
  }

  /** The current CRL; built now when there is none or it is past its nextUpdate. Throws RevocationAuthorityError. */
  async current(issuerId: string): Promise<CachedCrl> {
    await this.authorities.forIssuer(issuerId);
    const [row] = await this.dataSource.query<CachedCrl[]>('SELECT * FROM crl_cache WHERE issuer_id = $1', [issuerId]);
    if (row && new Date(row.next_update).getTime() > Date.now()) return row;
    return this.generate(issuerId);
  }

  /** Builds and stores a new CRL (number + 1) from certificate_revocations. */
  generate(issuerId: string): Promise<CachedCrl> {
    let build = this.building.get(issuerId);
    if (!build) {
      build = this.build(issuerId).finally(() => this.building.delete(issuerId));
      this.building.set(issuerId, build);
    }
    return build;
  }

  /** Every CRL-capable issuer's CRL, rebuilt (the schedule tick). Failures are logged and counted, not thrown. */
  async generateAll(): Promise<number> {
    const issuers: Array<{ id: string }> = await this.dataSource.query(`SELECT id FROM issuers WHERE type IN ('GenericCA', 'local') AND enabled ORDER BY id`);
    let built = 0;
    for (const { id } of issuers) {
      try {
        await this.generate(id);
        built++;
      } catch (err) {
        this.logger.warn({ issuerId: id, err: (err as Error).message }, 'CRL generation failed');
      }
    }
    return built;
  }

  /** What GET /api/v1/admin/crl/cache shows: one row per issuer, without the DER. */
  async cacheState(): Promise<Array<Omit<CachedCrl, 'crl_der'> & { crl_size_bytes: number }>> {
    return this.dataSource.query(
      `SELECT issuer_id, crl_number, this_update, next_update, generation_duration_ms, revoked_count, updated_at,
              octet_length(crl_der) AS crl_size_bytes
         FROM crl_cache ORDER BY issuer_id`,
    ).then((rows: Array<Record<string, unknown>>) => rows.map((r) => ({ ...r, crl_size_bytes: Number(r.crl_size_bytes) })) as never);
  }

  private async build(issuerId: string): Promise<CachedCrl> {
    const started = performance.now();
    try {
      const authority = await this.authorities.forIssuer(issuerId);
      const row = await this.dataSource.transaction(async (tx) => {
        await tx.query(`SELECT pg_advisory_xact_lock(hashtext('certctl-crl:' || $1))`, [issuerId]);
        const [previous] = await tx.query<Array<{ crl_number: string }>>('SELECT crl_number FROM crl_cache WHERE issuer_id = $1', [issuerId]);
        const revoked: Array<{ serial_number: string; revoked_at: Date; reason: string }> = await tx.query(
          'SELECT serial_number, revoked_at, reason FROM certificate_revocations WHERE issuer_id = $1 ORDER BY revoked_at, serial_number',
          [issuerId],
        );
        const crlNumber = BigInt(previous?.crl_number ?? 0) + 1n;
        const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000);
        const nextUpdate = new Date(thisUpdate.getTime() + this.config.revocation.crlValidityMs);
        const der = buildCrl({
          issuer: authority.identity, signer: authority.signer, crlNumber, thisUpdate, nextUpdate,
          revoked: revoked.map((r) => ({ serialNumber: r.serial_number, revokedAt: new Date(r.revoked_at), reason: isRevocationReason(r.reason) ? r.reason : 'unspecified' })),
        });
        const duration = Math.round(performance.now() - started);
        const [stored] = await tx.query<CachedCrl[]>(
          `INSERT INTO crl_cache (issuer_id, crl_der, crl_number, this_update, next_update, generation_duration_ms, revoked_count, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, now())
           ON CONFLICT (issuer_id) DO UPDATE SET crl_der = EXCLUDED.crl_der, crl_number = EXCLUDED.crl_number, this_update = EXCLUDED.this_update,
             next_update = EXCLUDED.next_update, generation_duration_ms = EXCLUDED.generation_duration_ms, revoked_count = EXCLUDED.revoked_count, updated_at = now()
           RETURNING *`,
          [issuerId, der, crlNumber.toString(), thisUpdate, nextUpdate, duration, revoked.length],
        );
        await tx.query(
          'INSERT INTO crl_generation_events (issuer_id, crl_number, succeeded, duration_ms, revoked_count) VALUES ($1, $2, true, $3, $4)',
          [issuerId, crlNumber.toString(), duration, revoked.length],
        );
        return stored!;
      });
      await this.count('generated');
      return row;
    } catch (err) {
      await this.count('generation_failed');
      await this.dataSource.query(
        'INSERT INTO crl_generation_events (issuer_id, succeeded, error, duration_ms) VALUES ($1, false, $2, $3)',
        [issuerId, String((err as Error).message).slice(0, 1000), Math.round(performance.now() - started)],
      ).catch(() => undefined);
      throw err;
    }
  }
}
