import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Four-eyes approval requests (certctl-spec §1.6 `issuance_approval_requests`, its 027 and 033 shape):
 * - `cert_issuance`: one per job held in AwaitingApproval. A trigger opens it whenever a job enters that status,
 *   whichever path made the job (renew, bulk renew, the renewal sweep), and settles it when the job leaves it:
 *   Pending = approved, Cancelled = rejected (a superseded or cancelled job too, by `system`), Failed = expired.
 *   The job stays the one source of truth for the issuance; the request is its four-eyes record.
 * - `profile_edit`: a PUT to a profile whose `edits_require_approval` is on; `payload` holds the edit, applied only
 *   when someone other than the requester approves it.
 * CHECKs tie the decision fields to the state; one pending request per job.
 */
export class ApprovalRequests1765603000000 implements MigrationInterface {
  name = 'ApprovalRequests1765603000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE certificate_profiles ADD COLUMN edits_require_approval boolean NOT NULL DEFAULT false;
      CREATE TABLE issuance_approval_requests (
        id text PRIMARY KEY,
        approval_kind text NOT NULL DEFAULT 'cert_issuance' CHECK (approval_kind IN ('cert_issuance', 'profile_edit')),
        certificate_id text REFERENCES managed_certificates(id) ON DELETE CASCADE,
        job_id text REFERENCES jobs(id) ON DELETE CASCADE,
        profile_id text REFERENCES certificate_profiles(id) ON DELETE CASCADE,
        requested_by text NOT NULL,
        state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'rejected', 'expired')),
        decided_by text,
        decided_at timestamptz,
        decision_note text,
        payload jsonb,
        metadata jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT approval_decision_matches_state CHECK (
          (state = 'pending' AND decided_by IS NULL AND decided_at IS NULL)
          OR (state <> 'pending' AND decided_by IS NOT NULL AND decided_at IS NOT NULL)),
        CONSTRAINT approval_kind_fields CHECK (
          (approval_kind = 'cert_issuance' AND (job_id IS NOT NULL OR state <> 'pending'))
          OR (approval_kind = 'profile_edit' AND profile_id IS NOT NULL AND payload IS NOT NULL))
      );
      CREATE UNIQUE INDEX issuance_approval_one_pending_per_job ON issuance_approval_requests (job_id) WHERE state = 'pending';
      CREATE INDEX issuance_approval_pending_idx ON issuance_approval_requests (created_at, id) WHERE state = 'pending';
      CREATE INDEX issuance_approval_list_idx ON issuance_approval_requests (created_at DESC, id DESC);

      CREATE FUNCTION issuance_approval_track_job() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.status = 'AwaitingApproval' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'AwaitingApproval') THEN
          INSERT INTO issuance_approval_requests (id, approval_kind, certificate_id, job_id, profile_id, requested_by, metadata)
          SELECT 'apr-' || substr(md5(random()::text || clock_timestamp()::text || NEW.id), 1, 22), 'cert_issuance', NEW.certificate_id, NEW.id,
                 pr.id, NEW.requested_by, jsonb_build_object('job_type', NEW.type)
            FROM managed_certificates c
            LEFT JOIN renewal_policies p ON p.id = c.renewal_policy_id
            LEFT JOIN certificate_profiles pr ON pr.id = COALESCE(c.certificate_profile_id, p.certificate_profile_id)
           WHERE c.id = NEW.certificate_id;
        ELSIF TG_OP = 'UPDATE' AND OLD.status = 'AwaitingApproval' AND NEW.status <> 'AwaitingApproval' THEN
          UPDATE issuance_approval_requests
             SET state = CASE WHEN NEW.status = 'Cancelled' THEN 'rejected' WHEN NEW.status = 'Failed' THEN 'expired' ELSE 'approved' END,
                 decided_by = COALESCE(NEW.decided_by, 'system'),
                 decided_at = now(),
                 decision_note = COALESCE(NEW.decision_note, NEW.last_error),
                 updated_at = now()
           WHERE job_id = NEW.id AND state = 'pending';
        END IF;
        RETURN NULL;
      END $$;
      CREATE TRIGGER jobs_track_approval AFTER INSERT OR UPDATE OF status ON jobs
        FOR EACH ROW EXECUTE FUNCTION issuance_approval_track_job();
    `);
    // Jobs already waiting get their request, so the queue shows them too.
    await q.query(`
      INSERT INTO issuance_approval_requests (id, approval_kind, certificate_id, job_id, profile_id, requested_by, created_at, metadata)
      SELECT 'apr-' || substr(md5(j.id), 1, 22), 'cert_issuance', j.certificate_id, j.id,
             pr.id, j.requested_by, j.created_at, jsonb_build_object('job_type', j.type)
        FROM jobs j JOIN managed_certificates c ON c.id = j.certificate_id
        LEFT JOIN renewal_policies p ON p.id = c.renewal_policy_id
        LEFT JOIN certificate_profiles pr ON pr.id = COALESCE(c.certificate_profile_id, p.certificate_profile_id)
       WHERE j.status = 'AwaitingApproval';
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TRIGGER IF EXISTS jobs_track_approval ON jobs;
      DROP FUNCTION IF EXISTS issuance_approval_track_job();
      DROP TABLE IF EXISTS issuance_approval_requests;
      ALTER TABLE certificate_profiles DROP COLUMN IF EXISTS edits_require_approval;
    `);
  }
}
