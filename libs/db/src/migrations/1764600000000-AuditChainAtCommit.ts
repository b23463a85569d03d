import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Audit rows are chained when their transaction commits, not when they are inserted. Chaining at insert took
 * the single chain-head lock for the rest of the writer's transaction, so every transaction that wrote an
 * audit row (nearly all of them) queued behind the others. Now a deferred constraint trigger seals each row
 * (seq, prev_hash, row_hash) at commit, holding the lock only for the commit itself; the chain follows commit
 * order. The append-only rule still refuses every UPDATE and DELETE, except that one sealing of an unsealed row.
 */
export class AuditChainAtCommit1764600000000 implements MigrationInterface {
  name = 'AuditChainAtCommit1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TRIGGER trg_audit_events_chain ON audit_events;
      ALTER TABLE audit_events ALTER COLUMN seq DROP NOT NULL, ALTER COLUMN seq DROP DEFAULT;

      CREATE FUNCTION audit_events_seal() RETURNS trigger LANGUAGE plpgsql AS $fn$
      DECLARE
        head audit_chain_head;
        e audit_events;
      BEGIN
        SELECT * INTO head FROM audit_chain_head WHERE id = 1 FOR UPDATE;
        SELECT * INTO e FROM audit_events WHERE id = NEW.id;
        e.seq := head.last_seq + 1;
        e.prev_hash := head.last_hash;
        e.row_hash := audit_event_hash(head.last_hash, e);
        UPDATE audit_events SET seq = e.seq, prev_hash = e.prev_hash, row_hash = e.row_hash WHERE id = NEW.id;
        UPDATE audit_chain_head SET last_seq = e.seq, last_hash = e.row_hash WHERE id = 1;
        RETURN NULL;
      END
      $fn$;
      CREATE CONSTRAINT TRIGGER trg_audit_events_seal AFTER INSERT ON audit_events
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_events_seal();

      CREATE OR REPLACE FUNCTION audit_events_reject_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        -- The one permitted change: sealing a row that has not been sealed, touching nothing else.
        IF TG_OP = 'UPDATE' AND OLD.row_hash = '' AND NEW.row_hash <> ''
           AND (NEW.id, NEW.actor, NEW.actor_type, NEW.action, NEW.resource_type, NEW.resource_id, NEW.event_category,
                NEW.details, NEW."timestamp") IS NOT DISTINCT FROM
               (OLD.id, OLD.actor, OLD.actor_type, OLD.action, OLD.resource_type, OLD.resource_id, OLD.event_category,
                OLD.details, OLD."timestamp") THEN
          RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
      END
      $fn$;

      -- A row left unsealed (none should exist) is a break too.
      CREATE OR REPLACE FUNCTION audit_events_verify_chain()
        RETURNS TABLE (rows_checked bigint, broken_seq bigint, broken_id text, reason text) LANGUAGE plpgsql STABLE AS $fn$
      DECLARE
        e audit_events;
        expected_prev text := '';
        expected_seq bigint := 1;
        n bigint := 0;
      BEGIN
        FOR e IN SELECT * FROM audit_events ORDER BY seq NULLS LAST LOOP
          n := n + 1;
          IF e.seq IS NULL OR e.seq <> expected_seq THEN
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
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TRIGGER IF EXISTS trg_audit_events_seal ON audit_events;
      DROP FUNCTION IF EXISTS audit_events_seal();
      CREATE OR REPLACE FUNCTION audit_events_reject_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
      END
      $fn$;
      ALTER TABLE audit_events ALTER COLUMN seq SET DEFAULT 0;
      ALTER TABLE audit_events ALTER COLUMN seq SET NOT NULL;
      CREATE TRIGGER trg_audit_events_chain BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_chain();
    `);
  }
}
