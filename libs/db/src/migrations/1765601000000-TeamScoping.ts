import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Team scoping (issue 23, scoped grants): the rows a team-scoped caller may see.
 * - `deployment_targets.team_id`: a target's owning team (NULL = none; a scoped caller then sees it only through
 *   a certificate of its scope mapped to it). RESTRICT like certificates: deleting a team never orphans silently.
 * - `audit_events.team_id`: the team of the resource an event is about, filled by the database when the row is
 *   written (certificates, targets, jobs and notifications through their certificate, teams themselves), so every
 *   writer (api, orchestrator, notifier) records it. It is not part of the hash chain (the chain's canonical text is
 *   unchanged, so existing rows still verify); the append-only trigger keeps it from being changed afterwards.
 *   Rows written before this migration keep NULL: only unscoped audit readers see them.
 * - Indexes for the scoped first pages: certificates and audit rows of one team in list order.
 */
export class TeamScoping1765601000000 implements MigrationInterface {
  name = 'TeamScoping1765601000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE deployment_targets ADD COLUMN team_id text REFERENCES teams(id) ON DELETE RESTRICT;
      CREATE INDEX idx_deployment_targets_team_id ON deployment_targets (team_id) WHERE team_id IS NOT NULL;

      CREATE INDEX idx_managed_certificates_team_created ON managed_certificates (team_id, created_at, id);

      ALTER TABLE audit_events ADD COLUMN team_id text;
      CREATE INDEX idx_audit_events_team_seq ON audit_events (team_id, seq) WHERE team_id IS NOT NULL;

      CREATE FUNCTION audit_events_team() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        IF NEW.team_id IS NULL AND NEW.resource_id <> '' THEN
          NEW.team_id := CASE NEW.resource_type
            WHEN 'certificate' THEN (SELECT team_id FROM managed_certificates WHERE id = NEW.resource_id)
            WHEN 'managed_certificates' THEN (SELECT team_id FROM managed_certificates WHERE id = NEW.resource_id)
            WHEN 'target' THEN (SELECT team_id FROM deployment_targets WHERE id = NEW.resource_id)
            WHEN 'deployment_targets' THEN (SELECT team_id FROM deployment_targets WHERE id = NEW.resource_id)
            WHEN 'job' THEN (SELECT c.team_id FROM jobs j JOIN managed_certificates c ON c.id = j.certificate_id WHERE j.id = NEW.resource_id)
            WHEN 'notification' THEN (SELECT c.team_id FROM notification_events n JOIN managed_certificates c ON c.id = n.certificate_id WHERE n.id = NEW.resource_id)
            WHEN 'teams' THEN (SELECT id FROM teams WHERE id = NEW.resource_id)
          END;
        END IF;
        RETURN NEW;
      END
      $fn$;
      -- Before the insert (the commit-time seal hashes the same columns as before, team_id not among them).
      CREATE TRIGGER trg_audit_events_a_team BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_team();
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TRIGGER IF EXISTS trg_audit_events_a_team ON audit_events;
      DROP FUNCTION IF EXISTS audit_events_team();
      DROP INDEX IF EXISTS idx_audit_events_team_seq;
      ALTER TABLE audit_events DROP COLUMN IF EXISTS team_id;
      DROP INDEX IF EXISTS idx_managed_certificates_team_created;
      DROP INDEX IF EXISTS idx_deployment_targets_team_id;
      ALTER TABLE deployment_targets DROP COLUMN IF EXISTS team_id;
    `);
  }
}
