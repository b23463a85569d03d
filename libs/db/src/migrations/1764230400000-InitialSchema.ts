import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The inventory schema, with certctl's table names, column names and enum values (spec §1).
 * Deliberate differences from upstream, each to avoid losing data or work:
 *  - deleting a team never cascades into certificates (RESTRICT), owners keep existing with team_id NULL;
 *  - deployment_targets.agent_id is nullable: no agent means the orchestrator deploys it;
 *  - server-generated private keys get their own encrypted column instead of riding in csr_pem;
 *  - audit_events is append-only and hash-chained from the first row (upstream added the chain later).
 */
export class InitialSchema1764230400000 implements MigrationInterface {
  name = 'InitialSchema1764230400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE teams (
        id text PRIMARY KEY,
        name text NOT NULL,
        description text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_teams_name UNIQUE (name)
      );

      CREATE TABLE owners (
        id text PRIMARY KEY,
        name text NOT NULL,
        email text NOT NULL,
        team_id text REFERENCES teams(id) ON DELETE SET NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_owners_name UNIQUE (name)
      );
      CREATE INDEX idx_owners_email ON owners (email);
      CREATE INDEX idx_owners_team_id ON owners (team_id);

      CREATE TABLE certificate_profiles (
        id text PRIMARY KEY,
        name text NOT NULL,
        description text NOT NULL DEFAULT '',
        allowed_key_algorithms jsonb NOT NULL
          DEFAULT '[{"algorithm":"ECDSA","min_size":256},{"algorithm":"RSA","min_size":2048}]',
        max_ttl_seconds integer NOT NULL DEFAULT 0 CHECK (max_ttl_seconds >= 0),
        allowed_ekus jsonb NOT NULL DEFAULT '["serverAuth"]',
        required_san_patterns jsonb NOT NULL DEFAULT '[]',
        spiffe_uri_pattern text NOT NULL DEFAULT '',
        allow_short_lived boolean NOT NULL DEFAULT false,
        must_staple boolean NOT NULL DEFAULT false,
        requires_approval boolean NOT NULL DEFAULT false,
        enabled boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_certificate_profiles_name UNIQUE (name)
      );

      CREATE TABLE renewal_policies (
        id text PRIMARY KEY,
        name text NOT NULL,
        renewal_window_days integer NOT NULL DEFAULT 30 CHECK (renewal_window_days BETWEEN 1 AND 3650),
        auto_renew boolean NOT NULL DEFAULT true,
        max_retries integer NOT NULL DEFAULT 3 CHECK (max_retries BETWEEN 0 AND 100),
        retry_interval_seconds integer NOT NULL DEFAULT 3600 CHECK (retry_interval_seconds BETWEEN 60 AND 86400),
        alert_thresholds_days jsonb NOT NULL DEFAULT '[30,14,7,0]',
        certificate_profile_id text REFERENCES certificate_profiles(id) ON DELETE SET NULL,
        alert_channels jsonb NOT NULL DEFAULT '{}',
        alert_severity_map jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_renewal_policies_name UNIQUE (name)
      );

      CREATE TABLE issuers (
        id text PRIMARY KEY,
        name text NOT NULL,
        type text NOT NULL,
        config jsonb NOT NULL DEFAULT '{}',
        encrypted_config bytea,
        enabled boolean NOT NULL DEFAULT true,
        test_status text NOT NULL DEFAULT 'untested',
        last_tested_at timestamptz,
        source text NOT NULL DEFAULT 'database' CHECK (source IN ('database', 'env')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_issuers_name UNIQUE (name)
      );
      CREATE INDEX idx_issuers_type ON issuers (type);

      CREATE TABLE agents (
        id text PRIMARY KEY,
        name text NOT NULL,
        hostname text NOT NULL DEFAULT '',
        status text NOT NULL DEFAULT 'Offline' CHECK (status IN ('Online', 'Offline', 'Degraded')),
        last_heartbeat_at timestamptz,
        registered_at timestamptz NOT NULL DEFAULT now(),
        os text NOT NULL DEFAULT '',
        architecture text NOT NULL DEFAULT '',
        ip_address text NOT NULL DEFAULT '',
        version text NOT NULL DEFAULT '',
        retired_at timestamptz,
        retired_reason text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_agents_name UNIQUE (name)
      );
      CREATE INDEX idx_agents_status ON agents (status);
      CREATE INDEX idx_agents_online_heartbeat ON agents (last_heartbeat_at) WHERE status = 'Online';

      CREATE TABLE managed_certificates (
        id text PRIMARY KEY,
        name text NOT NULL,
        common_name text NOT NULL,
        sans text[] NOT NULL DEFAULT '{}',
        environment text NOT NULL DEFAULT '',
        owner_id text NOT NULL REFERENCES owners(id) ON DELETE RESTRICT,
        team_id text REFERENCES teams(id) ON DELETE RESTRICT,
        issuer_id text NOT NULL REFERENCES issuers(id) ON DELETE RESTRICT,
        renewal_policy_id text NOT NULL REFERENCES renewal_policies(id) ON DELETE RESTRICT,
        certificate_profile_id text REFERENCES certificate_profiles(id) ON DELETE SET NULL,
        status text NOT NULL DEFAULT 'Pending' CHECK (status IN
          ('Pending', 'Active', 'Expiring', 'Expired', 'RenewalInProgress', 'Failed', 'Revoked', 'Archived')),
        expires_at timestamptz,
        tags jsonb NOT NULL DEFAULT '{}',
        last_renewal_at timestamptz,
        last_deployment_at timestamptz,
        revoked_at timestamptz,
        revocation_reason text,
        source text NOT NULL DEFAULT '',
        -- Lower-cased name, common name and SANs, kept by a trigger, searched through a trigram index.
        search_text text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_managed_certificates_name UNIQUE (name)
      );
      CREATE INDEX idx_managed_certificates_created ON managed_certificates (created_at, id);
      CREATE INDEX idx_managed_certificates_status_expires ON managed_certificates (status, expires_at);
      CREATE INDEX idx_managed_certificates_expires_at ON managed_certificates (expires_at);
      CREATE INDEX idx_managed_certificates_owner_id ON managed_certificates (owner_id);
      CREATE INDEX idx_managed_certificates_team_id ON managed_certificates (team_id);
      CREATE INDEX idx_managed_certificates_issuer_id ON managed_certificates (issuer_id);
      CREATE INDEX idx_managed_certificates_renewal_policy_id ON managed_certificates (renewal_policy_id);
      CREATE INDEX idx_managed_certificates_profile_id ON managed_certificates (certificate_profile_id);
      CREATE INDEX idx_managed_certificates_environment ON managed_certificates (environment);
      CREATE INDEX idx_managed_certificates_search ON managed_certificates USING gin (search_text gin_trgm_ops);

      CREATE FUNCTION managed_certificates_search_text() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        NEW.search_text := lower(NEW.name || ' ' || NEW.common_name || ' ' || array_to_string(NEW.sans, ' '));
        RETURN NEW;
      END
      $fn$;
      CREATE TRIGGER trg_managed_certificates_search_text
        BEFORE INSERT OR UPDATE OF name, common_name, sans ON managed_certificates
        FOR EACH ROW EXECUTE FUNCTION managed_certificates_search_text();

      CREATE TABLE certificate_versions (
        id text PRIMARY KEY,
        certificate_id text NOT NULL REFERENCES managed_certificates(id) ON DELETE CASCADE,
        serial_number text NOT NULL,
        not_before timestamptz NOT NULL,
        not_after timestamptz NOT NULL,
        fingerprint_sha256 text NOT NULL,
        pem_chain text NOT NULL,
        csr_pem text NOT NULL DEFAULT '',
        key_algorithm text NOT NULL DEFAULT '',
        key_size integer NOT NULL DEFAULT 0,
        -- Server keygen mode only: AES-256-GCM ciphertext of the private key, never returned by the API.
        encrypted_private_key bytea,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_certificate_versions_fingerprint UNIQUE (fingerprint_sha256)
      );
      CREATE INDEX idx_certificate_versions_certificate ON certificate_versions (certificate_id, created_at DESC);

      CREATE TABLE deployment_targets (
        id text PRIMARY KEY,
        name text NOT NULL,
        type text NOT NULL,
        agent_id text REFERENCES agents(id) ON DELETE RESTRICT,
        config jsonb NOT NULL DEFAULT '{}',
        encrypted_config bytea,
        enabled boolean NOT NULL DEFAULT true,
        test_status text NOT NULL DEFAULT 'untested',
        last_tested_at timestamptz,
        source text NOT NULL DEFAULT 'database',
        retired_at timestamptz,
        retired_reason text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_deployment_targets_name UNIQUE (name)
      );
      CREATE INDEX idx_deployment_targets_agent_id ON deployment_targets (agent_id);
      CREATE INDEX idx_deployment_targets_type ON deployment_targets (type);

      CREATE TABLE certificate_target_mappings (
        certificate_id text NOT NULL REFERENCES managed_certificates(id) ON DELETE CASCADE,
        target_id text NOT NULL REFERENCES deployment_targets(id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (certificate_id, target_id)
      );
      CREATE INDEX idx_certificate_target_mappings_target ON certificate_target_mappings (target_id);

      CREATE TABLE jobs (
        id text PRIMARY KEY,
        type text NOT NULL CHECK (type IN ('Issuance', 'Renewal', 'Deployment', 'Validation')),
        certificate_id text NOT NULL REFERENCES managed_certificates(id) ON DELETE CASCADE,
        target_id text REFERENCES deployment_targets(id) ON DELETE SET NULL,
        agent_id text REFERENCES agents(id) ON DELETE SET NULL,
        status text NOT NULL DEFAULT 'Pending' CHECK (status IN
          ('Pending', 'AwaitingCSR', 'AwaitingApproval', 'Running', 'Completed', 'Failed', 'Cancelled')),
        attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        max_attempts integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
        last_error text,
        deployment_result jsonb,
        scheduled_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        completed_at timestamptz,
        verification_status text CHECK (verification_status IN ('pending', 'success', 'failed', 'skipped')),
        verified_at timestamptz,
        verification_fingerprint text,
        verification_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX idx_jobs_status_scheduled ON jobs (status, scheduled_at);
      CREATE INDEX idx_jobs_certificate ON jobs (certificate_id, created_at DESC);
      CREATE INDEX idx_jobs_type ON jobs (type);
      CREATE INDEX idx_jobs_agent ON jobs (agent_id) WHERE agent_id IS NOT NULL;
      CREATE INDEX idx_jobs_target ON jobs (target_id) WHERE target_id IS NOT NULL;
      CREATE INDEX idx_jobs_created ON jobs (created_at, id);

      CREATE TABLE policy_rules (
        id text PRIMARY KEY,
        name text NOT NULL,
        type text NOT NULL CHECK (type IN ('AllowedIssuers', 'AllowedDomains', 'RequiredMetadata',
          'AllowedEnvironments', 'RenewalLeadTime', 'CertificateLifetime')),
        config jsonb NOT NULL DEFAULT '{}',
        enabled boolean NOT NULL DEFAULT true,
        severity text NOT NULL DEFAULT 'Warning' CHECK (severity IN ('Warning', 'Error', 'Critical')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_policy_rules_name UNIQUE (name)
      );

      CREATE TABLE policy_violations (
        id text PRIMARY KEY,
        certificate_id text NOT NULL REFERENCES managed_certificates(id) ON DELETE CASCADE,
        rule_id text NOT NULL REFERENCES policy_rules(id) ON DELETE CASCADE,
        message text NOT NULL,
        severity text NOT NULL CONSTRAINT policy_violations_severity_check CHECK (severity IN ('Warning', 'Error', 'Critical')),
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX idx_policy_violations_rule ON policy_violations (rule_id, created_at DESC);
      CREATE INDEX idx_policy_violations_certificate ON policy_violations (certificate_id);

      CREATE TABLE notification_events (
        id text PRIMARY KEY,
        type text NOT NULL,
        certificate_id text REFERENCES managed_certificates(id) ON DELETE CASCADE,
        channel text NOT NULL,
        recipient text NOT NULL DEFAULT '',
        message text NOT NULL DEFAULT '',
        sent_at timestamptz,
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'dead', 'read')),
        error text,
        retry_count integer NOT NULL DEFAULT 0,
        next_retry_at timestamptz,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX idx_notification_events_status ON notification_events (status, created_at);
      CREATE INDEX idx_notification_events_certificate ON notification_events (certificate_id);
      CREATE INDEX idx_notification_events_retry_sweep ON notification_events (next_retry_at)
        WHERE status = 'failed' AND next_retry_at IS NOT NULL;

      CREATE TABLE api_keys (
        id text PRIMARY KEY,
        name text NOT NULL,
        key_hash text NOT NULL,
        role text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer', 'auditor', 'agent')),
        agent_id text REFERENCES agents(id) ON DELETE CASCADE,
        created_by text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz,
        last_used_at timestamptz,
        revoked_at timestamptz,
        CONSTRAINT uq_api_keys_name UNIQUE (name),
        CONSTRAINT uq_api_keys_key_hash UNIQUE (key_hash),
        CONSTRAINT api_keys_agent_role CHECK ((role = 'agent') = (agent_id IS NOT NULL))
      );
    `);

    await q.query(`
      -- Audit trail: append-only (a trigger refuses UPDATE and DELETE) and hash-chained. Each row's row_hash is
      -- SHA-256 over the previous row's hash and a canonical text of the row; the head lives in audit_chain_head,
      -- locked by each insert so that concurrent writers serialise on the chain.
      CREATE TABLE audit_events (
        id text PRIMARY KEY,
        seq bigint NOT NULL DEFAULT 0,
        actor text NOT NULL,
        actor_type text NOT NULL CHECK (actor_type IN ('User', 'System', 'Agent', 'APIKey', 'Anonymous')),
        action text NOT NULL,
        resource_type text NOT NULL,
        resource_id text NOT NULL DEFAULT '',
        event_category text NOT NULL DEFAULT 'cert_lifecycle' CHECK (event_category IN ('cert_lifecycle', 'auth', 'config')),
        details jsonb NOT NULL DEFAULT '{}',
        "timestamp" timestamptz NOT NULL DEFAULT now(),
        prev_hash text NOT NULL DEFAULT '',
        row_hash text NOT NULL DEFAULT '',
        CONSTRAINT uq_audit_events_seq UNIQUE (seq)
      );
      CREATE INDEX idx_audit_events_timestamp ON audit_events ("timestamp" DESC, seq DESC);
      CREATE INDEX idx_audit_events_resource ON audit_events (resource_type, resource_id);
      CREATE INDEX idx_audit_events_actor ON audit_events (actor);
      CREATE INDEX idx_audit_events_action ON audit_events (action);

      CREATE TABLE audit_chain_head (
        id integer PRIMARY KEY CHECK (id = 1),
        last_seq bigint NOT NULL DEFAULT 0,
        last_hash text NOT NULL DEFAULT ''
      );
      INSERT INTO audit_chain_head (id) VALUES (1);

      CREATE FUNCTION audit_event_hash(prev text, e audit_events) RETURNS text LANGUAGE sql STABLE AS $fn$
        SELECT encode(sha256(convert_to(concat_ws('|',
          prev, e.id, e.seq::text, e.actor, e.actor_type, e.action, e.resource_type, e.resource_id, e.event_category,
          e.details::text, to_char(e."timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')), 'UTF8')), 'hex')
      $fn$;

      CREATE FUNCTION audit_events_chain() RETURNS trigger LANGUAGE plpgsql AS $fn$
      DECLARE head audit_chain_head;
      BEGIN
        SELECT * INTO head FROM audit_chain_head WHERE id = 1 FOR UPDATE;
        NEW.seq := head.last_seq + 1;
        NEW.prev_hash := head.last_hash;
        NEW.row_hash := audit_event_hash(head.last_hash, NEW);
        UPDATE audit_chain_head SET last_seq = NEW.seq, last_hash = NEW.row_hash WHERE id = 1;
        RETURN NEW;
      END
      $fn$;
      CREATE TRIGGER trg_audit_events_chain BEFORE INSERT ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_events_chain();

      CREATE FUNCTION audit_events_reject_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
      END
      $fn$;
      -- Walks the chain in order and returns the first row whose link or hash does not match (none: intact).
      CREATE FUNCTION audit_events_verify_chain()
        RETURNS TABLE (rows_checked bigint, broken_seq bigint, broken_id text, reason text) LANGUAGE plpgsql STABLE AS $fn$
      DECLARE
        e audit_events;
        expected_prev text := '';
        expected_seq bigint := 1;
        n bigint := 0;
      BEGIN
        FOR e IN SELECT * FROM audit_events ORDER BY seq LOOP
          n := n + 1;
          IF e.seq <> expected_seq THEN
            RETURN QUERY SELECT n, e.seq, e.id, format('sequence gap: expected %s', expected_seq); RETURN;
          END IF;
          IF e.prev_hash <> expected_prev THEN
            RETURN QUERY SELECT n, e.seq, e.id, 'prev_hash does not match the previous row'::text; RETURN;
          END IF;
          IF e.row_hash <> audit_event_hash(e.prev_hash, e) THEN
            RETURN QUERY SELECT n, e.seq, e.id, 'row_hash does not match the row content'::text; RETURN;
          END IF;
          expected_prev := e.row_hash;
          expected_seq := e.seq + 1;
        END LOOP;
        IF (SELECT last_hash FROM audit_chain_head WHERE id = 1) <> expected_prev THEN
          RETURN QUERY SELECT n, NULL::bigint, NULL::text, 'chain head does not match the last row'::text; RETURN;
        END IF;
        RETURN QUERY SELECT n, NULL::bigint, NULL::text, NULL::text;
      END
      $fn$;

      CREATE TRIGGER trg_audit_events_worm BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_events_reject_change();
      CREATE TRIGGER trg_audit_events_no_truncate BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION audit_events_reject_change();
    `);

    // Every certificate needs a renewal policy; this one is the default when a client names none.
    await q.query(`
      INSERT INTO renewal_policies (id, name, renewal_window_days) VALUES ('rp-default', 'Default (30 days)', 30);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE IF EXISTS audit_events, audit_chain_head, api_keys, notification_events, policy_violations, policy_rules,
        jobs, certificate_target_mappings, deployment_targets, certificate_versions, managed_certificates, agents, issuers,
        renewal_policies, certificate_profiles, owners, teams CASCADE;
      DROP FUNCTION IF EXISTS audit_events_verify_chain, audit_events_chain, audit_events_reject_change, audit_event_hash, managed_certificates_search_text;
    `);
  }
}
