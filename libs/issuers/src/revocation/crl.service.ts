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
import { RevocationAuthorities, RevocationAuthority, RevocationAuthorityError } from './revocation-authorities';
import { SharedRateLimit } from './shared-rate-limit';

export interface CachedCrl {
  issuer_id: string;
  /** The CRL partition, or -1 for the issuer's full CRL (the unsharded URL). */
  shard: number;
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

/** crl_cache's shard of an issuer's full CRL (every revoked serial, no Issuing Distribution Point). */
const FULL_CRL = -1;

/** One generation attempt, as certctl's admin CRL view lists it. */
export interface CrlCacheEvent { started_at: Date; duration_ms: number; succeeded: boolean; crl_number: number; revoked_count: number; error?: string }

/** One issuer in certctl's admin CRL view; the CRL fields only when a CRL was built (`cache_present`). */
export interface CrlCacheIssuerRow {
  issuer_id: string;
  cache_present: boolean;
  crl_number?: number;
  this_update?: Date;
  next_update?: Date;
  generated_at?: Date;
  generation_duration_ms?: number;
  revoked_count?: number;
  is_stale?: boolean;
  recent_events: CrlCacheEvent[];
}

/**
 * The CRL of each Local CA issuer, kept in crl_cache: built by the schedule tick, right after a revocation and
 * on a miss. A build takes a transaction-scoped advisory lock per issuer and shard, so replicas building at the
 * same time take turns and the CRL number only grows; concurrent callers in one process share one build.
 *
 * An issuer with crl_shards > 1 has, besides its full CRL, one CRL per shard: only that shard's revoked serials,
 * its own CRL number, and a critical Issuing Distribution Point naming the URL its leaves carry. A shard once
 * used keeps being served after the shard count changes (its leaves still name it).
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

  /**
   * The current CRL (the full one, or a shard's); built now when there is none or it is past its nextUpdate.
   * Throws RevocationAuthorityError (an unknown issuer, or a shard the issuer never had).
   */
  async current(issuerId: string, shard?: number): Promise<CachedCrl> {
    const authority = await this.authorities.forIssuer(issuerId);
    const [row] = await this.dataSource.query<CachedCrl[]>('SELECT * FROM crl_cache WHERE issuer_id = $1 AND shard = $2', [issuerId, shard ?? FULL_CRL]);
    if (row && new Date(row.next_update).getTime() > Date.now()) return row;
    if (shard !== undefined && !row) await this.checkShard(authority, shard);
    return this.generate(issuerId, shard);
  }

  /**
   * A shard below the issuer's count when it has more than one (read from its row, so a change applies at once), or one a stored
   * certificate version names (issued before the count shrank).
   */
  private async checkShard(authority: RevocationAuthority, shard: number): Promise<void> {
    if (authority.crlDistributionPoint(shard) === undefined) {
      throw new RevocationAuthorityError('shard_not_found', `issuer ${authority.issuerId} has no CRL URL (CERTCTL_PKI_BASE_URL or crl_url) to partition`);
    }
    const [row] = await this.dataSource.query<Array<{ served: boolean }>>(
      `SELECT (jsonb_typeof(config->'crl_shards') = 'number' AND (config->>'crl_shards')::int > GREATEST($2, 1))
              OR EXISTS (SELECT 1 FROM certificate_versions v JOIN managed_certificates c ON c.id = v.certificate_id
                          WHERE v.crl_shard = $2 AND c.issuer_id = $1) AS served
         FROM issuers WHERE id = $1`,
      [authority.issuerId, shard],
    );
    if (!row?.served) throw new RevocationAuthorityError('shard_not_found', `issuer ${authority.issuerId} has no CRL shard ${shard}`);
  }

  /** Builds and stores a new CRL (number + 1) of the issuer, or of one of its shards, from certificate_revocations. */
  generate(issuerId: string, shard?: number): Promise<CachedCrl> {
    const key = `${issuerId}\u0000${shard ?? FULL_CRL}`;
    let build = this.building.get(key);
    if (!build) {
      build = this.build(issuerId, shard).finally(() => this.building.delete(key));
      this.building.set(key, build);
    }
    return build;
  }

