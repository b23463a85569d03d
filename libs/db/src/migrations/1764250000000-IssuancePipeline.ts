import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issuance and renewal: the CSR an agent submitted and the approval trail on jobs, one version per job
 * (so a job retried after a crash cannot store two), the Local CA's key material, and the record of
 * expiry warnings already sent (one per certificate, threshold and expiry date).
 */
export class IssuancePipeline1764250000000 implements MigrationInterface {
  name = 'IssuancePipeline1764250000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE jobs
        ADD COLUMN csr_pem text,
        ADD COLUMN requested_by text NOT NULL DEFAULT '',
        ADD COLUMN decided_by text,
        ADD COLUMN decision_note text;
      CREATE INDEX idx_jobs_open_per_certificate ON jobs (certificate_id)
        WHERE status IN ('Pending', 'AwaitingCSR', 'AwaitingApproval', 'Running');

      ALTER TABLE certificate_versions ADD COLUMN job_id text REFERENCES jobs(id) ON DELETE SET NULL;
      CREATE UNIQUE INDEX uq_certificate_versions_job ON certificate_versions (job_id) WHERE job_id IS NOT NULL;

      CREATE TABLE issuer_authorities (
        issuer_id text PRIMARY KEY REFERENCES issuers(id) ON DELETE CASCADE,
        certificate_pem text NOT NULL,
        -- Upstream chain of a sub-CA (empty for a root).
        chain_pem text NOT NULL DEFAULT '',
        -- AES-256-GCM under CERTCTL_CONFIG_ENCRYPTION_KEY.
        encrypted_private_key bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE certificate_expiry_alerts (
        certificate_id text NOT NULL REFERENCES managed_certificates(id) ON DELETE CASCADE,
        threshold_days integer NOT NULL,
        not_after timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (certificate_id, threshold_days, not_after)
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE IF EXISTS certificate_expiry_alerts, issuer_authorities;
      DROP INDEX IF EXISTS uq_certificate_versions_job;
      ALTER TABLE certificate_versions DROP COLUMN IF EXISTS job_id;
      DROP INDEX IF EXISTS idx_jobs_open_per_certificate;
      ALTER TABLE jobs DROP COLUMN IF EXISTS csr_pem, DROP COLUMN IF EXISTS requested_by,
        DROP COLUMN IF EXISTS decided_by, DROP COLUMN IF EXISTS decision_note;
    `);
  }
}
