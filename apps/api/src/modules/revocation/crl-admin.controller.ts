import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { CrlService, type CrlCacheIssuerRow } from '@certctl/issuers';
import { bool, component, dateTime, int, objectOf, Returns, str } from '../../common/openapi/response-schemas';
import { RequirePermission } from '../../common/auth/permission.decorator';

const CrlCacheEventSchema = component('CrlCacheEvent', objectOf(
  { started_at: dateTime, duration_ms: int, succeeded: bool, crl_number: int, revoked_count: int, error: str },
  ['started_at', 'duration_ms', 'succeeded', 'crl_number', 'revoked_count'],
));
const CrlCacheRowSchema = component('CrlCacheRow', objectOf({
  issuer_id: str, cache_present: bool, crl_number: int, this_update: dateTime, next_update: dateTime, generated_at: dateTime,
  generation_duration_ms: int, revoked_count: int, is_stale: bool, recent_events: { type: 'array', items: CrlCacheEventSchema },
}, ['issuer_id', 'cache_present', 'recent_events']));
/** Our own view: one row per issuer and CRL shard (-1 = the full CRL). */
const CrlCacheShardSchema = component('CrlCacheShard', objectOf({
  issuer_id: str, shard: int, crl_number: { type: 'string', pattern: '^[0-9]+$' }, this_update: dateTime, next_update: dateTime,
  generation_duration_ms: int, revoked_count: int, updated_at: dateTime, crl_size_bytes: int,
}));

export interface CrlCacheView {
  /** certctl's view: one row per issuer. */
  cache_rows: CrlCacheIssuerRow[];
  row_count: number;
  generated_at: Date;
  /** Ours (the console's issuer page reads it): one row per issuer and shard, with the CRL's size. */
  data: unknown[];
  total: number;
}

@ApiTags('revocation')
@ApiBearerAuth()
@Controller('admin/crl')
export class CrlAdminController {
  constructor(private readonly crl: CrlService) {}

  /** The CRL cache in certctl's shape (`cache_rows`, `row_count`, `generated_at`) plus our per-shard rows (`data`, `total`). */
  @Get('cache')
  @Returns(objectOf({
    cache_rows: { type: 'array', items: CrlCacheRowSchema }, row_count: int, generated_at: dateTime,
    data: { type: 'array', items: CrlCacheShardSchema }, total: int,
  }))
  @RequirePermission('crl.admin')
  async cache(): Promise<CrlCacheView> {
    const [rows, shards] = await Promise.all([this.crl.cacheByIssuer(), this.crl.cacheState()]);
    return { cache_rows: rows, row_count: rows.length, generated_at: new Date(), data: shards, total: shards.length };
  }
}