  /**
   * Every CRL-capable issuer's CRLs rebuilt (the schedule tick): its full CRL, each shard below its count and
   * each shard built before. Failures are logged and counted, not thrown. Returns how many were built.
   */
  async generateAll(): Promise<number> {
    const issuers: Array<{ id: string }> = await this.dataSource.query(`SELECT id FROM issuers WHERE type IN ('GenericCA', 'local') AND enabled ORDER BY id`);
    let built = 0;
    for (const { id } of issuers) {
      const shards: Array<number | undefined> = [undefined];
      try {
        const authority = await this.authorities.forIssuer(id);
        const cached = await this.dataSource.query<Array<{ shard: number }>>('SELECT shard FROM crl_cache WHERE issuer_id = $1 AND shard >= 0', [id]);
        const wanted = new Set(cached.map((r) => Number(r.shard)));
        if (authority.crlShards > 1 && authority.crlDistributionPoint(0) !== undefined) for (let s = 0; s < authority.crlShards; s++) wanted.add(s);
        shards.push(...[...wanted].sort((a, b) => a - b));
      } catch (err) {
        this.logger.warn({ issuerId: id, err: (err as Error).message }, 'CRL generation failed');
        continue;
      }
      for (const shard of shards) {
        try {
          await this.generate(id, shard);
          built++;
        } catch (err) {
          this.logger.warn({ issuerId: id, shard, err: (err as Error).message }, 'CRL generation failed');
        }
      }
    }
    return built;
  }

  /** What GET /api/v1/admin/crl/cache shows: one row per issuer and shard (-1: the full CRL), without the DER. */
  async cacheState(): Promise<Array<Omit<CachedCrl, 'crl_der'> & { crl_size_bytes: number }>> {
    return this.dataSource.query(
      `SELECT issuer_id, shard, crl_number, this_update, next_update, generation_duration_ms, revoked_count, updated_at,
              octet_length(crl_der) AS crl_size_bytes
         FROM crl_cache ORDER BY issuer_id, shard`,
    ).then((rows: Array<Record<string, unknown>>) => rows.map((r) => ({ ...r, crl_size_bytes: Number(r.crl_size_bytes) })) as never);
  }

  /**
   * certctl's per-issuer view of the cache (GET /api/v1/admin/crl/cache `cache_rows`): every issuer, its full CRL
   * (else its newest shard) when one was built, and its last `recentEvents` generation attempts, newest first.
   */
  async cacheByIssuer(recentEvents = 5): Promise<CrlCacheIssuerRow[]> {
    const rows: Array<Record<string, unknown>> = await this.dataSource.query(
      `SELECT i.id AS issuer_id, c.crl_number, c.this_update, c.next_update, c.updated_at AS generated_at, c.generation_duration_ms,
              c.revoked_count, c.next_update < now() AS is_stale, COALESCE(e.events, '[]'::json) AS recent_events
         FROM issuers i
         LEFT JOIN LATERAL (
           SELECT * FROM crl_cache WHERE issuer_id = i.id ORDER BY (shard = ${FULL_CRL}) DESC, updated_at DESC LIMIT 1
         ) c ON true
         LEFT JOIN LATERAL (
           SELECT json_agg(json_build_object(
                    'started_at', x.created_at - make_interval(secs => x.duration_ms / 1000.0), 'duration_ms', x.duration_ms,
                    'succeeded', x.succeeded, 'crl_number', x.crl_number, 'revoked_count', x.revoked_count, 'error', x.error
                  ) ORDER BY x.created_at DESC) AS events
             FROM (SELECT * FROM crl_generation_events WHERE issuer_id = i.id ORDER BY created_at DESC LIMIT $1) x
         ) e ON true
        ORDER BY i.id`,
      [recentEvents],
    );
    return rows.map((r) => {
      const events = (r.recent_events as Array<Record<string, unknown>>).map((e) => ({
        started_at: new Date(String(e.started_at)), duration_ms: Number(e.duration_ms), succeeded: Boolean(e.succeeded),
        crl_number: e.crl_number === null ? 0 : Number(e.crl_number), revoked_count: Number(e.revoked_count),
        ...(e.error ? { error: String(e.error) } : {}),
      }));
      if (r.crl_number === null) return { issuer_id: String(r.issuer_id), cache_present: false, recent_events: events };
      return {
        issuer_id: String(r.issuer_id), cache_present: true, crl_number: Number(r.crl_number), this_update: r.this_update as Date,
        next_update: r.next_update as Date, generated_at: r.generated_at as Date, generation_duration_ms: Number(r.generation_duration_ms),
        revoked_count: Number(r.revoked_count), is_stale: Boolean(r.is_stale), recent_events: events,
      };
    });
  }

