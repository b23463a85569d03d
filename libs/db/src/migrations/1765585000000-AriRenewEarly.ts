import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Re-issue drills of certificates whose key lives with an ACME client (source ACME): the server cannot re-issue
 * them, so the drill asks the client to renew through ARI (RFC 9773).
 * - `certificate_versions.renewal_requested_at`: the renew-now mark; renewal-info answers an open window for it.
 * - `acme_orders.replaces_version_id`: the version an order's `replaces` named, resolved at new-order, so the drill
 *   finds the client's renewal; `downloaded_at`: when the client first fetched the order's certificate.
 * - `reissue_drill_items.via_ari`: the item waits for the client's renewal instead of a Renewal job.
 * - `reissue_drills.revoke_old`: false for a plain "renew early" (nothing revoked afterwards).
 */
export class AriRenewEarly1765585000000 implements MigrationInterface {
  name = 'AriRenewEarly1765585000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE certificate_versions ADD COLUMN renewal_requested_at timestamptz;
      ALTER TABLE acme_orders ADD COLUMN replaces_version_id text, ADD COLUMN downloaded_at timestamptz;
      CREATE INDEX idx_acme_orders_replaces_version ON acme_orders (replaces_version_id) WHERE replaces_version_id IS NOT NULL;
      ALTER TABLE reissue_drill_items ADD COLUMN via_ari boolean NOT NULL DEFAULT false;
      ALTER TABLE reissue_drills ADD COLUMN revoke_old boolean NOT NULL DEFAULT true;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE reissue_drills DROP COLUMN IF EXISTS revoke_old;
      ALTER TABLE reissue_drill_items DROP COLUMN IF EXISTS via_ari;
      DROP INDEX IF EXISTS idx_acme_orders_replaces_version;
      ALTER TABLE acme_orders DROP COLUMN IF EXISTS replaces_version_id, DROP COLUMN IF EXISTS downloaded_at;
      ALTER TABLE certificate_versions DROP COLUMN IF EXISTS renewal_requested_at;
    `);
  }
}
