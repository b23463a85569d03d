import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The ACME account of each ACME issuer: its key (AES-256-GCM under CERTCTL_CONFIG_ENCRYPTION_KEY) and the
 * account URL the CA gave it, so every process and restart reuses one account instead of registering anew.
 * Named acme_issuer_accounts: upstream's acme_accounts belongs to its ACME *server* (accounts of clients).
 */
export class AcmeAccounts1764260000000 implements MigrationInterface {
  name = 'AcmeAccounts1764260000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE acme_issuer_accounts (
        issuer_id text PRIMARY KEY REFERENCES issuers(id) ON DELETE CASCADE,
        -- The account belongs to this CA; a changed directory_url gets a new account.
        directory_url text NOT NULL,
        encrypted_account_key bytea NOT NULL,
        -- Null until the CA has accepted the registration.
        account_url text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS acme_issuer_accounts');
  }
}
