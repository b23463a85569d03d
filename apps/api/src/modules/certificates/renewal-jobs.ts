import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { newId, OPEN_JOB_STATUSES } from '@certctl/db';
import type { Principal } from '../../common/auth/principal';

/** What happened to one certificate asked to renew. */
export interface RenewalOutcome {
  certificate_id: string;
  /** `opened`: a job was created; `not_renewable`: archived or revoked; `in_progress`: an open job, and no force. */
  result: 'opened' | 'not_renewable' | 'in_progress';
  certificate_status: string;
  /** The certificate's open Issuance/Renewal jobs when it was asked (oldest first). */
  open_jobs: Array<{ id: string; type: string; status: string }>;
  job?: { id: string; type: 'Issuance' | 'Renewal'; status: 'Pending' | 'AwaitingApproval'; max_attempts: number };
  /** Open jobs a forced renewal cancelled. */
  cancelled: string[];
}

interface Candidate {
  id: string;
  status: string;
  open_jobs: Array<{ id: string; type: string; status: string }>;
  has_version: boolean;
  max_attempts: number;
  requires_approval: boolean;
}

/**
 * The rules of a renew request, for one certificate (POST /certificates/{id}/renew) or many (bulk-renew), set-based:
 * archived and revoked certificates are not renewable; one with an open job is left alone unless `force`, which
 * cancels that job; the new job is an Issuance before the first version and a Renewal after, AwaitingApproval when
 * the certificate's profile (its own, else its renewal policy's) requires approval, with the policy's retry budget;
 * the certificate goes RenewalInProgress; each job opened gets a `renewal_triggered` audit row. The caller holds the
 * certificates' row locks (taken in id order), so two requests cannot both open a job for one certificate.
 */
@Injectable()
export class RenewalJobs {
  async open(
    tx: EntityManager, actor: Principal, lockedIds: string[], options: { force: boolean; bulk: boolean },
  ): Promise<RenewalOutcome[]> {
    if (!lockedIds.length) return [];
    // Read after the locks are held, so a job opened by a concurrent request that committed first is seen.
    const candidates: Candidate[] = await tx.query(
      `SELECT c.id, c.status,
              COALESCE((SELECT json_agg(json_build_object('id', j.id, 'type', j.type, 'status', j.status) ORDER BY j.created_at, j.id)
                          FROM jobs j WHERE j.certificate_id = c.id AND j.type IN ('Issuance', 'Renewal') AND j.status = ANY($2::text[])),
                       '[]'::json) AS open_jobs,
              EXISTS (SELECT 1 FROM certificate_versions v WHERE v.certificate_id = c.id) AS has_version,
              COALESCE(p.max_retries, 2) + 1 AS max_attempts,
              COALESCE(pr.requires_approval, false) AS requires_approval
         FROM managed_certificates c
         LEFT JOIN renewal_policies p ON p.id = c.renewal_policy_id
         LEFT JOIN certificate_profiles pr ON pr.id = COALESCE(c.certificate_profile_id, p.certificate_profile_id)
        WHERE c.id = ANY($1::text[]) ORDER BY c.id`,
      [lockedIds, [...OPEN_JOB_STATUSES]],
    );
    const outcomes: RenewalOutcome[] = candidates.map((c) => {
      const base = { certificate_id: c.id, certificate_status: c.status, open_jobs: c.open_jobs, cancelled: [] as string[] };
      if (c.status === 'Archived' || c.status === 'Revoked') return { ...base, result: 'not_renewable' };
      if (c.open_jobs.length && !options.force) return { ...base, result: 'in_progress' };
      return {
        ...base,
        result: 'opened',
        cancelled: c.open_jobs.map((j) => j.id),
        job: {
          id: newId('job'), type: c.has_version ? 'Renewal' : 'Issuance', status: c.requires_approval ? 'AwaitingApproval' : 'Pending',
          max_attempts: c.max_attempts,
        },
      };
    });
    const opened = outcomes.filter((o) => o.job);
    if (!opened.length) return outcomes;
    const cancelled = opened.flatMap((o) => o.cancelled);
    if (cancelled.length) {
      await tx.query(
        `UPDATE jobs SET status = 'Cancelled', completed_at = now(), last_error = 'superseded by a forced renewal', updated_at = now()
          WHERE id = ANY($1::text[])`,
        [cancelled],
      );
    }
    // The jobs, the certificates' status and the audit rows in one statement.
    await tx.query(
      `WITH new_jobs AS (
         INSERT INTO jobs (id, type, certificate_id, status, max_attempts, requested_by)
         SELECT *, $6::text FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[])
         RETURNING certificate_id
       ), renewing AS (
         UPDATE managed_certificates c SET status = 'RenewalInProgress', updated_at = now() FROM new_jobs n WHERE c.id = n.certificate_id
         RETURNING c.id
       )
       INSERT INTO audit_events (id, actor, actor_type, action, resource_type, resource_id, event_category, details)
       SELECT a.id, $6::text, $7::text, 'renewal_triggered', 'certificate', a.certificate_id, 'cert_lifecycle', a.details::jsonb
         FROM unnest($8::text[], $3::text[], $9::text[]) AS a(id, certificate_id, details)`,
      [
        opened.map((o) => o.job!.id), opened.map((o) => o.job!.type), opened.map((o) => o.certificate_id), opened.map((o) => o.job!.status),
        opened.map((o) => o.job!.max_attempts), actor.actor, actor.actor_type, opened.map(() => newId('audit')),
        opened.map((o) => JSON.stringify({
          job_id: o.job!.id, job_status: o.job!.status, force: options.force, cancelled: o.cancelled, ...(options.bulk ? { bulk: true } : {}),
        })),
      ],
    );
    return outcomes;
  }
}
