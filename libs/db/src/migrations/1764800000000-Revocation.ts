import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Revocation (certctl §4.7, §9): the authoritative revocation list CRLs and OCSP answers come from, the CRL
 * kept per issuer with its build log, the delegated OCSP responder per issuer (key encrypted at rest, unlike
 * upstream's key file), and the pre-signed OCSP responses.
 */
export class Revocation1764800000000 implements MigrationInterface {
  name = 'Revocation1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE certificate_revocations (
        id text PRIMARY KEY,
        certificate_id text NOT NULL REFERENCES managed_certificates(id) ON DELETE CASCADE,
        issuer_id text NOT NULL REFERENCES issuers(id) ON DELETE CASCADE,
        -- Lowercase hex without leading zero octets, as certificate_versions.serial_number.
        serial_number text NOT NULL,
        reason text NOT NULL DEFAULT 'unspecified',
        revoked_by text NOT NULL DEFAULT '',
        revoked_at timestamptz NOT NULL DEFAULT now(),
        -- Whether the issuing CA was told (ACME revokeCert); the revocation job retries until it is.
        issuer_notified boolean NOT NULL DEFAULT false,
        issuer_notify_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_certificate_revocations_issuer_serial UNIQUE (issuer_id, serial_number)
      );
      CREATE INDEX idx_certificate_revocations_serial ON certificate_revocations (serial_number);
      CREATE INDEX idx_certificate_revocations_certificate ON certificate_revocations (certificate_id);

      -- OCSP and CRL look serials up per issuer.
      CREATE INDEX idx_certificate_versions_serial ON certificate_versions (serial_number);

      CREATE TABLE crl_cache (
        issuer_id text PRIMARY KEY REFERENCES issuers(id) ON DELETE CASCADE,
        crl_der bytea NOT NULL,
        crl_number bigint NOT NULL,
        this_update timestamptz NOT NULL,
        next_update timestamptz NOT NULL,
        generation_duration_ms integer NOT NULL DEFAULT 0,
        revoked_count integer NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE crl_generation_events (
        id bigserial PRIMARY KEY,
        issuer_id text NOT NULL,
        crl_number bigint,
        succeeded boolean NOT NULL,
        error text,
        duration_ms integer NOT NULL DEFAULT 0,
        revoked_count integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX idx_crl_generation_events_issuer ON crl_generation_events (issuer_id, created_at DESC);

      CREATE TABLE ocsp_responders (
        issuer_id text PRIMARY KEY REFERENCES issuers(id) ON DELETE CASCADE,
        cert_pem text NOT NULL,
        cert_serial text NOT NULL,
        -- AES-256-GCM under CERTCTL_CONFIG_ENCRYPTION_KEY.
        encrypted_private_key bytea NOT NULL,
        key_alg text NOT NULL DEFAULT 'ECDSA-P256',
        not_before timestamptz NOT NULL,
        not_after timestamptz NOT NULL,
        rotated_from text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE ocsp_response_cache (
        issuer_id text NOT NULL REFERENCES issuers(id) ON DELETE CASCADE,
        serial_hex text NOT NULL,
        response_der bytea NOT NULL,
        cert_status text NOT NULL CHECK (cert_status IN ('good', 'revoked', 'unknown')),
        revocation_reason text,
        revoked_at timestamptz,
        this_update timestamptz NOT NULL,
        next_update timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (issuer_id, serial_hex)
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX IF EXISTS idx_certificate_versions_serial');
    await q.query('DROP TABLE IF EXISTS ocsp_response_cache, ocsp_responders, crl_generation_events, crl_cache, certificate_revocations');
  }
}
