import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * People signing in through an OpenID provider (certctl-spec §1.6): the providers an admin configures (the client
 * secret sealed with CERTCTL_CONFIG_ENCRYPTION_KEY), which provider group grants which role, the users created on
 * first sign-in, their server-side cookie sessions (only a hash of the cookie and of the CSRF token is kept) and
 * the back-channel logout tokens already consumed (a replayed `jti` is refused). The state/nonce/PKCE of a sign-in
 * in progress lives in Redis for ten minutes, consumed once.
 */
export class OidcSignIn1765570000000 implements MigrationInterface {
  name = 'OidcSignIn1765570000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE oidc_providers (
        id text PRIMARY KEY,
        name text NOT NULL UNIQUE,
        issuer_url text NOT NULL,
        client_id text NOT NULL,
        client_secret_encrypted bytea,
        redirect_uri text NOT NULL,
        scopes text[] NOT NULL DEFAULT ARRAY['openid', 'email', 'profile'],
        groups_claim_path text NOT NULL DEFAULT 'groups',
        fetch_userinfo boolean NOT NULL DEFAULT false,
        allowed_email_domains text[] NOT NULL DEFAULT '{}',
        iat_window_seconds integer NOT NULL DEFAULT 300 CHECK (iat_window_seconds BETWEEN 1 AND 600),
        post_logout_redirect_uri text,
        enabled boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE group_role_mappings (
        id text PRIMARY KEY,
        provider_id text NOT NULL REFERENCES oidc_providers(id) ON DELETE CASCADE,
        group_name text NOT NULL,
        role text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer', 'auditor')),
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (provider_id, group_name, role)
      );
      CREATE TABLE users (
        id text PRIMARY KEY,
        oidc_provider_id text NOT NULL REFERENCES oidc_providers(id) ON DELETE CASCADE,
        oidc_subject text NOT NULL,
        email text,
        display_name text,
        groups text[] NOT NULL DEFAULT '{}',
        last_login_at timestamptz,
        deactivated_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (oidc_provider_id, oidc_subject)
      );
      CREATE TABLE sessions (
        id text PRIMARY KEY,
        token_hash text NOT NULL UNIQUE,
        csrf_token_hash text NOT NULL,
        user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        provider_sid text,
        id_token_hint text,
        ip text,
        user_agent text,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        idle_expires_at timestamptz NOT NULL,
        absolute_expires_at timestamptz NOT NULL,
        revoked_at timestamptz,
        revoked_reason text
      );
      CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE revoked_at IS NULL;
      CREATE INDEX sessions_provider_sid_idx ON sessions (provider_sid) WHERE provider_sid IS NOT NULL;
      CREATE TABLE oidc_bcl_consumed_jtis (
        provider_id text NOT NULL REFERENCES oidc_providers(id) ON DELETE CASCADE,
        jti text NOT NULL,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (provider_id, jti)
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE oidc_bcl_consumed_jtis; DROP TABLE sessions; DROP TABLE users; DROP TABLE group_role_mappings; DROP TABLE oidc_providers;');
  }
}
