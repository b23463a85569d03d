import { MigrationInterface, QueryRunner } from 'typeorm';

/** The group role the apps connect as (directly, or through a login role that is a member of it). */
export const APP_DATABASE_ROLE = 'certctl_app';

/**
 * Closes two ways of rewriting the audit trail:
 *
 * - Keyed checkpoints. The hash chain is unkeyed: whoever can write the table (a superuser who disables the
 *   triggers) can edit a row and recompute every later hash. audit_checkpoints holds HMAC-SHA256 signatures of the
 *   chain at a seq, computed by the api with CERTCTL_AUDIT_HMAC_KEY, a key the database never sees; verify checks
 *   every checkpoint against the row at its seq, so a re-sealed edit before a checkpoint is found.
 * - A least-privilege role for the apps. `certctl_app` may read and write the inventory but only INSERT and SELECT
 *   the audit tables (no UPDATE, DELETE or TRUNCATE), and cannot disable triggers (not the owner). The seal that
 *   numbers and hashes each row at commit runs with its owner's rights (SECURITY DEFINER), so it still works
 *   when the inserting role may not update. Migrations run as the owner; the role is created here when missing
 *   (deployments create a login role for it, see docker-compose.yml and k8s/).
 */
export class AuditCheckpointsAndAppRole1765400500000 implements MigrationInterface {
  name = 'AuditCheckpointsAndAppRole1765400500000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_checkpoints (
        seq bigint PRIMARY KEY,
        row_hash text NOT NULL,
        mac text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TRIGGER trg_audit_checkpoints_worm BEFORE UPDATE OR DELETE ON audit_checkpoints
        FOR EACH ROW EXECUTE FUNCTION audit_events_reject_change();
      CREATE TRIGGER trg_audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
        FOR EACH STATEMENT EXECUTE FUNCTION audit_events_reject_change();

      ALTER FUNCTION audit_events_seal() SECURITY DEFINER SET search_path FROM CURRENT;
    `);
    await q.query(`
      DO $do$
      DECLARE schema_name text := current_schema();
      BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_DATABASE_ROLE}') THEN
          BEGIN
            CREATE ROLE ${APP_DATABASE_ROLE} NOLOGIN;
          EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL; -- created meanwhile by a migration of another database
            WHEN insufficient_privilege THEN
              RAISE NOTICE 'role ${APP_DATABASE_ROLE} does not exist and this role may not create it: grants skipped';
              RETURN;
          END;
        END IF;
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO ${APP_DATABASE_ROLE}', schema_name);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO ${APP_DATABASE_ROLE}', schema_name);
        EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO ${APP_DATABASE_ROLE}', schema_name);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${APP_DATABASE_ROLE}', schema_name);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO ${APP_DATABASE_ROLE}', schema_name);
        -- The audit trail is append-only for the apps; the chain head moves only through the seal (SECURITY DEFINER).
        REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_checkpoints, audit_chain_head FROM ${APP_DATABASE_ROLE};
        REVOKE INSERT ON audit_chain_head FROM ${APP_DATABASE_ROLE};
        -- Which migrations ran is the owner's record.
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON typeorm_migrations FROM ${APP_DATABASE_ROLE};
      END
      $do$;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DO $do$
      DECLARE schema_name text := current_schema();
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_DATABASE_ROLE}') THEN
          EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE ALL ON TABLES FROM ${APP_DATABASE_ROLE}', schema_name);
          EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE ALL ON SEQUENCES FROM ${APP_DATABASE_ROLE}', schema_name);
          EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM ${APP_DATABASE_ROLE}', schema_name);
          EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM ${APP_DATABASE_ROLE}', schema_name);
          EXECUTE format('REVOKE ALL ON SCHEMA %I FROM ${APP_DATABASE_ROLE}', schema_name);
        END IF;
      END
      $do$;
      ALTER FUNCTION audit_events_seal() SECURITY INVOKER RESET search_path;
      DROP TABLE audit_checkpoints;
    `);
  }
}
