import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Sharded CRLs (issue 22): the CRL partition a Local CA leaf was issued into (its CRL Distribution Point names
 * it), copied onto its revocation so a shard's CRL is one index scan; the CRL cache and build log keep one row
 * per (issuer, shard), shard -1 being the issuer's full CRL at the unsharded URL.
 */
export class CrlShards1765550000000 implements MigrationInterface {
  name = 'CrlShards1765550000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      -- NULL: issued unsharded (its CRL Distribution Point is the issuer's full CRL).
      ALTER TABLE certificate_versions ADD COLUMN crl_shard smallint;
      ALTER TABLE certificate_revocations ADD COLUMN crl_shard smallint;
      CREATE INDEX idx_certificate_revocations_issuer_shard ON certificate_revocations (issuer_id, crl_shard) WHERE crl_shard IS NOT NULL;

      ALTER TABLE crl_cache ADD COLUMN shard smallint NOT NULL DEFAULT -1;
      ALTER TABLE crl_cache DROP CONSTRAINT crl_cache_pkey;
      ALTER TABLE crl_cache ADD PRIMARY KEY (issuer_id, shard);
      ALTER TABLE crl_generation_events ADD COLUMN shard smallint NOT NULL DEFAULT -1;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE crl_generation_events DROP COLUMN shard;
      DELETE FROM crl_cache WHERE shard <> -1;
      ALTER TABLE crl_cache DROP CONSTRAINT crl_cache_pkey;
      ALTER TABLE crl_cache ADD PRIMARY KEY (issuer_id);
      ALTER TABLE crl_cache DROP COLUMN shard;
      DROP INDEX IF EXISTS idx_certificate_revocations_issuer_shard;
      ALTER TABLE certificate_revocations DROP COLUMN crl_shard;
      ALTER TABLE certificate_versions DROP COLUMN crl_shard;
    `);
  }
}
