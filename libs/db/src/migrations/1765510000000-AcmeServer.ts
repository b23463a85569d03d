import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The ACME server's tables (certctl §1.5; nonces live in Redis instead of acme_nonces: single use, shared by every
 * replica, gone after their TTL). A certificate profile says how its ACME clients are trusted (acme_auth_mode),
 * which issuer signs for them and whether an account needs an external account binding (EAB) key.
 */
export class AcmeServer1765510000000 implements MigrationInterface {
  name = 'AcmeServer1765510000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE certificate_profiles
        ADD COLUMN acme_auth_mode text NOT NULL DEFAULT 'challenge' CHECK (acme_auth_mode IN ('trust_authenticated', 'challenge')),
        ADD COLUMN acme_issuer_id text REFERENCES issuers(id) ON DELETE SET NULL,
        ADD COLUMN acme_external_account_required boolean NOT NULL DEFAULT false;

      -- EAB keys: the HMAC is shown once at creation and kept encrypted (it must be read back to verify a binding).
      CREATE TABLE acme_eab_keys (
        id text PRIMARY KEY,
        profile_id text NOT NULL REFERENCES certificate_profiles(id) ON DELETE CASCADE,
        team_id text REFERENCES teams(id) ON DELETE RESTRICT,
        owner_id text NOT NULL REFERENCES owners(id) ON DELETE RESTRICT,
        encrypted_hmac bytea NOT NULL,
        expires_at timestamptz,
        revoked_at timestamptz,
        -- The account it bound (a key binds one account only).
        account_id text,
        created_by text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE acme_accounts (
        id text PRIMARY KEY,
        profile_id text NOT NULL REFERENCES certificate_profiles(id) ON DELETE CASCADE,
        jwk_thumbprint text NOT NULL,
        jwk jsonb NOT NULL,
        contact text[] NOT NULL DEFAULT '{}',
        status text NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'deactivated', 'revoked')),
        eab_key_id text REFERENCES acme_eab_keys(id) ON DELETE SET NULL,
        team_id text REFERENCES teams(id) ON DELETE RESTRICT,
        owner_id text REFERENCES owners(id) ON DELETE RESTRICT,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_acme_accounts_key UNIQUE (profile_id, jwk_thumbprint)
      );

      CREATE TABLE acme_orders (
        id text PRIMARY KEY,
        account_id text NOT NULL REFERENCES acme_accounts(id) ON DELETE CASCADE,
        profile_id text NOT NULL REFERENCES certificate_profiles(id) ON DELETE CASCADE,
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready', 'processing', 'valid', 'invalid')),
        identifiers jsonb NOT NULL,
        not_before timestamptz,
        not_after timestamptz,
        expires_at timestamptz NOT NULL,
        csr_pem text,
        -- Set at finalize: the managed certificate (source ACME) and the issuance job that signs the CSR.
        certificate_id text REFERENCES managed_certificates(id) ON DELETE SET NULL,
        job_id text REFERENCES jobs(id) ON DELETE SET NULL,
        certificate_version_id text,
        replaces text,
        error jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX idx_acme_orders_account ON acme_orders (account_id, created_at);
      CREATE INDEX idx_acme_orders_processing ON acme_orders (status) WHERE status = 'processing';

      CREATE TABLE acme_authorizations (
        id text PRIMARY KEY,
        order_id text NOT NULL REFERENCES acme_orders(id) ON DELETE CASCADE,
        account_id text NOT NULL REFERENCES acme_accounts(id) ON DELETE CASCADE,
        identifier jsonb NOT NULL,
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked')),
        wildcard boolean NOT NULL DEFAULT false,
        expires_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX idx_acme_authorizations_order ON acme_authorizations (order_id);

      CREATE TABLE acme_challenges (
        id text PRIMARY KEY,
        authorization_id text NOT NULL REFERENCES acme_authorizations(id) ON DELETE CASCADE,
        type text NOT NULL CHECK (type IN ('http-01', 'dns-01', 'tls-alpn-01')),
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
        token text NOT NULL,
        validated_at timestamptz,
        error jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX idx_acme_challenges_authorization ON acme_challenges (authorization_id);

      -- Every validation attempt of a challenge, kept for the console and for support.
      CREATE TABLE acme_validation_attempts (
        id bigserial PRIMARY KEY,
        challenge_id text NOT NULL REFERENCES acme_challenges(id) ON DELETE CASCADE,
        attempt integer NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        outcome text NOT NULL DEFAULT 'running' CHECK (outcome IN ('running', 'valid', 'invalid', 'retry')),
        error jsonb
      );
      CREATE INDEX idx_acme_validation_attempts_challenge ON acme_validation_attempts (challenge_id, attempt);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE IF EXISTS acme_validation_attempts, acme_challenges, acme_authorizations, acme_orders, acme_accounts, acme_eab_keys;
      ALTER TABLE certificate_profiles DROP COLUMN IF EXISTS acme_auth_mode, DROP COLUMN IF EXISTS acme_issuer_id,
        DROP COLUMN IF EXISTS acme_external_account_required;
    `);
  }
}