  private async build(issuerId: string, shard: number | undefined): Promise<CachedCrl> {
    const started = performance.now();
    const cacheShard = shard ?? FULL_CRL;
    try {
      const authority = await this.authorities.forIssuer(issuerId);
      const distributionPoint = shard === undefined ? undefined : authority.crlDistributionPoint(shard);
      if (shard !== undefined && distributionPoint === undefined) throw new RevocationAuthorityError('shard_not_found', `issuer ${issuerId} has no CRL URL to partition`);
      const row = await this.dataSource.transaction(async (tx) => {
        await tx.query(`SELECT pg_advisory_xact_lock(hashtext('certctl-crl:' || $1 || ':' || $2))`, [issuerId, cacheShard]);
        const [previous] = await tx.query<Array<{ crl_number: string }>>('SELECT crl_number FROM crl_cache WHERE issuer_id = $1 AND shard = $2', [issuerId, cacheShard]);
        const revoked: Array<{ serial_number: string; revoked_at: Date; reason: string }> = shard === undefined
          ? await tx.query(
            'SELECT serial_number, revoked_at, reason FROM certificate_revocations WHERE issuer_id = $1 ORDER BY revoked_at, serial_number',
            [issuerId],
          )
          : await tx.query(
            'SELECT serial_number, revoked_at, reason FROM certificate_revocations WHERE issuer_id = $1 AND crl_shard = $2 ORDER BY revoked_at, serial_number',
            [issuerId, shard],
          );
        const crlNumber = BigInt(previous?.crl_number ?? 0) + 1n;
        const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000);
        const nextUpdate = new Date(thisUpdate.getTime() + this.config.revocation.crlValidityMs);
        const der = buildCrl({
          issuer: authority.identity, signer: authority.signer, crlNumber, thisUpdate, nextUpdate, distributionPoint,
          revoked: revoked.map((r) => ({ serialNumber: r.serial_number, revokedAt: new Date(r.revoked_at), reason: isRevocationReason(r.reason) ? r.reason : 'unspecified' })),
        });
        const duration = Math.round(performance.now() - started);
        const [stored] = await tx.query<CachedCrl[]>(
          `INSERT INTO crl_cache (issuer_id, shard, crl_der, crl_number, this_update, next_update, generation_duration_ms, revoked_count, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
           ON CONFLICT (issuer_id, shard) DO UPDATE SET crl_der = EXCLUDED.crl_der, crl_number = EXCLUDED.crl_number, this_update = EXCLUDED.this_update,
             next_update = EXCLUDED.next_update, generation_duration_ms = EXCLUDED.generation_duration_ms, revoked_count = EXCLUDED.revoked_count, updated_at = now()
           RETURNING *`,
          [issuerId, cacheShard, der, crlNumber.toString(), thisUpdate, nextUpdate, duration, revoked.length],
        );
        await tx.query(
          'INSERT INTO crl_generation_events (issuer_id, shard, crl_number, succeeded, duration_ms, revoked_count) VALUES ($1, $2, $3, true, $4, $5)',
          [issuerId, cacheShard, crlNumber.toString(), duration, revoked.length],
        );
        return stored!;
      });
      await this.count('generated');
      return row;
    } catch (err) {
      await this.count('generation_failed');
      await this.dataSource.query(
        'INSERT INTO crl_generation_events (issuer_id, shard, succeeded, error, duration_ms) VALUES ($1, $2, false, $3, $4)',
        [issuerId, cacheShard, String((err as Error).message).slice(0, 1000), Math.round(performance.now() - started)],
      ).catch(() => undefined);
      throw err;
    }
  }
}
