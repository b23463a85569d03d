import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * certctl's intermediate-CA tree under a Local CA issuer (spec table intermediate_cas): each row is a CA certificate
 * signed by its parent (another row, or the issuer's root when parent_ca_id is null), its key encrypted at rest.
 */
export class IntermediateCas1764800000001 implements MigrationInterface {
  name = 'IntermediateCas1764800000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE intermediate_cas (
        id text PRIMARY KEY,
        owning_issuer_id text NOT NULL REFERENCES issuers(id) ON DELETE CASCADE,
        parent_ca_id text REFERENCES intermediate_cas(id) ON DELETE RESTRICT,
        name text NOT NULL,
        subject text NOT NULL,
        state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'retiring', 'retired')),
        cert_pem text NOT NULL,
        serial_number text NOT NULL,
        -- AES-256-GCM under CERTCTL_CONFIG_ENCRYPTION_KEY (certctl keeps a key driver reference instead).
        encrypted_private_key bytea NOT NULL,
        key_driver_id text NOT NULL DEFAULT 'database',
        not_before timestamptz NOT NULL,
        not_after timestamptz NOT NULL,
        path_len_constraint integer CHECK (path_len_constraint >= 0),
        name_constraints jsonb NOT NULL DEFAULT '{}',
        ocsp_responder_url text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_intermediate_cas_issuer_name UNIQUE (owning_issuer_id, name),
        CONSTRAINT ck_intermediate_cas_validity CHECK (not_after > not_before),
        CONSTRAINT ck_intermediate_cas_not_self_parent CHECK (parent_ca_id IS NULL OR parent_ca_id <> id)
      );
      CREATE INDEX idx_intermediate_cas_issuer ON intermediate_cas (owning_issuer_id);
      CREATE INDEX idx_intermediate_cas_parent ON intermediate_cas (parent_ca_id);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS intermediate_cas');
  }
}
