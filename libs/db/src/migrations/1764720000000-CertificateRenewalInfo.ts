import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * ACME Renewal Information (RFC 9773) per certificate: the CA's suggested window for the certificate's newest
 * version, the renewal time picked at random inside it (once per window, §4.2), when to ask the CA again
 * (its Retry-After), and the last failure. The renewal sweep renews when the selected time has passed, as
 * long as the row still belongs to the newest version (a renewed certificate has a new serial, so a new window).
 */
export class CertificateRenewalInfo1764720000000 implements MigrationInterface {
  name = 'CertificateRenewalInfo1764720000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE certificate_renewal_info (
        certificate_id text PRIMARY KEY REFERENCES managed_certificates(id) ON DELETE CASCADE,
        -- The version the window was asked for; a newer version makes the row stale until it is polled again.
        certificate_version_id text REFERENCES certificate_versions(id) ON DELETE SET NULL,
        -- RFC 9773 §4.1 identifier (base64url AKI "." base64url serial); '' when it could not be computed.
        ari_cert_id text NOT NULL DEFAULT '',
        window_start timestamptz,
        window_end timestamptz,
        selected_renewal_at timestamptz,
        explanation_url text,
        last_polled_at timestamptz,
        next_poll_at timestamptz NOT NULL DEFAULT now(),
        -- Why the last poll gave no window (CA error, renewalInfo not offered); null after a good answer.
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ck_certificate_renewal_info_window CHECK (window_end >= window_start)
      );
      CREATE INDEX idx_certificate_renewal_info_next_poll ON certificate_renewal_info (next_poll_at);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS certificate_renewal_info');
  }
}
