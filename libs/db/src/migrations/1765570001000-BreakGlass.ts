import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Break-glass: a local admin login for when the OpenID provider is down (certctl-spec §1.6 breakglass_credentials).
 * Its user has no provider; the password is kept as an scrypt hash; failed attempts lock it for a while.
 */
export class BreakGlass1765570001000 implements MigrationInterface {
  name = 'BreakGlass1765570001000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE users ALTER COLUMN oidc_provider_id DROP NOT NULL, ALTER COLUMN oidc_subject DROP NOT NULL;
      CREATE TABLE breakglass_credentials (
        id text PRIMARY KEY,
        user_id text NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
        username text NOT NULL UNIQUE,
        password_hash text NOT NULL,
        failed_attempts integer NOT NULL DEFAULT 0,
        locked_until timestamptz,
        last_used_at timestamptz,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE breakglass_credentials;
      DELETE FROM users WHERE oidc_provider_id IS NULL;
      ALTER TABLE users ALTER COLUMN oidc_provider_id SET NOT NULL, ALTER COLUMN oidc_subject SET NOT NULL;
    `);
  }
}
