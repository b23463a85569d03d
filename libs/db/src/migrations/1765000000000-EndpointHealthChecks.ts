import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Continuous TLS health checks (certctl's endpoint_health_checks / endpoint_health_history, §10.6) plus what we
 * add: the SNI name, the deployment target a check watches, the per-check timeout, `next_check_at` (the claim
 * that makes every check probed once per interval across scanner replicas) and `auto_created`.
 *
 * A trigger on `jobs` keeps checks in step with deployments, whichever path recorded them (the orchestrator's
 * grouped commit, an agent's status report, POST /jobs/{id}/verify):
 * - a Deployment whose verification succeeds creates a check of the target's post_deploy_verify endpoint
 *   (unless health_check_settings.auto_create is false, which the scanner writes from CERTCTL_HEALTH_CHECK_AUTO_CREATE);
 * - a Deployment that completes moves the expected fingerprint of the checks of that certificate and target to
 *   what was deployed, so a host that keeps serving the old certificate becomes cert_mismatch.
 */
export class EndpointHealthChecks1765000000000 implements MigrationInterface {
  name = 'EndpointHealthChecks1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE endpoint_health_checks (
        id text PRIMARY KEY,
        endpoint text NOT NULL,
        server_name text NOT NULL DEFAULT '',
        certificate_id text REFERENCES managed_certificates(id) ON DELETE SET NULL,
        target_id text REFERENCES deployment_targets(id) ON DELETE SET NULL,
        network_scan_target_id text REFERENCES network_scan_targets(id) ON DELETE SET NULL,
        expected_fingerprint text NOT NULL DEFAULT '',
        observed_fingerprint text NOT NULL DEFAULT '',
        status text NOT NULL DEFAULT 'unknown' CHECK (status IN ('healthy', 'degraded', 'down', 'cert_mismatch', 'unknown')),
        consecutive_failures integer NOT NULL DEFAULT 0,
        response_time_ms integer NOT NULL DEFAULT 0,
        tls_version text NOT NULL DEFAULT '',
        cipher_suite text NOT NULL DEFAULT '',
        cert_subject text NOT NULL DEFAULT '',
        cert_issuer text NOT NULL DEFAULT '',
        cert_expiry timestamptz,
        last_checked_at timestamptz,
        last_success_at timestamptz,
        last_failure_at timestamptz,
        last_transition_at timestamptz,
        failure_reason text NOT NULL DEFAULT '',
        degraded_threshold integer NOT NULL DEFAULT 2,
        down_threshold integer NOT NULL DEFAULT 5,
        check_interval_seconds integer NOT NULL DEFAULT 300,
        timeout_ms integer NOT NULL DEFAULT 5000,
        enabled boolean NOT NULL DEFAULT true,
        acknowledged boolean NOT NULL DEFAULT false,
        acknowledged_by text,
        acknowledged_at timestamptz,
        auto_created boolean NOT NULL DEFAULT false,
        next_check_at timestamptz NOT NULL DEFAULT now(),
        -- The claim (its next_check_at) a probe job has started: a job BullMQ hands out again (a stalled worker)
        -- finds its checks already taken and does not probe them twice in one interval.
        probing_for timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_endpoint_health_checks_endpoint UNIQUE (endpoint, server_name),
        CONSTRAINT ck_endpoint_health_checks_thresholds CHECK (degraded_threshold >= 1 AND down_threshold >= degraded_threshold),
        CONSTRAINT ck_endpoint_health_checks_interval CHECK (check_interval_seconds >= 1)
      );
      CREATE INDEX idx_endpoint_health_checks_due ON endpoint_health_checks (next_check_at) WHERE enabled;
      CREATE INDEX idx_endpoint_health_checks_status ON endpoint_health_checks (status);
      CREATE INDEX idx_endpoint_health_checks_deployment ON endpoint_health_checks (certificate_id, target_id);

      CREATE TABLE endpoint_health_history (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        health_check_id text NOT NULL REFERENCES endpoint_health_checks(id) ON DELETE CASCADE,
        status text NOT NULL,
        response_time_ms integer NOT NULL DEFAULT 0,
        fingerprint text NOT NULL DEFAULT '',
        failure_reason text NOT NULL DEFAULT '',
        -- The scanner process that ran the probe.
        probed_by text NOT NULL DEFAULT '',
        checked_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX idx_endpoint_health_history_check ON endpoint_health_history (health_check_id, checked_at DESC);
      CREATE INDEX idx_endpoint_health_history_checked_at ON endpoint_health_history (checked_at);

      -- One row, written by the scanner at boot from its configuration; read by the trigger below.
      CREATE TABLE health_check_settings (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        auto_create boolean NOT NULL DEFAULT true,
        default_interval_seconds integer NOT NULL DEFAULT 300,
        default_timeout_ms integer NOT NULL DEFAULT 5000,
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE FUNCTION health_checks_follow_deployment() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        newest text;
        deployed text;
        target_config jsonb;
        verify_endpoint text;
        settings health_check_settings;
        check_id text;
        inserted boolean;
      BEGIN
        SELECT fingerprint_sha256 INTO newest FROM certificate_versions
         WHERE certificate_id = NEW.certificate_id ORDER BY created_at DESC, id DESC LIMIT 1;
        deployed := COALESCE(CASE WHEN NEW.verification_status = 'success' THEN NULLIF(lower(NEW.verification_fingerprint), '') END, newest);
        IF deployed IS NULL THEN
          RETURN NULL;
        END IF;

        IF NEW.status = 'Completed' AND OLD.status IS DISTINCT FROM 'Completed' THEN
          UPDATE endpoint_health_checks SET expected_fingerprint = deployed, updated_at = now()
           WHERE certificate_id = NEW.certificate_id AND target_id = NEW.target_id AND expected_fingerprint <> deployed;
        END IF;

        IF NEW.verification_status = 'success' AND OLD.verification_status IS DISTINCT FROM 'success' THEN
          SELECT * INTO settings FROM health_check_settings LIMIT 1;
          IF NOT COALESCE(settings.auto_create, true) THEN
            RETURN NULL;
          END IF;
          SELECT t.config INTO target_config FROM deployment_targets t WHERE t.id = NEW.target_id;
          verify_endpoint := target_config #>> '{post_deploy_verify,endpoint}';
          IF verify_endpoint IS NULL OR verify_endpoint = '' OR COALESCE(target_config #>> '{post_deploy_verify,enabled}', 'true') = 'false' THEN
            RETURN NULL;
          END IF;
          check_id := 'hc-' || substr(md5(random()::text || clock_timestamp()::text || NEW.id), 1, 22);
          INSERT INTO endpoint_health_checks AS c (id, endpoint, server_name, certificate_id, target_id, expected_fingerprint,
                 check_interval_seconds, timeout_ms, auto_created)
          VALUES (check_id, verify_endpoint, COALESCE(target_config #>> '{post_deploy_verify,server_name}', ''), NEW.certificate_id, NEW.target_id,
                  deployed, COALESCE(settings.default_interval_seconds, 300), COALESCE(settings.default_timeout_ms, 5000), true)
          ON CONFLICT (endpoint, server_name) DO UPDATE
             SET certificate_id = COALESCE(c.certificate_id, EXCLUDED.certificate_id),
                 target_id = COALESCE(c.target_id, EXCLUDED.target_id),
                 expected_fingerprint = EXCLUDED.expected_fingerprint, updated_at = now()
           WHERE c.certificate_id IS NULL OR c.certificate_id = EXCLUDED.certificate_id
          RETURNING c.id, (c.xmax = 0) INTO check_id, inserted;
          -- xmax = 0 only for a freshly inserted row: the creation is audited once.
          IF inserted THEN
            INSERT INTO audit_events (id, actor, actor_type, action, resource_type, resource_id, event_category, details)
            VALUES ('audit-' || substr(md5(random()::text || clock_timestamp()::text || check_id), 1, 22), 'system', 'System',
                    'health_check_created', 'endpoint_health_checks', check_id, 'config',
                    jsonb_build_object('endpoint', verify_endpoint, 'certificate_id', NEW.certificate_id, 'target_id', NEW.target_id,
                                       'job_id', NEW.id, 'auto_created', true));
          END IF;
        END IF;
        RETURN NULL;
      END $$;

      CREATE TRIGGER trg_health_checks_follow_deployment
        AFTER UPDATE OF status, verification_status ON jobs
        FOR EACH ROW
        WHEN (NEW.type = 'Deployment' AND NEW.target_id IS NOT NULL AND (
              (NEW.status = 'Completed' AND OLD.status IS DISTINCT FROM 'Completed') OR
              (NEW.verification_status = 'success' AND OLD.verification_status IS DISTINCT FROM 'success')))
        EXECUTE FUNCTION health_checks_follow_deployment();
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TRIGGER IF EXISTS trg_health_checks_follow_deployment ON jobs;
      DROP FUNCTION IF EXISTS health_checks_follow_deployment();
      DROP TABLE IF EXISTS health_check_settings;
      DROP TABLE IF EXISTS endpoint_health_history;
      DROP TABLE IF EXISTS endpoint_health_checks;
    `);
  }
}
