import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Mass re-issue drills (issue 22 item 4): every active certificate of an issuer (or of one of its intermediate CAs)
 * renewed and redeployed, and each old serial revoked only once its replacement is served. One row per drill and
 * one per certificate in it, whose state the orchestrator advances:
 * pending → issued → (deployed →) verified → revoked, or failed, or unverified (deployed but no TLS check proved it
 * is served, so the old serial is left unrevoked).
 */
export class ReissueDrills1765580000000 implements MigrationInterface {
  name = 'ReissueDrills1765580000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE reissue_drills (
        id text PRIMARY KEY,
        issuer_id text NOT NULL REFERENCES issuers(id) ON DELETE CASCADE,
        intermediate_ca_id text REFERENCES intermediate_cas(id) ON DELETE SET NULL,
        reason text NOT NULL,
        revocation_reason text NOT NULL,
        status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed')),
        total integer NOT NULL,
        requested_by text NOT NULL DEFAULT '',
        correlation_id text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz
      );
      CREATE INDEX idx_reissue_drills_issuer ON reissue_drills (issuer_id, created_at DESC);
      CREATE INDEX idx_reissue_drills_running ON reissue_drills (created_at) WHERE status = 'running';
      CREATE TABLE reissue_drill_items (
        drill_id text NOT NULL REFERENCES reissue_drills(id) ON DELETE CASCADE,
        certificate_id text NOT NULL REFERENCES managed_certificates(id) ON DELETE CASCADE,
        renewal_job_id text,
        old_serials text[] NOT NULL DEFAULT '{}',
        state text NOT NULL DEFAULT 'pending'
          CHECK (state IN ('pending', 'issued', 'deployed', 'verified', 'revoked', 'unverified', 'failed')),
        new_version_id text,
        new_serial text,
        error text,
        issued_at timestamptz,
        deployed_at timestamptz,
        verified_at timestamptz,
        revoked_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (drill_id, certificate_id)
      );
      CREATE INDEX idx_reissue_drill_items_open ON reissue_drill_items (drill_id) WHERE state IN ('pending', 'issued', 'deployed', 'verified');
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS reissue_drill_items; DROP TABLE IF EXISTS reissue_drills;');
  }
}
